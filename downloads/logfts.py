"""SQLite's index for the download log's admin search: an FTS5 table with the trigram tokenizer.

SQLite has no substring index of its own, so every search read the whole log (4.8 s at 1M rows).
FTS5's `trigram` tokenizer (SQLite 3.34+) indexes every three characters of `file_name` and `ip`,
case-folded: a phrase query of a term of three characters or more finds the rows whose text
holds it, whatever their case. downloads/logsearch.py asks it for candidates only and still
applies Django's own `icontains` to them, so the rows are exactly those Django's search finds
(the index finds a superset: it folds the case of every letter, SQLite's LIKE only ASCII's).

The FTS table takes its text from the log (`content=`, nothing stored twice) and is kept in step
by triggers in the writing transaction: insert, delete (retention, a file's deletion) and any
update of `file_name` or `ip`. Migration 0008 builds it from the existing rows; PostgreSQL has
its trigram GIN indexes instead (downloads/searchindexes.py) and gets nothing here. Where SQLite
lacks FTS5 or the trigram tokenizer, nothing is built, the search reads the log as before, and
`manage.py check` says so (downloads.W115).
"""

import sqlite3
from collections.abc import Iterable, Mapping
from typing import Any

from django.core.checks import CheckMessage, register
from django.core.checks import Warning as CheckWarning
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

LOG = "downloads_downloadlog"
TABLE = "downloads_downloadlog_search"
# Shorter terms have no trigram: the index cannot answer them (logsearch.py reads the log).
MIN_TERM = 3
MIN_SQLITE = (3, 34, 0)
# A term the index names more rows for is not asked of it: SQLite always drives a query from an
# `id IN (index's ids)` condition, and reading a million ids (the common "report", 0.4 s) then
# sorting them is slower than reading the log newest first, which finds a page of such rows at
# once (0.2 ms). Below it the ids win: a hot file's 20,000 rows of 1M take 0.2 s for the page
# and 0.12 s to count through the index, and 0.34 s to count by reading the log (README).
INDEXED_AT_MOST = 50_000

_CREATE_TABLE = (
    f"CREATE VIRTUAL TABLE {TABLE} USING fts5(file_name, ip, content='{LOG}', "
    "content_rowid='id', tokenize='trigram case_sensitive 0')"
)
# An external-content FTS table forgets a row only when told the exact text it indexed: the
# triggers pass the row's old values.
_FORGET = (
    f"INSERT INTO {TABLE} ({TABLE}, rowid, file_name, ip)"  # noqa: S608 - constants
    " VALUES ('delete', OLD.id, OLD.file_name, OLD.ip);"
)
_LEARN = (
    f"INSERT INTO {TABLE} (rowid, file_name, ip)"  # noqa: S608 - constants
    " VALUES (NEW.id, NEW.file_name, NEW.ip);"
)
TRIGGERS = {
    f"{TABLE}_insert": f"AFTER INSERT ON {LOG} BEGIN {_LEARN} END",
    f"{TABLE}_delete": f"AFTER DELETE ON {LOG} BEGIN {_FORGET} END",
    f"{TABLE}_update": f"AFTER UPDATE OF id, file_name, ip ON {LOG} BEGIN {_FORGET} {_LEARN} END",
}


def unavailable_reason() -> str | None:
    """Why this Python's SQLite cannot build the index; None when it can."""
    if sqlite3.sqlite_version_info < MIN_SQLITE:
        return (
            f"SQLite {sqlite3.sqlite_version} is older than 3.34, which brought FTS5's "
            "trigram tokenizer"
        )
    probe = sqlite3.connect(":memory:")
    try:
        probe.execute("CREATE VIRTUAL TABLE probe USING fts5(text, tokenize='trigram')")
    except sqlite3.OperationalError as error:
        return f"this SQLite ({sqlite3.sqlite_version}) has no FTS5 trigram tokenizer: {error}"
    finally:
        probe.close()
    return None


def create(connection: BaseDatabaseWrapper) -> None:
    """The FTS table, its triggers, and every existing row indexed (SQLite with FTS5 only)."""
    if connection.vendor != "sqlite" or unavailable_reason():
        return
    with connection.cursor() as cursor:
        cursor.execute(_CREATE_TABLE)
        create_triggers(connection)
        rebuild(connection)


def drop(connection: BaseDatabaseWrapper) -> None:
    if connection.vendor != "sqlite":
        return
    drop_triggers(connection)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {TABLE}")


def create_triggers(connection: BaseDatabaseWrapper) -> None:
    add_triggers(connection, TRIGGERS)


def add_triggers(connection: BaseDatabaseWrapper, triggers: Mapping[str, str]) -> None:
    """Triggers by name -> body (this index's, or another FTS table's: filefts.py)."""
    with connection.cursor() as cursor:
        for name, body in triggers.items():
            cursor.execute(f"CREATE TRIGGER {name} {body}")


def drop_triggers(connection: BaseDatabaseWrapper) -> None:
    """Off for a bulk load (bench/adminload.py), which then calls rebuild()."""
    remove_triggers(connection, TRIGGERS)


def remove_triggers(connection: BaseDatabaseWrapper, names: Iterable[str]) -> None:
    with connection.cursor() as cursor:
        for name in names:
            cursor.execute(f"DROP TRIGGER IF EXISTS {name}")


def rebuild(connection: BaseDatabaseWrapper) -> None:
    """The index made again from the log's rows (FTS5's own 'rebuild')."""
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {TABLE} ({TABLE}) VALUES ('rebuild')")  # noqa: S608


def ready(connection: BaseDatabaseWrapper, names: tuple[str, ...] = (TABLE, *TRIGGERS)) -> bool:
    """Whether the search can ask the index: SQLite, the table and its three triggers there
    (or the given tables and triggers: the stored files' index, downloads/filefts.py).

    Asked on every search (one look at sqlite_master): a database migrated where FTS5 was
    missing, or one whose triggers were dropped, is searched by reading the log instead."""
    if connection.vendor != "sqlite":
        return False
    with connection.cursor() as cursor:
        marks = ", ".join(["%s"] * len(names))
        cursor.execute(
            "SELECT COUNT(*) FROM sqlite_master WHERE"  # noqa: S608 - marks only
            f" type IN ('table', 'trigger') AND name IN ({marks})",
            list(names),
        )
        (found,) = cursor.fetchone()
    return bool(found == len(names))


def phrase(term: str) -> str:
    """`term` as one FTS5 string: every character literal, matched as a substring."""
    return '"' + term.replace('"', '""') + '"'


def can_answer(term: str) -> bool:
    """Whether the index can be asked for `term`: three characters or more (a trigram), and no
    NUL, which ends an FTS5 query string (the search's LIKE still compares it)."""
    return len(term) >= MIN_TERM and "\x00" not in term


def names_few_rows(connection: BaseDatabaseWrapper, term: str, ids_sql: str = "") -> bool:
    """Whether the index names at most INDEXED_AT_MOST rows for `term` (it stops counting
    there: ~10 ms for a term that names every row); `ids_sql`: another index's
    matching_ids_sql()."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT COUNT(*) FROM ({ids_sql or matching_ids_sql()} LIMIT %s)",  # noqa: S608
            [phrase(term), INDEXED_AT_MOST + 1],
        )
        (found,) = cursor.fetchone()
    return bool(found <= INDEXED_AT_MOST)


def matching_ids_sql() -> str:
    """SQL of the ids of the rows whose indexed text holds the phrase given as its parameter."""
    return f"SELECT rowid FROM {TABLE} WHERE {TABLE} MATCH %s"  # noqa: S608 - constants


@register()
def sqlite_search_index(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    if not any(connections[alias].vendor == "sqlite" for alias in connections):
        return []
    reason = unavailable_reason()
    if reason is None:
        return []
    return [
        CheckWarning(
            f"The download log's admin search cannot be indexed: {reason}.",
            hint="Searches then read the whole log (seconds at a million rows). Use a Python "
            "built with SQLite 3.34 or newer with FTS5, or PostgreSQL.",
            id="downloads.W115",
        )
    ]
