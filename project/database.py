"""The `default` database, from DATABASE_URL and the DATABASE_* environment variables.

SQLite (the embedded default) keeps Django's persistent connection per thread.

PostgreSQL gets a pool of connections per process (Django's `pool` option, psycopg_pool). A
gunicorn worker runs up to GUNICORN_THREADS requests at once, and up to
GUNICORN_WAITING_THREADS more threads may be sending a body to a slow client; with one persistent
connection per thread, a worker could hold well over a hundred connections, and a few workers
exhausted PostgreSQL's `max_connections` ("sorry, too many clients already") under load. With the
pool, a process holds at most DATABASE_POOL_SIZE connections whatever its thread count: a request
takes one for its queries, gives it back before its body is sent (downloads/dbrelease.py), and
waits at most DATABASE_POOL_TIMEOUT for one when all are busy; past that, and when PostgreSQL
cannot be reached within DATABASE_CONNECT_TIMEOUT, the user gets a 503 page
(downloads/dbunavailable.py). The budget to plan for: hosts x workers x DATABASE_POOL_SIZE, plus
management commands, under PostgreSQL's max_connections.

Web processes (project/wsgi.py, project/asgi.py) give every statement a deadline,
DATABASE_STATEMENT_TIMEOUT (30 s unless set): a request stuck behind a lock ends with the 503 page
instead of holding its thread and connection. Management commands keep none unless it is set
(migrate may build an index over millions of rows).

DATABASE_POOL_SIZE=0 turns the pool off: Django's persistent connection per thread, kept for
DATABASE_CONN_MAX_AGE seconds (the pool and persistent connections exclude each other).
"""

from pathlib import Path
from typing import Any

import dj_database_url

from project.env import env_float, env_int, env_str

# The pool reconnects in the background with a growing delay (1, 2, 4 ... s) and, by default,
# for five minutes: after a long outage the app would stay on its 503 page for half a minute or
# more after PostgreSQL was back. Giving up after a few seconds lets the next request start a new
# attempt at once: the app is back within about this long of the database.
POOL_RECONNECT_SECONDS = 5.0
# A request's statements run for at most this long in web processes, unless set otherwise.
WEB_STATEMENT_TIMEOUT_S = 30
# Each working thread (GUNICORN_THREADS) may need a connection at once, the download log's writer
# one more, and a streamed CSV export keeps one while its client reads.
POOL_HEADROOM = 2


def default_pool_size() -> int:
    return env_int("GUNICORN_THREADS", 8, minimum=1) + POOL_HEADROOM


def database_settings(base_dir: Path) -> dict[str, Any]:
    settings: dict[str, Any] = dict(
        dj_database_url.parse(
            env_str("DATABASE_URL", f"sqlite:///{base_dir / 'db.sqlite3'}"),
            conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 600, minimum=0),
            conn_health_checks=True,
        )
    )
    options: dict[str, Any] = dict(settings.get("OPTIONS") or {})
    if settings["ENGINE"] == "django.db.backends.sqlite3":
        # WAL lets the download log be written while other requests read.
        options.update(
            init_command="PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            transaction_mode="IMMEDIATE",
        )
    elif settings["ENGINE"] == "django.db.backends.postgresql":
        # libpq waits for an unreachable server as long as TCP does (minutes) unless told.
        options["connect_timeout"] = env_int("DATABASE_CONNECT_TIMEOUT", 5, minimum=2)
        statement_timeout = env_float("DATABASE_STATEMENT_TIMEOUT", 0.0, minimum=0)
        if statement_timeout:
            # Server-side, so a statement stuck behind a lock ends too (OperationalError: 503).
            setting = f"-c statement_timeout={round(statement_timeout * 1000)}"
            options["options"] = " ".join(filter(None, [options.get("options"), setting]))
        pool_size = env_int("DATABASE_POOL_SIZE", default_pool_size(), minimum=0)
        if pool_size:
            options["pool"] = {
                "min_size": min(2, pool_size),
                "max_size": pool_size,
                "timeout": env_float("DATABASE_POOL_TIMEOUT", 5.0, minimum=0.1),
                "reconnect_timeout": POOL_RECONNECT_SECONDS,
            }
            settings["CONN_MAX_AGE"] = 0
    settings["OPTIONS"] = options
    return settings
