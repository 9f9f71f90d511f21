"""SQLite's FTS5 index of the stored-file admin's search (downloads/filefts.py, migration 0011):
its text equals the files' after every kind of write, the search asks it, and the migration
builds it from the files already there and takes it away again."""

import functools
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from downloads import filefts
from downloads.filesearch import search_files
from downloads.models import StoredFile


def sqlite_only(test: Callable[..., None]) -> Callable[..., None]:
    """A test of the FTS5 index, which exists on SQLite only: elsewhere it checks that there is
    none, and that the search does not ask for it (never a skip: CI allows none)."""

    @functools.wraps(test)
    def on_sqlite(*args: Any, **kwargs: Any) -> None:
        if connection.vendor != "sqlite":
            assert not filefts.ready(connection)
            assert filefts.TABLE not in connection.introspection.table_names()
            return
        test(*args, **kwargs)

    return on_sqlite


def indexed_text() -> set:
    with connection.cursor() as cursor:
        table = filefts.TABLE
        check = f"INSERT INTO {table} ({table}) VALUES ('integrity-check')"  # noqa: S608
        cursor.execute(check)
        cursor.execute(
            f"SELECT numbers.file_id, fts.name, fts.description, fts.sha256"  # noqa: S608
            f" FROM {filefts.TABLE} AS fts JOIN {filefts.NUMBERS} AS numbers"
            " ON numbers.n = fts.rowid"
        )
        return {(uuid.UUID(file_id), *text) for file_id, *text in cursor.fetchall()}


def files_text() -> set:
    return set(StoredFile.objects.values_list("pk", "name", "description", "sha256"))


@pytest.mark.django_db
@sqlite_only
def test_the_index_follows_every_write(make_file, alice):
    report = make_file(name="report.pdf")
    StoredFile.objects.bulk_create(
        [
            StoredFile(
                file=f"bulk{n}",
                name=f"bulk {n}.txt",
                content_type="text/plain",
                size=0,
                sha256=f"{n:064x}",
                owner=alice,
                updated=timezone.now(),
            )
            for n in range(3)
        ]
    )
    assert indexed_text() == files_text()
    assert len(files_text()) == 4

    report.description = "Quarterly figures"
    report.save()
    StoredFile.objects.filter(name__startswith="bulk").update(name="renamed.txt")
    assert indexed_text() == files_text()

    report.delete()
    StoredFile.objects.filter(name="renamed.txt").first().delete()
    assert indexed_text() == files_text()
    StoredFile.objects.all().delete()
    assert indexed_text() == set() == files_text()


@pytest.mark.django_db
@sqlite_only
def test_the_search_asks_the_index(make_file):
    make_file(name="annual report 000123.pdf")
    make_file(name="notes.txt")
    assert filefts.ready(connection)
    found = search_files(StoredFile.objects.all(), "000123")
    assert [stored.name for stored in found] == ["annual report 000123.pdf"]
    sql, params = found.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        plan = "\n".join(str(line[-1]) for line in cursor.fetchall())
    assert filefts.TABLE in plan, plan
    assert "SCAN downloads_storedfile\n" not in plan + "\n", plan


@pytest.mark.django_db
@sqlite_only
def test_without_its_triggers_the_search_reads_the_files(make_file):
    make_file(name="annual report 000123.pdf")
    filefts.drop_triggers(connection)
    assert not filefts.ready(connection)
    make_file(name="later 000123.txt")  # not indexed: the index is not asked
    found = search_files(StoredFile.objects.all(), "000123")
    assert sorted(stored.name for stored in found) == [
        "annual report 000123.pdf",
        "later 000123.txt",
    ]


@pytest.mark.django_db(transaction=True)
@sqlite_only
def test_the_migration_indexes_the_files_there_and_reverses(make_file):
    executor = MigrationExecutor(connection)
    executor.migrate([("downloads", "0010_storedfile_list_indexes")])
    try:
        assert not filefts.ready(connection)
        make_file(name="before the index.txt")
    finally:
        call_command("migrate", "downloads", verbosity=0)
    assert filefts.ready(connection)
    assert indexed_text() == files_text()
    assert [s.name for s in search_files(StoredFile.objects.all(), "index")] == [
        "before the index.txt"
    ]
