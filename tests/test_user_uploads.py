"""Uploads by users from My files, and the owner's sharing and deleting, through Django's whole
middleware stack in-process (downloads/views_upload.py, useruploads.py).

tests/test_user_uploads_live.py sends uploads over real sockets to gunicorn and nginx, on local
disk and S3; tests/test_browser_uploads.py drives them from Chromium.
"""

import io
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from django.urls import reverse
from django.utils import timezone

from downloads.access import downloadable_file
from downloads.models import Grant, StoredFile
from tests.conftest import sha256, stored_keys
from tests.test_bodylimit import post_unread

pytestmark = pytest.mark.django_db

UPLOAD_URL = "/files/upload"
JSON = {"HTTP_ACCEPT": "application/json"}
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 100


def upload_permission() -> Permission:
    return Permission.objects.get(codename="upload_files", content_type__app_label="downloads")


@pytest.fixture
def uploader(alice: User) -> User:
    alice.user_permissions.add(upload_permission())
    return User.objects.get(pk=alice.pk)  # permissions are cached per instance


@pytest.fixture
def uploader_client(client, uploader: User):
    client.force_login(uploader)
    return client


def upload(client, name: str, content: bytes, content_type: str = "text/plain", **extra):
    return client.post(
        UPLOAD_URL, {"file": SimpleUploadedFile(name, content, content_type)}, **{**JSON, **extra}
    )


# --- who may upload ---------------------------------------------------------------------------


def test_a_user_with_the_permission_uploads_and_owns_the_file(uploader_client, uploader):
    response = upload(uploader_client, "notes.txt", b"some notes\n")
    assert response.status_code == 201, response.content
    stored = StoredFile.objects.get()
    assert response.json()["id"] == str(stored.pk)
    assert stored.owner == uploader
    assert (stored.name, stored.size, stored.sha256) == ("notes.txt", 11, sha256(b"some notes\n"))
    assert stored.file.read() == b"some notes\n"
    assert downloadable_file(uploader, stored.pk) == stored


def test_the_permission_through_a_group_is_enough(client, bob):
    group = Group.objects.create(name="uploaders")
    group.permissions.add(upload_permission())
    group.user_set.add(bob)
    client.force_login(bob)
    assert upload(client, "a.txt", b"a").status_code == 201
    assert StoredFile.objects.get().owner == bob


def test_without_the_permission_the_upload_is_refused_and_the_panel_absent(client, bob):
    client.force_login(bob)
    response = upload(client, "a.txt", b"a")
    assert response.status_code == 403
    assert response.json() == {"error": "You may not upload files."}
    assert not StoredFile.objects.exists()
    page = client.get("/").content.decode()
    assert "upload-input" not in page
    assert "uploads.js" not in page


def test_the_panel_shows_for_an_uploader(uploader_client):
    page = uploader_client.get("/").content.decode()
    assert 'id="uploads"' in page
    assert "uploads.js" in page


def test_anonymous_is_sent_to_log_in(client):
    response = client.post(UPLOAD_URL, {"file": SimpleUploadedFile("a.txt", b"a")})
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]
    assert not StoredFile.objects.exists()


def test_a_large_body_from_a_user_without_the_permission_is_refused_unread(client, bob):
    client.force_login(bob)
    response, body = post_unread(client, UPLOAD_URL, length=5 * 1024**2)
    assert response.status_code == 413
    assert body.reads == 0


def test_the_csrf_token_is_checked(uploader):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(uploader)
    response = upload(strict, "a.txt", b"a")
    assert response.status_code == 403
    assert not StoredFile.objects.exists()


def test_get_is_not_allowed(uploader_client):
    assert uploader_client.get(UPLOAD_URL).status_code == 405


# --- names and types --------------------------------------------------------------------------


def test_the_type_comes_from_the_bytes_not_the_browser(uploader_client):
    response = upload(uploader_client, "picture.png", PNG, content_type="text/html")
    assert response.status_code == 201
    assert StoredFile.objects.get().content_type == "image/png"
    response = upload(uploader_client, "page.txt", b"<html><script>x</script>", "image/png")
    assert StoredFile.objects.get(pk=response.json()["id"]).content_type != "image/png"


def test_names_are_cleaned_as_admin_uploads_are(uploader_client, private_media: Path):
    response = upload(uploader_client, "../../etc/evil\u202etxt.exe\u200b", b"x")
    assert response.status_code == 201
    stored = StoredFile.objects.get()
    assert stored.name == "eviltxt.exe"  # last path component, no bidi override, no ZWSP
    # The storage key is generated, never the uploader's name.
    assert stored.file.name.startswith("files/")
    assert "evil" not in stored.file.name


# --- limits -----------------------------------------------------------------------------------


def test_a_file_over_the_per_file_limit_is_a_form_error(uploader_client, settings, private_media):
    settings.DOWNLOADS_USER_UPLOAD_MAX_BYTES = 10
    response = upload(uploader_client, "big.bin", b"x" * 11)
    assert response.status_code == 400
    assert "the limit is 10\xa0bytes" in response.json()["error"]
    assert not StoredFile.objects.exists()
    assert list(stored_keys(private_media)) == []


def test_a_body_past_the_per_file_limit_is_refused_unread(uploader_client, settings):
    settings.DOWNLOADS_USER_UPLOAD_MAX_BYTES = 10
    response, body = post_unread(uploader_client, UPLOAD_URL, length=2 * 1024**2)
    assert response.status_code == 413
    assert body.reads == 0


def test_a_body_within_the_limit_reaches_the_view(uploader_client, settings):
    # Past DOWNLOADS_MAX_REQUEST_BODY_BYTES, within the user upload limit: read.
    settings.DOWNLOADS_MAX_REQUEST_BODY_BYTES = 1000
    settings.DOWNLOADS_USER_UPLOAD_MAX_BYTES = 100_000
    assert upload(uploader_client, "a.bin", b"y" * 50_000).status_code == 201


def test_a_file_past_the_quota_is_refused_and_nothing_kept(
    uploader_client, uploader, make_file, settings, private_media
):
    settings.DOWNLOADS_USER_QUOTA_BYTES = 100
    make_file(b"z" * 60, owner=uploader)
    keys_before = set(stored_keys(private_media))
    response = upload(uploader_client, "more.bin", b"x" * 41)
    assert response.status_code == 413
    assert "quota of 100\xa0bytes" in response.json()["error"]
    assert StoredFile.objects.count() == 1
    assert set(stored_keys(private_media)) == keys_before  # the written bytes were taken back
    assert upload(uploader_client, "fits.bin", b"x" * 40).status_code == 201


def test_a_body_that_cannot_fit_the_quota_is_refused_unread(uploader_client, settings):
    settings.DOWNLOADS_USER_QUOTA_BYTES = 1000
    response, body = post_unread(uploader_client, UPLOAD_URL, length=3 * 1024**2, **JSON)
    assert response.status_code == 413
    assert "quota" in response.json()["error"]
    assert body.reads == 0


def test_no_quota_by_default(uploader_client, uploader, make_file):
    make_file(b"z" * 10_000, owner=uploader)
    assert upload(uploader_client, "a.bin", b"x" * 10_000).status_code == 201


def test_a_body_cut_short_is_refused_not_stored_truncated(uploader_client, private_media):
    """A client that leaves half way: the body ends before its Content-Length. Django's parser
    would complete the file it was reading as if whole."""
    whole = encode_multipart(BOUNDARY, {"file": SimpleUploadedFile("a.bin", b"q" * 100_000)})
    half = whole[: len(whole) // 2]
    response = uploader_client.generic(
        "POST",
        UPLOAD_URL,
        CONTENT_TYPE=MULTIPART_CONTENT,
        CONTENT_LENGTH=str(len(whole)),
        **{"wsgi.input": io.BytesIO(half)},
        **JSON,
    )
    assert response.status_code == 400
    assert "cut off" in response.json()["error"]
    assert not StoredFile.objects.exists()
    assert list(stored_keys(private_media)) == []


def test_an_empty_post_says_no_file_arrived(uploader_client):
    response = uploader_client.post(UPLOAD_URL, {}, **JSON)
    assert response.status_code == 400
    assert "No file arrived" in response.json()["error"]


def test_without_javascript_the_form_redirects_with_a_message(uploader_client):
    response = uploader_client.post(UPLOAD_URL, {"file": SimpleUploadedFile("a.txt", b"a")})
    assert response.status_code == 302
    stored = StoredFile.objects.get()
    assert response["Location"] == stored.get_absolute_url()
    page = uploader_client.get(response["Location"]).content.decode()
    assert "Uploaded “a.txt”" in page


def test_a_storage_failure_keeps_nothing(uploader_client, monkeypatch, private_media):
    from django.core.files.storage import FileSystemStorage

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(FileSystemStorage, "_save", full_disk)
    response = upload(uploader_client, "a.txt", b"a")
    assert response.status_code == 503
    assert "no room left" in response.json()["error"]
    assert not StoredFile.objects.exists()


# --- the owner shares and deletes -------------------------------------------------------------


def test_the_owner_shares_with_a_user_until_a_moment(alice_client, make_file, bob):
    stored = make_file()
    until = timezone.now() + timedelta(days=3)
    response = alice_client.post(
        reverse("downloads:file-share", args=[stored.pk]),
        # As the browser's datetime-local picker sends it.
        {"username": "bob", "expires_at": until.strftime("%Y-%m-%dT%H:%M")},
    )
    assert response.status_code == 302
    grant = Grant.objects.get(file=stored)
    assert grant.user == bob
    assert grant.expires_at == until.replace(second=0, microsecond=0)
    assert downloadable_file(bob, stored.pk) == stored
    page = alice_client.get(stored.get_absolute_url()).content.decode()
    assert "user bob" in page
    assert "Revoke" in page


def test_the_owner_shares_with_one_of_their_groups(alice_client, alice, make_file, reviewers, bob):
    stored = make_file()
    other = Group.objects.create(name="strangers")
    url = reverse("downloads:file-share", args=[stored.pk])
    # alice is not in "reviewers" yet: not hers to choose.
    assert alice_client.post(url, {"group": reviewers.pk}).status_code == 400
    reviewers.user_set.add(alice)
    assert alice_client.post(url, {"group": reviewers.pk}).status_code == 302
    assert Grant.objects.get(file=stored).group == reviewers
    assert downloadable_file(bob, stored.pk) == stored
    assert alice_client.post(url, {"group": other.pk}).status_code == 400


@pytest.mark.parametrize(
    ("form", "words"),
    [
        ({"username": "nobody"}, "There is no user"),
        ({"username": "alice"}, "You own this file already"),
        ({}, "Name one user or choose one group"),
        ({"username": "bob", "expires_at": "2001-01-01 00:00"}, "That moment has passed"),
    ],
)
def test_a_share_that_cannot_be_done_is_a_form_error(alice_client, make_file, bob, form, words):
    stored = make_file()
    response = alice_client.post(reverse("downloads:file-share", args=[stored.pk]), form)
    assert response.status_code == 400
    assert words in response.content.decode()
    assert not Grant.objects.exists()


def test_the_owner_revokes_a_grant(alice_client, make_file, bob):
    stored = make_file(share_with=bob)
    grant = Grant.objects.get()
    url = reverse("downloads:grant-revoke", args=[stored.pk])
    assert alice_client.post(url, {"grant": "x"}).status_code == 400
    assert alice_client.post(url, {"grant": grant.pk + 1}).status_code == 404
    response = alice_client.post(url, {"grant": grant.pk})
    assert response.status_code == 302
    assert not Grant.objects.exists()
    assert downloadable_file(bob, stored.pk) is None


def test_only_the_owner_shares_revokes_or_deletes(client, make_file, bob):
    stored = make_file(share_with=bob)
    grant = Grant.objects.get()
    client.force_login(bob)  # may download it, does not own it
    assert "sharing" not in client.get(stored.get_absolute_url()).content.decode()
    for url in (
        reverse("downloads:file-share", args=[stored.pk]),
        reverse("downloads:grant-revoke", args=[stored.pk]),
        reverse("downloads:file-delete", args=[stored.pk]),
    ):
        assert client.post(url, {"username": "bob", "grant": grant.pk}).status_code == 404, url
    assert StoredFile.objects.exists()
    assert Grant.objects.count() == 1


def test_delete_asks_first_then_deletes_row_and_bytes(
    alice_client, make_file, private_media, django_capture_on_commit_callbacks
):
    stored = make_file()
    url = reverse("downloads:file-delete", args=[stored.pk])
    confirm = alice_client.get(url)
    assert confirm.status_code == 200
    assert "Delete for good" in confirm.content.decode()
    assert StoredFile.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(url)
    assert response.status_code == 302
    assert not StoredFile.objects.exists()
    assert list(stored_keys(private_media)) == []


def test_the_delete_views_bytes_go_only_once_the_delete_commits(
    alice_client, make_file, private_media, django_capture_on_commit_callbacks
):
    stored = make_file()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = alice_client.post(reverse("downloads:file-delete", args=[stored.pk]))
    assert response.status_code == 302
    assert not StoredFile.objects.exists()
    assert len(list(stored_keys(private_media))) == 1  # not before the commit
    assert len(callbacks) == 1
    callbacks[0]()
    assert list(stored_keys(private_media)) == []
