"""The download log's search index on SQLite (downloads/logfts.py, migration 0008): the FTS5
trigram table stays in step with the log through every way rows are written or removed, the
search through it finds Django's rows, the migration goes both ways; and the same searches
through the admin find the same rows on SQLite and on PostgreSQL (`make test-postgres`)."""

import functools
import io
import sqlite3
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.contrib import admin
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from downloads import logfts, logsearch
from downloads.admin import DownloadLogAdmin
from downloads.logsearch import search_log
from downloads.models import DownloadLog, Outcome
from tests.prunehelp import PruneStorage, make_log_rows

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:downloads_downloadlog_changelist")


def sqlite_only(test: Callable[..., None]) -> Callable[..., None]:
    """A test of the FTS5 index, which exists on SQLite only: elsewhere it checks that there is
    none, and that the search does not ask for it (never a skip: CI allows none)."""

    @functools.wraps(test)
    def on_sqlite(*args: Any, **kwargs: Any) -> None:
        if connection.vendor != "sqlite":
            assert not logfts.ready(connection)
            assert logfts.TABLE not in connection.introspection.table_names()
            return
        test(*args, **kwargs)

    return on_sqlite


def log(name: str, ip: str | None = "127.0.0.1", **fields) -> DownloadLog:
    return DownloadLog.objects.create(
        file_name=name, ip=ip, status=200, outcome=Outcome.COMPLETE, **fields
    )


def indexed(term: str) -> set[int]:
    """The ids the FTS table alone gives for `term`."""
    with connection.cursor() as cursor:
        cursor.execute(logfts.matching_ids_sql(), [logfts.phrase(term)])
        return {row for (row,) in cursor.fetchall()}


def in_step() -> None:
    """FTS5's own check of the index against the log's rows (fails with 'malformed')."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {logfts.TABLE} ({logfts.TABLE}, rank)"  # noqa: S608 - constants
            " VALUES ('integrity-check', 1)"
        )


def djangos_search(rows, term: str) -> set[int]:
    plain = admin.ModelAdmin(DownloadLog, admin.site)
    plain.search_fields = DownloadLogAdmin.search_fields
    found, _ = plain.get_search_results(RequestFactory().get("/"), rows, term)
    return set(found.values_list("pk", flat=True))


def test_the_index_is_there_on_sqlite_only():
    if connection.vendor == "sqlite":
        assert logfts.unavailable_reason() is None  # SQLite 3.34+ with FTS5 here and in CI
        assert logfts.ready(connection)
    else:
        assert not logfts.ready(connection)
        assert logfts.TABLE not in connection.introspection.table_names()


@sqlite_only
def test_the_triggers_keep_the_index_through_insert_update_and_delete(alice, make_file):
    stored = make_file(name="Annual Report.pdf")
    first = log("Annual Report.pdf", file=stored, user=alice)
    second = log("notes.txt", ip="2001:db8::7")
    DownloadLog.objects.bulk_create(
        [DownloadLog(file_name=f"bulk {n}.txt", status=200, ip=None) for n in range(3)]
    )
    in_step()
    assert indexed("annual REPORT") == {first.pk}
    assert indexed("db8::") == {second.pk}
    assert len(indexed("bulk ")) == 3

    # An update of the searched columns moves the row in the index; of others, nothing.
    DownloadLog.objects.filter(pk=first.pk).update(file_name="renamed.pdf", ip="10.0.0.9")
    DownloadLog.objects.filter(pk=second.pk).update(status=206, bytes_sent=5)
    in_step()
    assert indexed("annual") == set()
    assert indexed("renamed") == {first.pk}
    assert indexed("10.0.0.9") == {first.pk}
    assert indexed("notes") == {second.pk}

    # The file deleted: its rows are unlinked (file_id set NULL), their names stay searchable.
    stored.delete()
    in_step()
    assert indexed("renamed") == {first.pk}

    DownloadLog.objects.filter(pk=second.pk).delete()
    DownloadLog.objects.filter(file_name__startswith="bulk").delete()
    in_step()
    assert indexed("notes") == set()
    assert indexed("bulk") == set()
    assert indexed("renamed") == {first.pk}


@sqlite_only
@pytest.mark.integration
@pytest.mark.parametrize("prune_storage", ["local"], indirect=True)
def test_pruned_rows_leave_the_index(prune_storage: PruneStorage):
    old = make_log_rows(7, days_old=400)
    young = make_log_rows(2, days_old=10)
    assert indexed("report-") == set(old) | set(young)
    call_command("prune", "--batch-size", "3", stdout=io.StringIO())
    in_step()
    assert indexed("report-") == set(young)
    assert indexed("192.0.2.7") == set(young)


@sqlite_only
def test_a_term_without_a_trigram_reads_the_log_and_finds_the_same_rows():
    rows = [log(name) for name in ("ab.txt", "xAB", "a", "abc")]
    assert indexed("ab") == set()  # the index cannot answer 1 or 2 characters...
    for term in ("ab", "a", "B", "ab abc"):
        expected = djangos_search(DownloadLog.objects.all(), term)
        assert {r.pk for r in search_log(DownloadLog.objects.all(), term)} == expected
    # ...and the search still finds them, by reading the log.
    assert djangos_search(DownloadLog.objects.all(), "ab") == {r.pk for r in rows} - {rows[2].pk}


def test_terms_the_index_cannot_parse_are_searched_without_it(admin_client):
    # FTS5's query syntax must never reach the user: quotes and operators are searched as the
    # characters they are, on both databases.
    row = log('we"ird *NEAR( AND nul 😀😀😀.txt')
    for term in ('we"ird', "*NEAR(", "AND", "😀😀😀", '"""', "col:umn", "{ab}", "-ab"):
        expected = djangos_search(DownloadLog.objects.all(), term)
        assert {r.pk for r in search_log(DownloadLog.objects.all(), term)} == expected, term
    assert djangos_search(DownloadLog.objects.all(), "*NEAR(") == {row.pk}
    # A NUL (which ends an FTS5 string, and PostgreSQL refuses in text) is in no row: nothing.
    assert list(search_log(DownloadLog.objects.all(), "nul \x00nul")) == []
    # Through the admin (whose search form may drop the NUL first): an answer, not an error.
    assert admin_client.get(CHANGELIST, {"q": "\x00nul"}).status_code == 200


@sqlite_only
def test_the_search_asks_the_index(alice):
    log("report 000123.txt", user=alice)
    found = search_log(DownloadLog.objects.order_by("-at"), "report 000123")
    sql, params = found.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        plan = "\n".join(str(row[-1]) for row in cursor.fetchall())
    assert "VIRTUAL TABLE INDEX" in plan, plan
    assert logfts.TABLE in plan, plan


@sqlite_only
def test_the_index_finds_more_than_like_and_the_search_keeps_djangos_rows():
    # The trigram index folds the case of every letter, SQLite's LIKE (Django's icontains)
    # only ASCII's: the index's "ÉTÉ" names both rows, the search only Django's one.
    upper, lower = log("RAPPORT ÉTÉ.txt"), log("rapport été.txt")
    assert indexed("été") == {upper.pk, lower.pk}
    expected = djangos_search(DownloadLog.objects.all(), "été")
    assert expected == {lower.pk}
    assert {r.pk for r in search_log(DownloadLog.objects.all(), "été")} == expected


@sqlite_only
def test_without_the_index_the_search_reads_the_log_and_finds_the_same_rows():
    rows = [log("report 1.txt"), log("other.txt", ip="10.1.1.1")]
    logfts.drop_triggers(connection)
    try:
        assert not logfts.ready(connection)
        assert {r.pk for r in search_log(DownloadLog.objects.all(), "report")} == {rows[0].pk}
        assert {r.pk for r in search_log(DownloadLog.objects.all(), "10.1.")} == {rows[1].pk}
    finally:
        logfts.create_triggers(connection)
    assert logfts.ready(connection)


def test_unavailable_sqlite_is_said_by_the_checks(monkeypatch):
    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 31, 1))
    monkeypatch.setattr(sqlite3, "sqlite_version", "3.31.1")
    warnings = logfts.sqlite_search_index(None)
    if connection.vendor != "sqlite":
        assert warnings == []
        return
    assert [w.id for w in warnings] == ["downloads.W115"]
    assert "3.31.1" in warnings[0].msg


@sqlite_only
@pytest.mark.django_db(transaction=True)
def test_the_migration_indexes_existing_rows_and_goes_back():
    executor = MigrationExecutor(connection)
    state = executor.migrate([("downloads", "0007_share_links")])
    try:
        assert logfts.TABLE not in connection.introspection.table_names()
        assert not logfts.ready(connection)
        # The log as it was then: later migrations add columns the current model writes.
        then = state.apps.get_model("downloads", "DownloadLog")
        before = then.objects.create(
            file_name="logged before the index.txt",
            ip="10.2.3.4",
            status=200,
            outcome=Outcome.COMPLETE,
        )
    finally:
        call_command("migrate", "downloads", verbosity=0)
    assert logfts.ready(connection)
    in_step()
    assert indexed("BEFORE the") == {before.pk}
    assert indexed("10.2.3") == {before.pk}
    after = log("logged after.txt")
    assert indexed("logged") == {before.pk, after.pk}


# --- the same searches, the same rows, on SQLite and on PostgreSQL ----------------------------

# (file name, user, ip) of each row, named by its position; every kind of text a search meets.
SAME_ROWS_DATA = [
    ("Annual Report 000123.pdf", "alice", "127.0.0.1"),
    ("annual report 000124.pdf", "bob", "10.1.2.3"),
    ("Zürich notes.txt", "carol", "2001:db8::1"),
    ("100% report_final.txt", None, None),
    ("plain.txt", "bob", "192.168.10.1"),
    ("", "alice", "::1"),
]
# Search -> the rows (positions above) the admin shows, the same on both databases: substring,
# case-insensitive, in file name, user name and IP. Not here: the case of non-ASCII letters
# ("zÜRICH"), which PostgreSQL folds (UPPER, in the database's locale) and SQLite's LIKE does not,
# as with Django's own icontains (README, Performance).
SAME_ROWS_EXPECTED = {
    "report": {0, 1, 3},
    "REPORT 000123": {0},
    "Zürich": {2},
    "ZüRICH": {2},
    "ürich": {2},
    "bob": {1, 4},
    "ALI": {0, 5},
    "10.1": {1, 4},
    "DB8::": {2},
    "100%": {3},
    "_final": {3},
    "%r": set(),
    "a": {0, 1, 2, 3, 4, 5},
    "re": {0, 1, 3},
    '"annual report"': {0, 1},
    "nothing like it": set(),
}


@pytest.fixture
def same_rows(alice, bob, carol) -> list[int]:
    people = {"alice": alice, "bob": bob, "carol": carol, None: None}
    now = timezone.now()
    made = DownloadLog.objects.bulk_create(
        DownloadLog(
            file_name=name,
            user=people[who],
            ip=ip,
            status=200 if name else 404,
            outcome=Outcome.COMPLETE if name else Outcome.DENIED,
            requested_id=None if name else uuid.uuid4(),
            at=now - timedelta(minutes=number),
        )
        for number, (name, who, ip) in enumerate(SAME_ROWS_DATA)
    )
    return [row.pk for row in made]


@pytest.mark.parametrize("term", list(SAME_ROWS_EXPECTED))
def test_the_same_searches_find_the_same_rows_on_either_database(admin_client, same_rows, term):
    page = admin_client.get(CHANGELIST, {"q": term})
    assert page.status_code == 200
    shown = {same_rows.index(row.pk) for row in page.context["cl"].result_list}
    assert shown == SAME_ROWS_EXPECTED[term], connection.vendor


@sqlite_only
def test_a_common_term_reads_the_log_newest_first_and_finds_the_same_rows(monkeypatch):
    rows = [log(f"report {n}.txt") for n in range(3)] + [log("rare report.txt")]
    monkeypatch.setattr(logfts, "INDEXED_AT_MOST", 2)
    assert not logfts.names_few_rows(connection, "report")  # 4 rows: common here
    assert logfts.names_few_rows(connection, "rare")
    for term in ("report", "rare report", "REPORT 1"):
        found = search_log(DownloadLog.objects.order_by("-at"), term)
        assert {r.pk for r in found} == djangos_search(DownloadLog.objects.all(), term), term
    sql, params = search_log(DownloadLog.objects.order_by("-at"), "report").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        plan = "\n".join(str(row[-1]) for row in cursor.fetchall())
    assert logfts.TABLE not in plan, plan
    assert {r.pk for r in search_log(DownloadLog.objects.all(), "rare report")} == {rows[3].pk}


def test_a_search_of_only_short_terms_reads_the_newest_rows_and_says_so(admin_client, monkeypatch):
    # On both databases: neither index can narrow a 1- or 2-character term.
    rows = [log(name) for name in ("ab old.txt", "ab middle.txt", "ab new.txt", "xyz.txt")]
    monkeypatch.setattr(logsearch, "SHORT_SEARCH_ROWS", 2)
    found = {r.pk for r in search_log(DownloadLog.objects.all(), "ab")}
    assert found == {rows[2].pk}  # the newest two rows are "ab new" and "xyz"
    page = admin_client.get(CHANGELIST, {"q": "ab"})
    assert {r.pk for r in page.context["cl"].result_list} == {rows[2].pk}
    assert "newest 2 log entries only" in page.text
    # One longer term: the whole log, no message.
    page = admin_client.get(CHANGELIST, {"q": "ab txt"})
    assert {r.pk for r in page.context["cl"].result_list} == {r.pk for r in rows[:3]}
    assert "entries only" not in page.text
