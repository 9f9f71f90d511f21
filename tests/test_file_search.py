"""The stored-file admin's search (downloads/filesearch.py): the files Django's own search over
the same fields finds, for every kind of term and for staff who see only some files, and on
PostgreSQL through the trigram indexes of migration 0011 instead of a scan of the files."""

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.test import RequestFactory
from django.urls import reverse

from downloads import logsearch, searchindexes
from downloads.access import downloadable_files
from downloads.admin import StoredFileAdmin
from downloads.filesearch import search_files
from downloads.models import StoredFile

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:downloads_storedfile_changelist")

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
    "quarterly",
    "figures",
    "%",
    "_",
    "\\",
    "report_",
    "100%",
    "nothing like it",
    "  report   ",
    "a",
    "zz",
]


@pytest.fixture
def files(alice, bob, carol, make_file):
    """Files of every kind the search meets: owners whose names are terms, descriptions,
    names with wildcards and accents, digests."""
    made = [
        make_file(b"a", name="annual report 000123.pdf", share_with=bob),
        make_file(b"b", name="Rapport d'été.txt", owner=carol),
        make_file(b"c", name="100% report_final.txt", owner=bob),
        make_file(b"d", name="notes.txt", owner=User.objects.create_user("user0001")),
        make_file(b"e", name="plain.bin"),
    ]
    made[3].description = "Quarterly FIGURES, see the annual report"
    made[3].save()
    made[4].description = "back\\slash"
    made[4].save()
    return made


def djangos_search(rows, term: str) -> set:
    """What Django's own ModelAdmin search finds with the stored-file admin's search fields."""
    plain = admin.ModelAdmin(StoredFile, admin.site)
    plain.search_fields = StoredFileAdmin.search_fields
    found, _ = plain.get_search_results(RequestFactory().get("/"), rows, term)
    return set(found.values_list("pk", flat=True))


def ids(found) -> set:
    return set(found.values_list("pk", flat=True))


@pytest.mark.parametrize("term", TERMS)
def test_the_same_files_as_djangos_search(files, term):
    every = StoredFile.objects.all()
    assert ids(search_files(every, term)) == djangos_search(every, term)


def test_the_terms_find_what_they_name(files):
    assert StoredFileAdmin.search_fields == ["name", "description", "owner__username", "sha256"]
    every = StoredFile.objects.all()
    assert len(ids(search_files(every, "report"))) == 3  # two names and a description
    assert len(ids(search_files(every, "alice"))) == 2  # alice's files, by owner
    assert len(ids(search_files(every, files[0].sha256[:12].upper()))) == 1
    assert len(ids(search_files(every, "100%"))) == 1
    assert ids(search_files(every, "")) == ids(every)
    assert ids(search_files(every, "report\x00")) == set()


def test_many_matching_owners_give_the_same_files(files, monkeypatch):
    monkeypatch.setattr(logsearch, "MAX_USER_IDS", 1)
    for term in ("b", "user", "report a", "o"):
        every = StoredFile.objects.all()
        assert ids(search_files(every, term)) == djangos_search(every, term), term


def test_the_changelist_shows_djangos_files(admin_client, files):
    for term in ("report", "bob", "report 000123", "quarterly", "nothing like it"):
        page = admin_client.get(CHANGELIST, {"q": term})
        assert page.status_code == 200
        shown = {stored.pk for stored in page.context["cl"].result_list}
        assert shown == djangos_search(StoredFile.objects.all(), term), term


def test_staff_who_see_some_files_find_only_those(client, files, bob):
    # Bob, staff with the view permission, may download his own files and what is shared
    # with him; his search finds what Django's finds among those.
    bob.is_staff = True
    bob.save()
    bob.user_permissions.add(Permission.objects.get(codename="view_storedfile"))
    client.force_login(bob)
    visible = downloadable_files(bob)
    assert 0 < visible.count() < StoredFile.objects.count()
    for term in ("report", "alice", "bob", "été", "txt"):
        page = client.get(CHANGELIST, {"q": term})
        shown = {stored.pk for stored in page.context["cl"].result_list}
        assert shown == djangos_search(visible, term), term
        assert shown <= ids(visible)


def test_postgresql_searches_the_files_through_the_trigram_indexes(alice, files):
    if connection.vendor != "postgresql":
        assert searchindexes.missing(connection, searchindexes.FILE_INDEXES) == []
        return
    assert searchindexes.missing(connection, searchindexes.FILE_INDEXES) == []
    changelist = StoredFileAdmin(StoredFile, admin.site)
    request = RequestFactory().get("/")
    every = StoredFile.objects.all()
    for term in ("000123", "alice"):
        found, _ = changelist.get_search_results(request, every, term)
        sql, params = found.order_by().query.sql_with_params()
        with connection.cursor() as cursor:
            # A handful of files: the planner would rightly read the table. With its scans off,
            # only a bitmap of index scans can answer Django's SQL (see test_log_search.py).
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("SET LOCAL enable_indexscan = off")
            cursor.execute(f"EXPLAIN {sql}", params)
            plan = "\n".join(line for (line,) in cursor.fetchall())
            cursor.execute("RESET enable_seqscan")
            cursor.execute("RESET enable_indexscan")
        for index in searchindexes.FILE_TRIGRAM_INDEXES:
            assert index in plan, plan
        assert "Seq Scan on downloads_storedfile" not in plan, plan
        assert "auth_user" not in plan, plan
