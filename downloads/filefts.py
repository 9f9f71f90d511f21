"""SQLite's index for the stored-file admin's search: an FTS5 trigram table, as the log's.

The log's index (downloads/logfts.py) takes its text from the log by its integer id. Stored
files have a UUID key and only SQLite's implicit rowid, which VACUUM may renumber: an index
keyed by it would silently point at other files. So this one keeps its own copy of the searched
text (`name`, `description`, `sha256`; short) under a number from a table of its own,
`file_id -> n` (an INTEGER PRIMARY KEY, which nothing renumbers), and triggers on the files keep
both in step in the writing transaction: insert, delete, an update of a searched column.

The search (downloads/filesearch.py) asks it for candidates only, with logfts's helpers
(`can_answer`, `phrase`, `names_few_rows`, `ready`), and still applies Django's own `icontains`
to them: exactly the rows of Django's search. Migration 0011 builds it from the existing files;
nothing on PostgreSQL (trigram GIN indexes there) or where SQLite lacks the tokenizer
(downloads.W115); a migration that makes SQLite copy the files' table drops the triggers, and
must call `create_triggers` and `rebuild` again (until then the search reads the files).
"""

from django.db.backends.base.base import BaseDatabaseWrapper

from downloads import logfts

FILES = "downloads_storedfile"
TABLE = "downloads_storedfile_search"
NUMBERS = "downloads_storedfile_search_ids"

_CREATE = [
    f"CREATE TABLE {NUMBERS} (n INTEGER PRIMARY KEY, file_id char(32) NOT NULL UNIQUE)",
    f"CREATE VIRTUAL TABLE {TABLE} USING fts5(name, description, sha256, "
    "tokenize='trigram case_sensitive 0')",
]
_NUMBER_OF = f"(SELECT n FROM {NUMBERS} WHERE file_id = {{row}}.id)"  # noqa: S608 - constants
_LEARN = (
    f"INSERT INTO {NUMBERS} (file_id) VALUES (NEW.id);"  # noqa: S608
    f" INSERT INTO {TABLE} (rowid, name, description, sha256)"
    f" VALUES ({_NUMBER_OF.format(row='NEW')}, NEW.name, NEW.description, NEW.sha256);"
)
_FORGET = (
    f"DELETE FROM {TABLE} WHERE rowid = {_NUMBER_OF.format(row='OLD')};"  # noqa: S608
    f" DELETE FROM {NUMBERS} WHERE file_id = OLD.id;"
)
TRIGGERS = {
    f"{TABLE}_insert": f"AFTER INSERT ON {FILES} BEGIN {_LEARN} END",
    f"{TABLE}_delete": f"AFTER DELETE ON {FILES} BEGIN {_FORGET} END",
    f"{TABLE}_update": (
        f"AFTER UPDATE OF id, name, description, sha256 ON {FILES} BEGIN {_FORGET} {_LEARN} END"
    ),
}
NAMES = (TABLE, NUMBERS, *TRIGGERS)


def create(connection: BaseDatabaseWrapper) -> None:
    """The tables, their triggers, and every existing file indexed (SQLite with FTS5 only)."""
    if connection.vendor != "sqlite" or logfts.unavailable_reason():
        return
    with connection.cursor() as cursor:
        for statement in _CREATE:
            cursor.execute(statement)
    create_triggers(connection)
    rebuild(connection)


def drop(connection: BaseDatabaseWrapper) -> None:
    if connection.vendor != "sqlite":
        return
    drop_triggers(connection)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {TABLE}")
        cursor.execute(f"DROP TABLE IF EXISTS {NUMBERS}")


def create_triggers(connection: BaseDatabaseWrapper) -> None:
    logfts.add_triggers(connection, TRIGGERS)


def drop_triggers(connection: BaseDatabaseWrapper) -> None:
    logfts.remove_triggers(connection, TRIGGERS)


def rebuild(connection: BaseDatabaseWrapper) -> None:
    """Both tables made again from the files' rows."""
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {TABLE}")  # noqa: S608 - constants
        cursor.execute(f"DELETE FROM {NUMBERS}")  # noqa: S608
        cursor.execute(f"INSERT INTO {NUMBERS} (file_id) SELECT id FROM {FILES}")  # noqa: S608
        cursor.execute(
            f"INSERT INTO {TABLE} (rowid, name, description, sha256)"  # noqa: S608
            f" SELECT numbers.n, files.name, files.description, files.sha256"
            f" FROM {FILES} AS files JOIN {NUMBERS} AS numbers ON numbers.file_id = files.id"
        )


def ready(connection: BaseDatabaseWrapper) -> bool:
    return logfts.ready(connection, NAMES)


def matching_ids_sql() -> str:
    """SQL of the ids of the files whose searched text holds the phrase given as parameter."""
    return (
        f"SELECT file_id FROM {NUMBERS} WHERE n IN"  # noqa: S608 - constants
        f" (SELECT rowid FROM {TABLE} WHERE {TABLE} MATCH %s)"
    )
