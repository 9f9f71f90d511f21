"""The download log's admin search (downloads/logsearch.py): the rows Django's own search over
the same fields finds, for every user and every kind of term, and on PostgreSQL through the
trigram indexes of migration 0006 instead of a scan of the log."""

import uuid
from datetime import timedelta

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from downloads import logsearch, searchindexes
from downloads.admin import DownloadLogAdmin
from downloads.logaccess import visible_log_entries
from downloads.logsearch import search_log
from downloads.models import DownloadLog, Outcome

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:downloads_downloadlog_changelist")

TERMS = [
    "report",
    "REPORT",
    "Rép",
    "éTÉ",
    "000123",
    "report 000123",
    "report alice",
    '"annual report"',
    "'annual report'",
    '"annual',
    "ali",
    "bob",
    "user",
    "127.0.0",
    "10.1",
    "2001:db8",
    "DB8",
    "%",
    "_",
    "\\",
    "report_",
    "100%",
    "nothing like it",
    "  report   ",
    "a",
]


@pytest.fixture
def rows(alice, bob, carol, make_file):
    """Rows of every kind the search meets: users or none, IPv4/IPv6 or none, names with
    wildcards and accents, a file deleted since, a denied request."""
    report = make_file(name="annual report 000123.pdf", share_with=bob)
    summer = make_file(name="Rapport d'été.txt")
    wild = make_file(name="100% report_final.txt")
    gone = make_file(name="report gone.txt")
    user_one = User.objects.create_user("user0001")
    now = timezone.now()
    made = []
    specs = [
        (report, alice, "127.0.0.1"),
        (report, bob, "10.1.2.3"),
        (summer, carol, "2001:db8::1"),
        (summer, None, None),
        (wild, user_one, "192.168.10.1"),
        (wild, bob, "::1"),
        (gone, alice, "10.10.10.10"),
    ]
    for number, (stored, who, ip) in enumerate(specs):
        made.append(
            DownloadLog(
                file=stored,
                file_name=stored.name,
                user=who,
                ip=ip,
                status=200,
                outcome=Outcome.COMPLETE,
                at=now - timedelta(minutes=number),
            )
        )
    made.append(
        DownloadLog(
            file=None,
            file_name="",
            user=bob,
            ip="127.0.0.1",
            status=404,
            outcome=Outcome.DENIED,
            requested_id=uuid.uuid4(),
            at=now,
        )
    )
    DownloadLog.objects.bulk_create(made)
    gone.delete()
    return made


def djangos_search(rows, term: str) -> set[int]:
    """What Django's own ModelAdmin search finds with the log admin's search fields."""
    plain = admin.ModelAdmin(DownloadLog, admin.site)
    plain.search_fields = DownloadLogAdmin.search_fields
    request = RequestFactory().get("/")
    found, _ = plain.get_search_results(request, rows, term)
    return set(found.values_list("pk", flat=True))


def ids(found) -> set[int]:
    return set(found.values_list("pk", flat=True))


@pytest.mark.parametrize("term", TERMS)
def test_the_same_rows_as_djangos_search(rows, term):
    expected = djangos_search(DownloadLog.objects.all(), term)
    assert ids(search_log(DownloadLog.objects.all(), term)) == expected


def test_the_terms_find_what_they_name(rows):
    # The fields the admin shows as searched are the ones logsearch answers for.
    assert DownloadLogAdmin.search_fields == ["file_name", "user__username", "ip"]
    # The comparison above is not a comparison of empty sets.
    every = DownloadLog.objects.all()
    assert len(ids(search_log(every, "report"))) == 5  # deleted file's row kept its name
    assert len(ids(search_log(every, "bob"))) == 3
    assert len(ids(search_log(every, "2001:DB8"))) == 1
    assert len(ids(search_log(every, "100%"))) == 2
    assert len(ids(search_log(every, "RAPPORT été"))) == 2
    assert ids(search_log(every, "")) == ids(every)


def test_many_matching_users_give_the_same_rows(rows, monkeypatch):
    # Past MAX_USER_IDS a term's users are a subquery instead of a list: the same rows.
    monkeypatch.setattr(logsearch, "MAX_USER_IDS", 1)
    for term in ("b", "user", "report a", "o"):
        assert ids(search_log(DownloadLog.objects.all(), term)) == djangos_search(
            DownloadLog.objects.all(), term
        ), term


def test_the_changelist_shows_djangos_rows(admin_client, rows):
    for term in ("report", "bob", "127.0.0.1", "report 000123", "nothing like it"):
        page = admin_client.get(CHANGELIST, {"q": term})
        assert page.status_code == 200
        shown = {row.pk for row in page.context["cl"].result_list}
        assert shown == djangos_search(DownloadLog.objects.all(), term), term


def test_staff_who_see_some_rows_find_only_those(client, rows, bob, alice):
    # Bob, staff with the view permission, may download only what is shared with him: the
    # report. His search finds what Django's search finds among the rows he may read.
    bob.is_staff = True
    bob.save()
    bob.user_permissions.add(Permission.objects.get(codename="view_downloadlog"))
    client.force_login(bob)
    visible = visible_log_entries(bob)
    assert 0 < visible.count() < DownloadLog.objects.count()
    for term in ("report", "alice", "bob", "127.0.0.1", "été"):
        shown = {row.pk for row in client.get(CHANGELIST, {"q": term}).context["cl"].result_list}
        assert shown == djangos_search(visible, term), term
        assert shown <= ids(visible)


def test_a_file_id_still_finds_its_rows_and_denied_requests(admin_client, rows):
    denied = rows[-1]
    page = admin_client.get(CHANGELIST, {"q": str(denied.requested_id)})
    assert {row.pk for row in page.context["cl"].result_list} == {denied.pk}
    report = rows[0].file
    page = admin_client.get(CHANGELIST, {"q": str(report.pk)})
    assert {row.pk for row in page.context["cl"].result_list} == {rows[0].pk, rows[1].pk}


def _plan(queryset) -> str:
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        # Whether the indexes can answer Django's SQL at all (their expressions are the ones its
        # icontains writes): with the table's scans off, only a bitmap of index scans avoids a
        # Seq Scan. On a test's few rows the planner would rightly read the table instead; its
        # choice on millions of rows is in the README (EXPLAIN, bench-admin).
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(line for (line,) in cursor.fetchall())
        cursor.execute("RESET enable_seqscan")
        cursor.execute("RESET enable_indexscan")
    return plan


def test_postgresql_searches_through_the_trigram_indexes(alice, make_file):
    if connection.vendor != "postgresql":
        # SQLite: no substring index, nothing built (the search's rows are tested above).
        assert searchindexes.missing(connection) == []
        return
    assert searchindexes.missing(connection) == []
    stored = make_file(name="common.txt")
    now = timezone.now()
    DownloadLog.objects.bulk_create(
        DownloadLog(
            file=stored,
            file_name=f"common {number % 50}.txt" if number != 77 else "rare 000123.txt",
            user=alice,
            ip="127.0.0.1" if number != 78 else "10.9.8.7",
            status=200,
            at=now - timedelta(seconds=number),
        )
        for number in range(2_000)
    )
    changelist = DownloadLogAdmin(DownloadLog, admin.site)
    request = RequestFactory().get("/")
    every = DownloadLog.objects.order_by("-at", "-pk")
    searches = [
        ("000123", ["downloadlog_file_name_trgm", "downloadlog_ip_trgm"]),
        ("10.9.8", ["downloadlog_file_name_trgm", "downloadlog_ip_trgm"]),
        ("alice", ["downloadlog_file_name_trgm", "downloadlog_ip_trgm", "downloadlog_user_at"]),
        (str(stored.pk), ["downloadlog_requested_id"]),
    ]
    for term, indexes in searches:
        found, _ = changelist.get_search_results(request, every, term)
        plan = _plan(found.order_by())
        for index in indexes:
            assert index in plan, plan
        assert "Seq Scan on downloads_downloadlog" not in plan, plan
        assert "auth_user" not in plan, plan
    assert len(changelist.get_search_results(request, every, "000123")[0]) == 1
    assert len(changelist.get_search_results(request, every, "10.9.8")[0]) == 1


@pytest.mark.django_db(transaction=True)
def test_an_interrupted_index_build_is_built_again():
    # A CONCURRENTLY build that fails leaves an invalid index under the name; running the
    # migration's step again must replace it, not keep it because the name exists.
    if connection.vendor != "postgresql":
        searchindexes.create(connection)  # nothing to build on SQLite
        assert searchindexes.missing(connection) == []
        return
    name = "downloadlog_file_name_trgm"
    searchindexes.drop(connection)
    assert set(searchindexes.missing(connection)) == set(searchindexes.TRIGRAM_INDEXES)
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE INDEX {name} ON downloads_downloadlog (file_name)")
        # What an interrupted build leaves: the test cluster's superuser marks it unusable.
        cursor.execute(
            "UPDATE pg_index SET indisvalid = false WHERE indexrelid = to_regclass(%s)", [name]
        )
    assert name in searchindexes.missing(connection)
    searchindexes.create(connection)
    assert searchindexes.missing(connection) == []
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [name])
        (definition,) = cursor.fetchone()
    assert "USING gin" in definition
    assert "gin_trgm_ops" in definition
