"""A throwaway place for one run: files on tmpfs, a database, settings for every process.

SQLite by default, in a file on disk (as a deployment would have it). With DATABASE_URL set to a
PostgreSQL server, the run creates its own database there and drops it at the end: the
benchmark never writes into an existing database. A kept workspace (`create(keep_dir=...)`,
bench-admin's --keep) leaves its database behind for the next run: the SQLite file in
`keep_dir`, or the PostgreSQL database whose name `keep_dir/postgres-database` records.
"""

import os
import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from harness.env import app_env

TMPFS = Path("/dev/shm")


@dataclass
class Workspace:
    # The files every row serves (tmpfs when there is one: no disk in the measurement).
    root: Path
    # The SQLite database and the servers' logs and configurations.
    data_dir: Path
    database_url: str
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(50))
    postgres_admin_url: str | None = None
    postgres_database: str | None = None
    # More of every app process's environment, chosen by the run (e.g. the list's page size).
    app_extra: dict[str, str] = field(default_factory=dict)
    # A kept workspace's database (and data_dir) outlive the run, for the next one to reuse.
    kept: bool = False

    @property
    def media_root(self) -> Path:
        return self.root / "media"

    @property
    def static_root(self) -> Path:
        return self.root / "static"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    def app_env(self, **extra: str) -> dict[str, str]:
        """The environment of every process that runs the app, the bench's own included."""
        return app_env(
            secret_key=self.secret_key,
            database_url=self.database_url,
            media_root=self.media_root,
            static_root=self.static_root,
            DJANGO_LOG_LEVEL="WARNING",
            **{**self.app_extra, **extra},
        )

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
        if self.kept:
            return
        shutil.rmtree(self.data_dir, ignore_errors=True)
        if self.postgres_admin_url and self.postgres_database:
            _drop_postgres_database(self.postgres_admin_url, self.postgres_database)


def create(keep_dir: Path | None = None) -> Workspace:
    """A new workspace; with `keep_dir`, one whose database stays there (or is found there)."""
    root = Path(tempfile.mkdtemp(prefix="bench-files-", dir=TMPFS if TMPFS.is_dir() else None))
    data_dir = keep_dir or Path(tempfile.mkdtemp(prefix="bench-data-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    for directory in (root / "media", root / "static", data_dir / "logs"):
        directory.mkdir(parents=True, exist_ok=True)
    kept = keep_dir is not None
    given = os.environ.get("DATABASE_URL", "")
    if not given:
        return Workspace(
            root=root,
            data_dir=data_dir,
            database_url=f"sqlite:///{data_dir / 'db.sqlite3'}",
            kept=kept,
        )
    if not given.startswith(("postgres://", "postgresql://")):
        raise SystemExit(f"DATABASE_URL must be a PostgreSQL URL for the benchmark: {given!r}")
    recorded = data_dir / "postgres-database"
    if kept and recorded.is_file():
        name = recorded.read_text().strip()
    else:
        name = f"protected_downloads_bench_{time.strftime('%Y%m%d%H%M%S')}_{os.getpid()}"
        _create_postgres_database(given, name)
        if kept:
            recorded.write_text(name)
    return Workspace(
        root=root,
        data_dir=data_dir,
        database_url=_with_database(given, name),
        postgres_admin_url=given,
        postgres_database=name,
        kept=kept,
    )


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _create_postgres_database(admin_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')  # name made above, not from input


def _drop_postgres_database(admin_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
