"""The download counter's triggers: each log row that names a file adds one to that file's
`DownloadCount`, each one deleted (retention) or unlinked (the file deleted) takes one away.
Rows of signed media URLs issued (outcome "issued") are not downloads and are not counted
(migration 0009 replaced the triggers of 0003 with these).

Database triggers rather than the log writer: every path that writes or deletes log rows (the
writer, the ORM, a bulk delete, a restore from an archive) keeps the count, in the row's own
transaction, so it cannot drift from `COUNT(*)` over the log. Concurrent writers add with
`total = total + 1` under the counter row's lock, so no increment is lost.

Every stored file has its counter row, 0 until its first download, made by a trigger on the
files' insert (migration 0010, which also made the rows of the files already there): sorted by
downloads, the admin's list joins the counts with an inner join and reads them in order from
the index `(total, file_id)` instead of sorting every file (downloads/admin_counts.py). On
SQLite a migration that copies `downloads_storedfile` into a new table drops its trigger: it
must call `create_file_trigger` again (and `add_missing_rows`).
"""

from django.db.backends.base.base import BaseDatabaseWrapper

_POSTGRES_CREATE = """
CREATE FUNCTION downloads_count_log_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.file_id IS NOT NULL
        AND OLD.outcome <> 'issued' THEN
        UPDATE downloads_downloadcount SET total = total - 1 WHERE file_id = OLD.file_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.file_id IS NOT NULL
        AND NEW.outcome <> 'issued' THEN
        INSERT INTO downloads_downloadcount (file_id, total) VALUES (NEW.file_id, 1)
        ON CONFLICT (file_id) DO UPDATE SET total = downloads_downloadcount.total + 1;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER downloads_downloadlog_count
    AFTER INSERT OR DELETE OR UPDATE OF file_id ON downloads_downloadlog
    FOR EACH ROW EXECUTE FUNCTION downloads_count_log_rows();
"""

_POSTGRES_DROP = """
DROP TRIGGER IF EXISTS downloads_downloadlog_count ON downloads_downloadlog;
DROP FUNCTION IF EXISTS downloads_count_log_rows();
"""

_ADD = """
        INSERT INTO downloads_downloadcount (file_id, total) VALUES (NEW.file_id, 1)
        ON CONFLICT (file_id) DO UPDATE SET total = total + 1;"""
_TAKE = """
        UPDATE downloads_downloadcount SET total = total - 1 WHERE file_id = OLD.file_id;"""

_SQLITE_CREATE = [
    """CREATE TRIGGER downloads_downloadlog_count_insert AFTER INSERT ON downloads_downloadlog
    WHEN NEW.file_id IS NOT NULL AND NEW.outcome <> 'issued' BEGIN"""
    + _ADD
    + """
    END""",
    """CREATE TRIGGER downloads_downloadlog_count_delete AFTER DELETE ON downloads_downloadlog
    WHEN OLD.file_id IS NOT NULL AND OLD.outcome <> 'issued' BEGIN"""
    + _TAKE
    + """
    END""",
    """CREATE TRIGGER downloads_downloadlog_count_take
    AFTER UPDATE OF file_id ON downloads_downloadlog
    WHEN OLD.file_id IS NOT NULL AND OLD.outcome <> 'issued' BEGIN"""
    + _TAKE
    + """
    END""",
    """CREATE TRIGGER downloads_downloadlog_count_add
    AFTER UPDATE OF file_id ON downloads_downloadlog
    WHEN NEW.file_id IS NOT NULL AND NEW.outcome <> 'issued' BEGIN"""
    + _ADD
    + """
    END""",
]

_SQLITE_DROP = [
    f"DROP TRIGGER IF EXISTS downloads_downloadlog_count_{name}"
    for name in ("insert", "delete", "take", "add")
]

# Every existing row counted once; run with the triggers in place, in the same transaction
# (PostgreSQL's CREATE TRIGGER holds off concurrent inserts until it commits).
BACKFILL = """
INSERT INTO downloads_downloadcount (file_id, total)
SELECT file_id, COUNT(*) FROM downloads_downloadlog
WHERE file_id IS NOT NULL AND outcome <> 'issued' GROUP BY file_id
"""


_POSTGRES_FILE_CREATE = """
CREATE FUNCTION downloads_count_new_file() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO downloads_downloadcount (file_id, total) VALUES (NEW.id, 0)
    ON CONFLICT (file_id) DO NOTHING;
    RETURN NULL;
END
$$;
CREATE TRIGGER downloads_storedfile_count
    AFTER INSERT ON downloads_storedfile
    FOR EACH ROW EXECUTE FUNCTION downloads_count_new_file();
"""

_POSTGRES_FILE_DROP = """
DROP TRIGGER IF EXISTS downloads_storedfile_count ON downloads_storedfile;
DROP FUNCTION IF EXISTS downloads_count_new_file();
"""

_SQLITE_FILE_CREATE = """
CREATE TRIGGER downloads_storedfile_count AFTER INSERT ON downloads_storedfile BEGIN
        INSERT INTO downloads_downloadcount (file_id, total) VALUES (NEW.id, 0)
        ON CONFLICT (file_id) DO NOTHING;
    END"""

_SQLITE_FILE_DROP = "DROP TRIGGER IF EXISTS downloads_storedfile_count"

# A zero row for each file no log row names (the backfill above makes the others).
MISSING_ROWS = """
INSERT INTO downloads_downloadcount (file_id, total)
SELECT id, 0 FROM downloads_storedfile AS stored
WHERE NOT EXISTS (SELECT 1 FROM downloads_downloadcount WHERE file_id = stored.id)
"""


def _statements(connection: BaseDatabaseWrapper, *, create: bool) -> list[str]:
    if connection.vendor == "postgresql":
        return [_POSTGRES_CREATE if create else _POSTGRES_DROP]
    if connection.vendor == "sqlite":
        return _SQLITE_CREATE if create else _SQLITE_DROP
    raise NotImplementedError(f"no download counter triggers for {connection.vendor}")


def create_triggers(connection: BaseDatabaseWrapper) -> None:
    with connection.cursor() as cursor:
        for statement in _statements(connection, create=True):
            cursor.execute(statement)


def drop_triggers(connection: BaseDatabaseWrapper) -> None:
    with connection.cursor() as cursor:
        for statement in _statements(connection, create=False):
            cursor.execute(statement)


def recount(connection: BaseDatabaseWrapper) -> None:
    """Every file's count from the log itself (the migration's backfill; the bench's loader
    after a COPY with the triggers off)."""
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM downloads_downloadcount")
        cursor.execute(BACKFILL)
        cursor.execute(MISSING_ROWS)


def _file_statement(connection: BaseDatabaseWrapper, *, create: bool) -> str:
    if connection.vendor == "postgresql":
        return _POSTGRES_FILE_CREATE if create else _POSTGRES_FILE_DROP
    if connection.vendor == "sqlite":
        return _SQLITE_FILE_CREATE if create else _SQLITE_FILE_DROP
    raise NotImplementedError(f"no stored-file counter trigger for {connection.vendor}")


def create_file_trigger(connection: BaseDatabaseWrapper) -> None:
    """A counter row (0) for each stored file inserted, in the insert's transaction."""
    with connection.cursor() as cursor:
        cursor.execute(_file_statement(connection, create=True))


def drop_file_trigger(connection: BaseDatabaseWrapper) -> None:
    with connection.cursor() as cursor:
        cursor.execute(_file_statement(connection, create=False))


def add_missing_rows(connection: BaseDatabaseWrapper) -> None:
    """A zero counter row for every file without one (migration 0010's backfill, after the
    trigger is in place, in the same transaction)."""
    with connection.cursor() as cursor:
        cursor.execute(MISSING_ROWS)
