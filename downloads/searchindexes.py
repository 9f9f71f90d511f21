"""PostgreSQL's indexes for the download log's admin search (downloads/logsearch.py).

Trigram GIN indexes (`pg_trgm`) on the very expressions Django's `icontains` compares on
PostgreSQL, `UPPER(file_name::text)` and `UPPER(HOST(ip))`, so `... LIKE UPPER('%term%')` finds
its rows through them. Built `CONCURRENTLY`: on a log of millions of rows the build takes minutes
and must not hold off the log writer meanwhile. SQLite has no such index; nothing is built there.
The stored-file admin's search (downloads/filesearch.py) has the same kind on the files' searched
fields (migration 0011): `create(connection, FILE_INDEXES)`.
"""

from django.db.backends.base.base import BaseDatabaseWrapper

TABLE = "downloads_downloadlog"

# Index name -> the expression it indexes, as PostgreSQL's icontains writes it.
TRIGRAM_INDEXES = {
    "downloadlog_file_name_trgm": "UPPER(file_name::text)",
    "downloadlog_ip_trgm": "UPPER(HOST(ip))",
}

FILES_TABLE = "downloads_storedfile"
FILE_TRIGRAM_INDEXES = {
    "storedfile_name_trgm": "UPPER(name::text)",
    "storedfile_description_trgm": "UPPER(description::text)",
    "storedfile_sha256_trgm": "UPPER(sha256::text)",
}

# (table, its indexes): the log's (migration 0006), the stored files' (migration 0011).
LOG_INDEXES = (TABLE, TRIGRAM_INDEXES)
FILE_INDEXES = (FILES_TABLE, FILE_TRIGRAM_INDEXES)


def create(
    connection: BaseDatabaseWrapper, which: tuple[str, dict[str, str]] = LOG_INDEXES
) -> None:
    if connection.vendor != "postgresql":
        return
    table, indexes = which
    with connection.cursor() as cursor:
        for name, expression in indexes.items():
            # A concurrent build that failed (interrupted, or a deadlock) leaves an invalid
            # index behind, which IF NOT EXISTS would keep: drop it and build again.
            if not valid(connection, name):
                cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
            cursor.execute(
                f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {table} "
                f"USING gin (({expression}) gin_trgm_ops)"
            )
        # The planner's statistics of an index's expression come from ANALYZE: until then it
        # guesses every term equally selective, and ANDs a term that names every row (10M rows,
        # 4 s) with the one that names a few (then 85 ms).
        cursor.execute(f"ANALYZE {table}")


def drop(connection: BaseDatabaseWrapper, which: tuple[str, dict[str, str]] = LOG_INDEXES) -> None:
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for name in which[1]:
            cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


def valid(connection: BaseDatabaseWrapper, name: str) -> bool:
    """Whether index `name` exists and is usable (PostgreSQL)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(%s)", [name])
        found = cursor.fetchone()
    return bool(found and found[0])


def missing(
    connection: BaseDatabaseWrapper, which: tuple[str, dict[str, str]] = LOG_INDEXES
) -> list[str]:
    """The search indexes PostgreSQL lacks or cannot use; none on other databases."""
    if connection.vendor != "postgresql":
        return []
    return [name for name in which[1] if not valid(connection, name)]
