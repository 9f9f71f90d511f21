"""`manage.py demo`: users, a group and sample files that show every kind of answer, once."""

import io
import re

import pytest
from django.contrib.auth import authenticate
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.test import RequestFactory
from django.utils import timezone

from downloads.access import downloadable_files
from downloads.models import DownloadLog, Grant, ShareLink, StoredFile
from tests.conftest import stored_keys


def login_request():
    """The request a login form makes: django-axes' backend needs one to count the attempt."""
    return RequestFactory().post("/accounts/login/")


pytestmark = pytest.mark.django_db

PASSWORD = "demo-pass-1234"
EXPECTED_TYPES = {
    "Quarterly report.pdf": "application/pdf",
    "Harbour at dusk.png": "image/png",
    "Launch teaser.webm": "video/webm",
    "résumé 2024.txt": "text/plain; charset=utf-8",
    "landing-page.html": "text/html; charset=utf-8",
}


def run_demo(monkeypatch, password: str | None = PASSWORD, *options: str) -> str:
    if password is None:
        monkeypatch.delenv("DEMO_PASSWORD", raising=False)
    else:
        monkeypatch.setenv("DEMO_PASSWORD", password)
    out = io.StringIO()
    call_command("demo", *options, stdout=out)
    return out.getvalue()


def opens_the_demo_users(password: str) -> bool:
    return all(
        authenticate(login_request(), username=username, password=password) is not None
        for username in ("alice", "bob", "admin")
    )


def snapshot() -> dict:
    """Everything the demo creates, in a form two runs can be compared by."""
    return {
        "users": sorted(User.objects.values_list("pk", "username", "password", "is_staff")),
        "groups": sorted(Group.objects.values_list("pk", "name")),
        "members": sorted(User.groups.through.objects.values_list("user_id", "group_id")),
        "files": sorted(
            StoredFile.objects.values_list("pk", "name", "file", "sha256", "updated", "owner_id")
        ),
        "grants": sorted(
            Grant.objects.values_list("pk", "file_id", "user_id", "group_id", "expires_at")
        ),
    }


@pytest.fixture
def demo(monkeypatch) -> str:
    return run_demo(monkeypatch)


def file_named(name: str) -> StoredFile:
    return StoredFile.objects.get(name=name)


def test_users_and_group(demo):
    alice, bob, admin = (User.objects.get(username=n) for n in ("alice", "bob", "admin"))
    assert (alice.is_staff, alice.is_superuser) == (False, False)
    assert (bob.is_staff, bob.is_superuser) == (False, False)
    assert (admin.is_staff, admin.is_superuser) == (True, True)
    reviewers = Group.objects.get(name="reviewers")
    assert list(reviewers.user_set.all()) == [bob]


def test_the_uploader_may_upload_through_a_group_and_nobody_else_may(demo):
    from downloads.useruploads import may_upload

    uploader = User.objects.get(username="uploader")
    assert (uploader.is_staff, uploader.is_superuser) == (False, False)
    assert [group.name for group in uploader.groups.all()] == ["uploaders"]
    assert may_upload(uploader)
    assert not any(may_upload(User.objects.get(username=n)) for n in ("alice", "bob"))


@pytest.mark.parametrize("username", ["alice", "bob", "uploader", "admin"])
def test_passwords_from_the_environment_work(demo, username):
    assert authenticate(login_request(), username=username, password=PASSWORD) is not None
    assert authenticate(login_request(), username=username, password="wrong") is None


def test_five_files_owned_by_alice(demo, private_media):
    alice = User.objects.get(username="alice")
    files = StoredFile.objects.all()
    assert {f.name: f.content_type for f in files} == EXPECTED_TYPES
    assert {f.owner for f in files} == {alice}
    assert sorted(stored_keys(private_media)) == sorted(f.file.name for f in files)
    for stored in files:
        assert stored.size == (private_media / stored.file.name).stat().st_size > 0


def test_who_may_have_what(demo):
    bob = User.objects.get(username="bob")
    alice = User.objects.get(username="alice")
    reviewers = Group.objects.get(name="reviewers")
    assert Grant.objects.filter(file__name="Quarterly report.pdf", user=bob).exists()
    assert Grant.objects.filter(file__name="Harbour at dusk.png", group=reviewers).exists()
    assert not Grant.objects.filter(file__name="résumé 2024.txt").exists()

    assert set(downloadable_files(alice).values_list("name", flat=True)) == set(EXPECTED_TYPES)
    bobs = set(downloadable_files(bob).values_list("name", flat=True))
    assert "Quarterly report.pdf" in bobs  # directly
    assert "Harbour at dusk.png" in bobs  # through the group
    assert "résumé 2024.txt" not in bobs  # only alice's

    # A fresh user sees nothing of it.
    stranger = User.objects.create_user("stranger", password="x")
    assert not downloadable_files(stranger).exists()


def test_running_twice_changes_nothing(monkeypatch, private_media):
    run_demo(monkeypatch)
    before = snapshot()
    keys = sorted(stored_keys(private_media))
    out = run_demo(monkeypatch, password="a-different-password")
    assert snapshot() == before
    assert sorted(stored_keys(private_media)) == keys
    assert "unchanged" in out
    assert authenticate(login_request(), username="alice", password=PASSWORD) is not None
    wrong = authenticate(login_request(), username="alice", password="a-different-password")
    assert wrong is None


def test_without_demo_password_a_generated_one_is_printed(monkeypatch):
    out = run_demo(monkeypatch, password=None)
    found = re.search(r"password: (\S+)", out)
    assert found, out
    generated = found[1]
    assert len(generated) >= 12
    for username in ("alice", "bob", "admin"):
        assert authenticate(login_request(), username=username, password=generated) is not None
    # Not printed again: the second run has nothing new to tell.
    assert generated not in run_demo(monkeypatch, password=None)


def test_an_empty_demo_password_counts_as_none(monkeypatch):
    out = run_demo(monkeypatch, password="")
    generated = re.search(r"password: (\S+)", out)[1]
    assert generated
    assert authenticate(login_request(), username="alice", password=generated) is not None


# --- the password file `make run` keeps (.demo_password) ------------------------------------


def test_the_password_the_users_are_created_with_is_kept_in_the_file(monkeypatch, tmp_path):
    kept = tmp_path / ".demo_password"
    out = run_demo(monkeypatch, "chosen-by-env-1", "--password-file", str(kept))
    assert "Their password: chosen-by-env-1" in out
    assert kept.read_text() == "chosen-by-env-1\n"
    assert kept.stat().st_mode & 0o777 == 0o600
    assert opens_the_demo_users("chosen-by-env-1")


def test_without_demo_password_the_file_is_used(monkeypatch, tmp_path):
    kept = tmp_path / ".demo_password"
    kept.write_text("kept-from-last-time\n")
    out = run_demo(monkeypatch, None, "--password-file", str(kept))
    assert "Their password: kept-from-last-time" in out
    assert opens_the_demo_users("kept-from-last-time")


def test_demo_password_wins_over_the_file_and_replaces_it(monkeypatch, tmp_path):
    kept = tmp_path / ".demo_password"
    kept.write_text("kept-from-last-time\n")
    run_demo(monkeypatch, "chosen-by-env-2", "--password-file", str(kept))
    assert kept.read_text() == "chosen-by-env-2\n"
    assert opens_the_demo_users("chosen-by-env-2")


def test_a_generated_password_is_kept_in_the_file(monkeypatch, tmp_path):
    kept = tmp_path / ".demo_password"
    out = run_demo(monkeypatch, None, "--password-file", str(kept))
    generated = kept.read_text().strip()
    assert len(generated) >= 12
    assert f"Their password: {generated}" in out
    assert opens_the_demo_users(generated)


def test_existing_users_keep_their_password_and_the_file_keeps_it_too(monkeypatch, tmp_path):
    kept = tmp_path / ".demo_password"
    run_demo(monkeypatch, "the-first-password", "--password-file", str(kept))
    out = run_demo(monkeypatch, "a-later-password", "--password-file", str(kept))
    # Never reset: the same command on a database with a real "admin" must not change it.
    assert "unchanged" in out
    assert "start from a new database" in out
    assert kept.read_text() == "the-first-password\n"
    assert opens_the_demo_users("the-first-password")
    # The same password again, or none: nothing to warn about.
    assert "new database" not in run_demo(monkeypatch, None, "--password-file", str(kept))
    assert "new database" not in run_demo(
        monkeypatch, "the-first-password", "--password-file", str(kept)
    )


# --- the samples through the download view ------------------------------------------------------


@pytest.fixture
def alice_demo_client(demo, client):
    client.force_login(User.objects.get(username="alice"))
    return client


def test_the_html_sample_never_renders(alice_demo_client):
    url = file_named("landing-page.html").get_download_url()
    response = alice_demo_client.get(url, {"inline": "1"})
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["X-Content-Type-Options"] == "nosniff"


def test_the_video_sample_can_be_sought_in(alice_demo_client):
    video = file_named("Launch teaser.webm")
    response = alice_demo_client.get(
        video.get_download_url(), {"inline": "1"}, headers={"Range": "bytes=100-199"}
    )
    assert response.status_code == 206
    assert response["Content-Type"] == "video/webm"
    assert response["Content-Range"] == f"bytes 100-199/{video.size}"
    assert response["Content-Disposition"].startswith("inline;")
    assert len(b"".join(response.streaming_content)) == 100


def test_the_non_ascii_sample_name(alice_demo_client):
    response = alice_demo_client.get(file_named("résumé 2024.txt").get_download_url())
    assert response.status_code == 200
    assert "filename*=UTF-8''r%C3%A9sum%C3%A9%202024.txt" in response["Content-Disposition"]


def test_bob_gets_the_shared_samples_and_not_alices_own(demo, client):
    client.force_login(User.objects.get(username="bob"))
    shared = file_named("Harbour at dusk.png").get_download_url()
    private = file_named("résumé 2024.txt").get_download_url()
    served = client.get(shared)
    assert served.status_code == 200
    served.getvalue()
    assert client.get(private).status_code == 404
    # The log holds the served download and the refused one, which names no file.
    assert list(
        DownloadLog.objects.order_by("pk").values_list("file_name", "status", "outcome", "file")
    ) == [
        ("Harbour at dusk.png", 200, "complete", file_named("Harbour at dusk.png").pk),
        ("", 404, "denied", None),
    ]


# --- the share link `make run` prints (.demo_share_link) --------------------------------------


def test_the_demo_share_link_hands_out_the_video_to_anyone(monkeypatch, tmp_path, client):
    kept = tmp_path / ".demo_share_link"
    out = run_demo(monkeypatch, None, "--share-link-file", str(kept))
    token = kept.read_text().strip()
    assert f"Created a share link to alice's video: /s/{token}" in out
    assert kept.stat().st_mode & 0o777 == 0o600
    answer = client.get(f"/s/{token}")  # no login
    assert answer.status_code == 200
    assert b"".join(answer.streaming_content) == file_named("Launch teaser.webm").file.read()


def test_the_kept_share_link_is_reused_while_it_works_and_replaced_once_it_does_not(
    monkeypatch, tmp_path
):
    kept = tmp_path / ".demo_share_link"
    run_demo(monkeypatch, None, "--share-link-file", str(kept))
    first = kept.read_text()
    out = run_demo(monkeypatch, None, "--share-link-file", str(kept))
    assert "Created a share link" not in out
    assert kept.read_text() == first
    assert ShareLink.objects.count() == 1

    ShareLink.objects.update(revoked_at=timezone.now())
    run_demo(monkeypatch, None, "--share-link-file", str(kept))
    assert kept.read_text() != first
    assert ShareLink.objects.filter(revoked_at__isnull=True).count() == 1
