"""The zip of selected files: POST /files.zip from "My files", and the StoredFile admin action."""

import io
import re
import uuid
import zipfile

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from downloads.models import DownloadLog

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
ZIP_URL = reverse("downloads:zip")


def body_of(response) -> bytes:
    return b"".join(response.streaming_content)


def members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        return {name: archive.read(name) for name in archive.namelist()}


@pytest.fixture
def three_files(make_file, bob):
    return [
        make_file(PNG, "photo.png"),
        make_file(b"%PDF-1.4\nreport\n", "report.pdf"),
        make_file(
            PNG, "shared by bob.png", owner=bob, share_with=User.objects.get(username="alice")
        ),
    ]


def test_selected_files_come_as_one_zip_with_an_exact_length(alice_client, three_files):
    response = alice_client.post(ZIP_URL, {"file": [str(stored.pk) for stored in three_files]})
    assert response.status_code == 200
    data = body_of(response)
    assert response["Content-Type"] == "application/zip"
    assert int(response["Content-Length"]) == len(data)
    assert re.fullmatch(
        r'attachment; filename="files-\d{8}-\d{6}\.zip"', response["Content-Disposition"]
    )
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cache-Control"] == "private, no-store"
    assert response["Accept-Ranges"] == "none"
    assert response["X-Accel-Buffering"] == "no"  # nginx passes it on as it is made
    assert members(data) == {stored.name: stored.file.open("rb").read() for stored in three_files}


def test_text_is_deflated_and_then_there_is_no_length(alice_client, make_file):
    text = b"line of text\n" * 5000
    stored = make_file(text, "notes.txt")
    response = alice_client.post(ZIP_URL, {"file": [str(stored.pk)]})
    assert response.status_code == 200
    assert not response.has_header("Content-Length")
    data = body_of(response)
    assert len(data) < len(text) / 10
    assert members(data) == {"notes.txt": text}


def test_each_file_is_logged_in_one_query(alice_client, alice, three_files):
    with CaptureQueriesContext(connection) as queries:
        response = alice_client.post(ZIP_URL, {"file": [str(stored.pk) for stored in three_files]})
        assert not DownloadLog.objects.exists()  # written when the body ends
        body_of(response)
    inserts = [q["sql"] for q in queries if 'INSERT INTO "downloads_downloadlog"' in q["sql"]]
    assert len(inserts) == 1
    logs = DownloadLog.objects.order_by("file_name")
    assert {(log.outcome, log.bytes_sent == log.bytes_planned) for log in logs} == {
        ("complete", True)
    }
    assert [(log.file_name, log.user, log.status, log.delivery) for log in logs] == [
        ("photo.png", alice, 200, "zip"),
        ("report.pdf", alice, 200, "zip"),
        ("shared by bob.png", alice, 200, "zip"),
    ]
    assert {log.file_id: log.bytes_sent for log in logs} == {s.pk: s.size for s in three_files}


def test_a_forbidden_file_fails_the_whole_request_like_a_missing_one(
    alice_client, make_file, carol
):
    mine = make_file(PNG, "mine.png")
    not_mine = make_file(PNG, "carol's.png", owner=carol)
    absent = uuid.uuid4()
    forbidden = alice_client.post(ZIP_URL, {"file": [str(mine.pk), str(not_mine.pk)]})
    missing = alice_client.post(ZIP_URL, {"file": [str(mine.pk), str(absent)]})
    assert forbidden.status_code == missing.status_code == 404
    assert forbidden.content == missing.content
    # Logged as denied, one row per id refused, naming no file: the answer says nothing more.
    assert list(
        DownloadLog.objects.order_by("pk").values_list(
            "requested_id", "file", "status", "outcome", "delivery"
        )
    ) == [(not_mine.pk, None, 404, "denied", "zip"), (absent, None, 404, "denied", "zip")]


def test_the_most_files_allowed_fit_in_one_form(alice_client, make_file, settings):
    mine = make_file(PNG, "mine.png")
    ids = [str(mine.pk)] + [str(uuid.uuid4()) for _ in range(settings.DOWNLOADS_ZIP_MAX_FILES - 1)]
    form = {"file": ids, "csrfmiddlewaretoken": "as a browser sends it"}
    # Parsed, not refused as too many form fields: the unknown ids make it the ordinary 404.
    assert alice_client.post(ZIP_URL, form).status_code == 404


def test_members_come_in_the_order_the_files_were_named(alice_client, three_files):
    named = [three_files[2], three_files[0], three_files[1]]
    response = alice_client.post(ZIP_URL, {"file": [str(stored.pk) for stored in named]})
    assert list(members(body_of(response))) == [stored.name for stored in named]


def test_the_same_id_twice_is_one_member(alice_client, make_file):
    stored = make_file(PNG, "photo.png")
    response = alice_client.post(ZIP_URL, {"file": [str(stored.pk), str(stored.pk)]})
    assert list(members(body_of(response))) == ["photo.png"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "Tick at least one file."),
        ({"file": ["not-a-uuid"]}, "is not a file id"),
        ({"file": [""]}, "is not a file id"),
    ],
)
def test_bad_selections_are_a_400_with_a_way_back(alice_client, data, message):
    response = alice_client.post(ZIP_URL, {**data, "q": "holiday"})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert f'href="{reverse("downloads:file-list")}?q=holiday"' in response.content.decode()


def test_more_files_than_allowed_is_a_413(alice_client, make_file, settings):
    settings.DOWNLOADS_ZIP_MAX_FILES = 2
    files = [make_file(PNG, f"{n}.png") for n in range(3)]
    response = alice_client.post(ZIP_URL, {"file": [str(stored.pk) for stored in files]})
    assert response.status_code == 413
    assert "3 files are more than one zip may hold (at most 2)" in response.content.decode()
    assert not DownloadLog.objects.exists()


def test_more_bytes_than_allowed_is_a_413(alice_client, make_file, settings):
    settings.DOWNLOADS_ZIP_MAX_BYTES = 2 * len(PNG) - 1
    files = [make_file(PNG, f"{n}.png") for n in range(2)]
    response = alice_client.post(ZIP_URL, {"file": [str(stored.pk) for stored in files]})
    assert response.status_code == 413
    assert "more than one zip may hold" in response.content.decode()


def test_all_matching_the_search_honours_the_search_and_the_policy(alice_client, make_file, carol):
    make_file(PNG, "holiday 1.png")
    make_file(PNG, "holiday 2.png")
    make_file(PNG, "work.png")
    make_file(PNG, "carol's holiday.png", owner=carol)
    response = alice_client.post(ZIP_URL, {"all": "1", "q": " holiday "})
    assert response.status_code == 200
    assert sorted(members(body_of(response))) == ["holiday 1.png", "holiday 2.png"]


def test_all_matching_past_the_limit_is_a_413(alice_client, make_file, settings):
    settings.DOWNLOADS_ZIP_MAX_FILES = 2
    for n in range(4):
        make_file(PNG, f"{n}.png")
    response = alice_client.post(ZIP_URL, {"all": "1", "q": ""})
    assert response.status_code == 413
    assert "4 files are more than" in response.content.decode()


def test_all_matching_nothing_is_a_400(alice_client):
    response = alice_client.post(ZIP_URL, {"all": "1", "q": "nothing like this"})
    assert response.status_code == 400


def test_get_is_not_allowed_and_anonymous_users_log_in_first(client, alice_client, make_file):
    stored = make_file(PNG)
    assert alice_client.get(ZIP_URL, {"file": str(stored.pk)}).status_code == 405
    anonymous = client.__class__().post(ZIP_URL, {"file": [str(stored.pk)]})
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith(reverse("login"))


def test_the_zip_post_needs_the_csrf_token(alice, make_file):
    stored = make_file(PNG)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)
    assert browser.post(ZIP_URL, {"file": [str(stored.pk)]}).status_code == 403
    page = browser.get(reverse("downloads:file-list"))
    token = page.context["csrf_token"]
    response = browser.post(ZIP_URL, {"file": [str(stored.pk)], "csrfmiddlewaretoken": token})
    assert response.status_code == 200


def test_the_file_list_offers_the_zip_and_csv(alice_client, make_file):
    stored = make_file(PNG, "photo.png")
    page = alice_client.get(reverse("downloads:file-list"), {"q": "pho"}).content.decode()
    assert f'<form id="zip-form" method="post" action="{ZIP_URL}">' in page
    assert f'name="file" value="{stored.pk}" form="zip-form"' in page
    assert '<input type="hidden" name="q" value="pho">' in page
    assert f'href="{reverse("downloads:files-csv")}?q=pho"' in page


# --- the admin action ----------------------------------------------------------------------


@pytest.fixture
def admin_client_of_alice(client, alice):
    alice.is_staff = alice.is_superuser = True
    alice.save()
    client.force_login(alice)
    return client


def test_admin_action_zips_the_selected_files(admin_client_of_alice, three_files):
    changelist = reverse("admin:downloads_storedfile_changelist")
    response = admin_client_of_alice.post(
        changelist,
        {
            "action": "download_as_zip",
            ACTION_CHECKBOX_NAME: [str(stored.pk) for stored in three_files[:2]],
        },
    )
    assert response.status_code == 200
    assert response["Accept-Ranges"] == "none"
    assert sorted(members(body_of(response))) == ["photo.png", "report.pdf"]
    assert DownloadLog.objects.filter(delivery="zip").count() == 2


def test_admin_action_past_the_limit_says_why(admin_client_of_alice, three_files, settings):
    settings.DOWNLOADS_ZIP_MAX_FILES = 2
    changelist = reverse("admin:downloads_storedfile_changelist")
    response = admin_client_of_alice.post(
        changelist,
        {"action": "download_as_zip", "select_across": "1", ACTION_CHECKBOX_NAME: ["x"]},
        follow=True,
    )
    assert response.status_code == 200
    assert "3 files are more than one zip may hold" in response.content.decode()
    assert not DownloadLog.objects.exists()


# --- the limits' settings ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "value", "check_id"),
    [
        ("DOWNLOADS_ZIP_MAX_FILES", 0, "downloads.E020"),
        ("DOWNLOADS_ZIP_MAX_BYTES", 0, "downloads.E021"),
        ("DOWNLOADS_ZIP_DEFLATE_MAX_BYTES", -1, "downloads.E022"),
    ],
)
def test_nonsense_zip_limits_stop_the_start(settings, setting, value, check_id):
    setattr(settings, setting, value)
    with pytest.raises(SystemCheckError, match=check_id):
        call_command("check")
