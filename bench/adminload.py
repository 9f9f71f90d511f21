"""Rows for `make bench-admin`: a big download log, many stored files and grants, fast.

PostgreSQL: `COPY ... FROM STDIN` fed from generators; SQLite: `executemany` in one transaction.
The download counter's triggers are off while the log is loaded and the counts are rebuilt from
the log afterwards (downloads/logcounts.py), as the migration's backfill does.
"""

import io
import random
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

CHUNK_ROWS = 50_000
STATUSES = [(200, "complete", 80), (206, "complete", 8), (304, "complete", 6), (200, "aborted", 3)]
DENIED_SHARE = 3  # percent of rows: a 404, no file, only the id asked for
PASSWORD = "bench-admin-password"
ADMIN = "bench-admin"
HOLDER = "bench-holder"
HOLDER_GRANTS = 1_000
HOLDER_GROUPS = 20
GROUPS = 400  # the holder's 20 reach ~1,250 files through group grants
USERS = 1_000
CONTENT_TYPES = ["application/pdf", "image/png", "text/plain", "video/mp4", "application/zip"]


@dataclass
class Loaded:
    """What the timer needs to know about the rows it asks for."""

    admin_id: int
    holder_id: int
    busy_user_id: int
    hot_file: str
    quiet_file: str
    holder_file: str
    search_term: str
    seconds: dict[str, float] = field(default_factory=dict)


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _copy(connection: Any, table: str, columns: Sequence[str], rows: Iterable[tuple[Any, ...]]):
    """PostgreSQL: COPY in text format, written a chunk at a time."""
    raw = connection.connection  # psycopg's own connection under Django's wrapper
    names = ", ".join(columns)
    with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
        buffer = io.StringIO()
        for count, row in enumerate(rows, 1):
            buffer.write("\t".join(r"\N" if value is None else str(value) for value in row))
            buffer.write("\n")
            if count % CHUNK_ROWS == 0:
                copy.write(buffer.getvalue())
                buffer = io.StringIO()
        copy.write(buffer.getvalue())


def _insert_many(connection: Any, table: str, columns: Sequence[str], rows: Iterable[tuple]):
    """SQLite: one prepared INSERT per chunk of rows, all in the caller's transaction."""
    marks = ", ".join("?" * len(columns))
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"  # noqa: S608 - ours
    raw = connection.connection
    chunk: list[tuple[Any, ...]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= CHUNK_ROWS:
            raw.executemany(sql, chunk)
            chunk.clear()
    raw.executemany(sql, chunk)


def _writer(connection: Any) -> Callable[[str, Sequence[str], Iterable[tuple[Any, ...]]], None]:
    if connection.vendor == "postgresql":
        return lambda table, columns, rows: _copy(connection, table, columns, rows)
    return lambda table, columns, rows: _insert_many(connection, table, columns, rows)


def _file_id(connection: Any, file_id: uuid.UUID) -> str:
    # Django keeps UUIDs as 32 hex digits on SQLite, as uuid on PostgreSQL.
    return file_id.hex if connection.vendor == "sqlite" else str(file_id)


def _stamp(connection: Any, moment: datetime) -> str:
    return (
        moment.isoformat(sep=" ")
        if connection.vendor == "postgresql"
        else moment.strftime("%Y-%m-%d %H:%M:%S")
    )


def real_file(media_root: Path) -> None:
    """The one real small file the holder downloads (the checked download); every other row
    names a key with no bytes behind it, which no page reads. The files live on tmpfs, apart
    from a kept database: each run writes it again."""
    (media_root / "bench").mkdir(parents=True, exist_ok=True)
    (media_root / "bench" / "real.txt").write_bytes(b"x" * 1024)


def load(*, log_rows: int, files: int, grants: int, media_root: Path, say: Callable[[str], None]):
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import Group, User
    from django.db import connection, transaction

    from downloads.models import StoredFile

    rng = random.Random(13)
    write = _writer(connection)
    now = _now()
    seconds: dict[str, float] = {}

    def timed(name: str, step: Callable[[], None]) -> None:
        started = time.monotonic()
        step()
        seconds[name] = time.monotonic() - started
        say(f"{name}: {seconds[name]:.1f} s")

    password = make_password(PASSWORD)
    with transaction.atomic():
        admin = User.objects.create(
            username=ADMIN, password=password, is_staff=True, is_superuser=True
        )
        holder = User.objects.create(username=HOLDER, password=password)
        User.objects.bulk_create(
            User(username=f"user{number:04d}", password=password) for number in range(USERS)
        )
        Group.objects.bulk_create(Group(name=f"group{number:02d}") for number in range(GROUPS))
        groups = list(Group.objects.order_by("pk"))
        holder.groups.set(groups[:HOLDER_GROUPS])
    user_ids = list(User.objects.exclude(pk__in=[admin.pk, holder.pk]).values_list("pk", flat=True))
    group_ids = [group.pk for group in groups]

    real_file(media_root)
    file_ids = [uuid.UUID(int=rng.getrandbits(128), version=4) for _ in range(files)]
    owners = [rng.choice(user_ids) for _ in range(files)]

    def file_rows() -> Iterator[tuple[Any, ...]]:
        for index, file_id in enumerate(file_ids):
            stamp = _stamp(connection, now - timedelta(minutes=5 * index))
            yield (
                _file_id(connection, file_id),
                "bench/real.txt" if index == 0 else f"bench/{file_id.hex}",
                f"report {index:06d} {rng.choice(['alpha', 'beta', 'gamma'])}.txt",
                "",
                rng.choice(CONTENT_TYPES) if index else "text/plain",
                1024,
                "0" * 64,
                owners[index],
                stamp,
                stamp,
                None,
            )

    file_columns = [
        "id", "file", "name", "description", "content_type", "size", "sha256", "owner_id",
        "created", "updated", "bytes_missing_since",
    ]  # fmt: skip
    with transaction.atomic():
        timed("stored files", lambda: write(StoredFile._meta.db_table, file_columns, file_rows()))

    # The holder: HOLDER_GRANTS grants of their own (file 0, the downloaded one, among them),
    # and their groups' grants; everyone else's fill the total up.
    def grant_rows() -> Iterator[tuple[Any, ...]]:
        stamp = _stamp(connection, now)
        taken: set[tuple[int, str]] = set()
        holder_files = [0, *rng.sample(range(1, files), HOLDER_GRANTS - 1)]
        for index in holder_files:
            yield (_file_id(connection, file_ids[index]), holder.pk, None, None, stamp)
        made = HOLDER_GRANTS
        while made < grants:
            index = rng.randrange(files)
            if made % 2:
                who, key = rng.choice(group_ids), "g"
                row = (_file_id(connection, file_ids[index]), None, who, None, stamp)
            else:
                who, key = rng.choice(user_ids), "u"
                row = (_file_id(connection, file_ids[index]), who, None, None, stamp)
            if (who, f"{key}{index}") in taken:
                continue
            taken.add((who, f"{key}{index}"))
            made += 1
            yield row

    with transaction.atomic():
        timed(
            "grants",
            lambda: write(
                "downloads_grant",
                ["file_id", "user_id", "group_id", "expires_at", "created"],
                grant_rows(),
            ),
        )

    # A skewed log: a tenth of the files get most downloads (and file 1 a share of its own), a
    # few users most of them; a year of rows, newest last.
    hot = file_ids[1]
    busy_user = user_ids[0]
    weighted = [status for status in STATUSES for _ in range(status[2])]
    span = timedelta(days=365).total_seconds()

    def log_rows_() -> Iterator[tuple[Any, ...]]:
        for number in range(log_rows):
            moment = now - timedelta(seconds=span * (1 - number / max(log_rows, 1)))
            user = busy_user if rng.random() < 0.05 else rng.choice(user_ids)
            if rng.randrange(100) < DENIED_SHARE:
                asked = uuid.UUID(int=rng.getrandbits(128), version=4)
                yield (None, "", user, _stamp(connection, moment), "127.0.0.1", 404, "", 0, 0,
                       "denied", _file_id(connection, asked), "django")  # fmt: skip
                continue
            draw = rng.random()
            if draw < 0.02:
                index = 1
            elif draw < 0.7:
                index = rng.randrange(files // 10)
            else:
                index = rng.randrange(files)
            status, outcome, _ = rng.choice(weighted)
            yield (_file_id(connection, file_ids[index]), f"report {index:06d}.txt", user,
                   _stamp(connection, moment), "127.0.0.1", status, "", 1024, 1024, outcome,
                   None, "django")  # fmt: skip

    log_columns = [
        "file_id", "file_name", "user_id", "at", "ip", "status", "range", "bytes_sent",
        "bytes_planned", "outcome", "requested_id", "delivery",
    ]  # fmt: skip
    with transaction.atomic():
        _triggers(connection, on=False)
        timed("download log", lambda: write("downloads_downloadlog", log_columns, log_rows_()))
    # PostgreSQL alters no table with the COPY's deferred foreign-key checks still pending.
    with transaction.atomic():
        _triggers(connection, on=True)
        if _has_counts():
            from downloads import logcounts

            timed("download counts", lambda: logcounts.recount(connection))
        if _has_search_index(connection):
            from downloads import logfts

            timed("search index", lambda: logfts.rebuild(connection))
    with connection.cursor() as cursor:
        timed("analyze", lambda: cursor.execute("ANALYZE"))
        if connection.vendor == "postgresql":
            timed("vacuum", lambda: cursor.execute("VACUUM downloads_downloadlog"))
    return Loaded(
        admin_id=admin.pk,
        holder_id=holder.pk,
        busy_user_id=busy_user,
        hot_file=str(hot),
        quiet_file=str(file_ids[-1]),
        holder_file=str(file_ids[0]),
        search_term="report 000123",
        seconds=seconds,
    )


def _has_counts() -> bool:
    # The same loader measures the app before the counter existed (README's "before" column).
    from importlib.util import find_spec

    return find_spec("downloads.logcounts") is not None


def _has_search_index(connection: Any) -> bool:
    # SQLite's FTS5 table of the log's search (downloads/logfts.py), where it was built.
    from importlib.util import find_spec

    if connection.vendor != "sqlite" or find_spec("downloads.logfts") is None:
        return False
    from downloads import logfts

    return logfts.TABLE in connection.introspection.table_names()


def _triggers(connection: Any, *, on: bool) -> None:
    if _has_search_index(connection):
        # Off for the load, like the counts', and the index rebuilt once after it.
        from downloads import logfts

        (logfts.create_triggers if on else logfts.drop_triggers)(connection)
    if not _has_counts():
        return
    from downloads import logcounts

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # ALL: the foreign keys' checks too (the rows are made consistent above); checked at
            # commit, they took longer than the COPY itself. Needs the table's owner as superuser,
            # which the bench's own cluster gives (scripts/postgres.sh).
            state = "ENABLE" if on else "DISABLE"
            cursor.execute(f"ALTER TABLE downloads_downloadlog {state} TRIGGER ALL")
    elif on:
        logcounts.create_triggers(connection)
    else:
        logcounts.drop_triggers(connection)
