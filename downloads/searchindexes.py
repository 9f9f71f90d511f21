"""PostgreSQL's indexes for the download log's admin search (downloads/logsearch.py).

Trigram GIN indexes (`pg_trgm`) on the very expressions Django's `icontains` compares on
PostgreSQL, `UPPER(file_name::text)` and `UPPER(HOST(ip))`, so `... LIKE UPPER('%term%')` finds
its rows through them. Built `CONCURRENTLY`: on a log of millions of rows the build takes minutes
and must not hold off the log writer meanwhile. SQLite has no such index; nothing is built there.
"""

from django.db.backends.base.base import BaseDatabaseWrapper

TABLE = "downloads_downloadlog"

# Index name -> the expression it indexes, as PostgreSQL's icontains writes it.
TRIGRAM_INDEXES = {
    "downloadlog_file_name_trgm": "UPPER(file_name::text)",
    "downloadlog_ip_trgm": "UPPER(HOST(ip))",
}


def create(connection: BaseDatabaseWrapper) -> None:
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for name, expression in TRIGRAM_INDEXES.items():
            # A concurrent build that failed (interrupted, or a deadlock) leaves an invalid
            # index behind, which IF NOT EXISTS would keep: drop it and build again.
            if not valid(connection, name):
                cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
            cursor.execute(
                f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {TABLE} "
                f"USING gin (({expression}) gin_trgm_ops)"
            )
        # The planner's statistics of an index's expression come from ANALYZE: until then it
        # guesses every term equally selective, and ANDs a term that names every row (10M rows,
        # 4 s) with the one that names a few (then 85 ms).
        cursor.execute(f"ANALYZE {TABLE}")


def drop(connection: BaseDatabaseWrapper) -> None:
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for name in TRIGRAM_INDEXES:
            cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


def valid(connection: BaseDatabaseWrapper, name: str) -> bool:
    """Whether index `name` exists and is usable (PostgreSQL)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(%s)", [name])
        found = cursor.fetchone()
    return bool(found and found[0])


def missing(connection: BaseDatabaseWrapper) -> list[str]:
    """The search indexes PostgreSQL lacks or cannot use; none on other databases."""
    if connection.vendor != "postgresql":
        return []
    return [name for name in TRIGRAM_INDEXES if not valid(connection, name)]
