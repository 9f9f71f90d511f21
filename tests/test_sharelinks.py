"""Share links through the views (delivery mode "django"): making, using, counting, refusing,
revoking and listing them. The same contract through real servers, in every mode, is in
test_sharelinks_live.py; in Chromium, in test_sharelinks_browser.py."""

import hashlib
import io
import re
import zipfile
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.http import http_date

from downloads import sharelinks
from downloads.logwriter import WRITER
from downloads.models import DownloadLog, Grant, Outcome, ShareLink, ShareLinkFailure
from tests.contract_cases import BODY, SIZE
from tests.contract_cases import parse_multipart as parse_body_parts

pytestmark = pytest.mark.django_db


def body(response) -> bytes:
    if hasattr(response, "read_body"):
        return response.read_body
    if response.streaming:
        return b"".join(response.streaming_content)
    return response.content


@pytest.fixture
def stored(make_file):
    return make_file(BODY, name="data.bin")


def create(client, files, **fields) -> str:
    """POST the file page's form; the link shown once on the page that answers."""
    data = {"file": [str(f.pk) for f in files], "expires_in_days": "7", **fields}
    response = client.post(reverse("downloads:share-create"), data)
    assert response.status_code == 200, response.content
    found = re.search(rb'id="share-url" value="([^"]+)"', response.content)
    assert found, response.content
    return found[1].decode()


def path_of(url: str) -> str:
    return url.split("://", 1)[1].split("/", 1)[1].join(["/", ""])


@pytest.fixture
def link_url(alice_client, stored) -> str:
    return path_of(create(alice_client, [stored]))


@pytest.fixture
def anon(client_class):
    return client_class()


def the_link() -> ShareLink:
    (link,) = ShareLink.objects.all()
    return link


# Making a link


def test_the_owner_makes_a_link_shown_once_and_stored_only_as_a_hash(alice_client, stored):
    url = create(alice_client, [stored], note="for the printer", max_downloads="3")
    token = url.rsplit("/", 1)[1]
    assert len(token) == 43  # 32 random bytes, URL-safe base64
    link = the_link()
    assert link.token_hash == hashlib.sha256(token.encode()).hexdigest()
    # Nowhere else: not in any column of the row, not on the file page afterwards.
    assert token not in repr(ShareLink.objects.values().get())
    page = alice_client.get(stored.get_absolute_url())
    assert token.encode() not in page.content
    assert b"for the printer" in page.content
    assert (link.note, link.max_downloads, link.file_count) == ("for the printer", 3, 1)
    assert timedelta(days=6, hours=23) < link.expires_at - timezone.now() <= timedelta(days=7)


def test_the_file_page_offers_the_form_with_the_default_expiry(alice_client, stored):
    page = alice_client.get(stored.get_absolute_url())
    assert b'id="share-form"' in page.content
    assert b'name="expires_in_days" value="7"' in page.content


def test_expiry_past_the_maximum_is_a_form_error_and_makes_nothing(alice_client, stored, settings):
    settings.DOWNLOADS_SHARE_LINK_MAX_DAYS = 10
    response = alice_client.post(
        reverse("downloads:share-create"), {"file": str(stored.pk), "expires_in_days": "11"}
    )
    assert response.status_code == 200
    assert b"less than or equal to 10" in response.content
    assert not ShareLink.objects.exists()


def test_someone_the_file_is_only_shared_with_cannot_make_a_link(client, bob, make_file):
    shared = make_file(name="shared.txt", share_with=bob)
    client.force_login(bob)
    assert b'id="share-form"' not in client.get(shared.get_absolute_url()).content
    response = client.post(
        reverse("downloads:share-create"), {"file": str(shared.pk), "expires_in_days": "7"}
    )
    assert response.status_code == 404
    assert not ShareLink.objects.exists()


def test_staff_with_the_permission_share_files_they_may_download(client, make_file, bob):
    shared = make_file(name="shared.txt", share_with=bob)
    bob.is_staff = True
    bob.save()
    bob.user_permissions.add(Permission.objects.get(codename="share_any"))
    client.force_login(bob)
    url = create(client, [shared])
    assert anon_get(path_of(url)).status_code == 200


def anon_get(path: str, **headers):
    """A client with no session; the body read to its end, as a server does before close()."""
    response = Client().get(path, headers=headers)
    response.read_body = body(response)
    return response


def test_several_files_from_my_files_make_one_zip_link(alice_client, make_file):
    first = make_file(b"one", name="one.txt")
    second = make_file(b"two", name="two.txt")
    form = alice_client.post(
        reverse("downloads:share-create"), {"file": [str(first.pk), str(second.pk)]}
    )
    assert form.status_code == 200
    assert b"Share 2 files" in form.content
    url = create(alice_client, [first, second])
    response = anon_get(path_of(url))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(body(response))) as archive:
        assert {n: archive.read(n) for n in archive.namelist()} == {
            "one.txt": b"one",
            "two.txt": b"two",
        }
    WRITER.flush()
    link = the_link()
    rows = DownloadLog.objects.filter(share_link=link)
    assert {row.file_name for row in rows} == {"one.txt", "two.txt"}
    assert link.download_count == 1


def test_bad_selections_are_refused_clearly(alice_client):
    share = reverse("downloads:share-create")
    assert alice_client.post(share, {"file": "not-an-id"}).status_code == 400
    assert alice_client.post(share, {}).status_code == 400


# Using a link: the whole contract, without an account


def test_anyone_with_the_link_downloads_with_the_contract(link_url, stored):
    response = anon_get(link_url)
    assert response.status_code == 200
    assert body(response) == BODY
    assert response["Content-Length"] == str(SIZE)
    assert response["Content-Disposition"] == 'attachment; filename="data.bin"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["ETag"] == f'"{stored.sha256}"'
    assert response["Last-Modified"] == http_date(stored.last_modified)
    assert response["Accept-Ranges"] == "bytes"


def test_ranges_head_and_conditionals_through_a_link(link_url, stored):
    part = anon_get(link_url, Range="bytes=100-199")
    assert part.status_code == 206
    assert body(part) == BODY[100:200]
    assert part["Content-Range"] == f"bytes 100-199/{SIZE}"
    several = anon_get(link_url, Range="bytes=0-9,200-209")
    assert several.status_code == 206
    parts = parse_body_parts(several["Content-Type"], several["Content-Length"], body(several))
    assert parts == [(f"bytes 0-9/{SIZE}", BODY[:10]), (f"bytes 200-209/{SIZE}", BODY[200:210])]
    stale = anon_get(link_url, Range="bytes=5-9", **{"If-Range": '"stale"'})
    assert stale.status_code == 200
    assert body(stale) == BODY
    fresh = anon_get(link_url, Range="bytes=5-9", **{"If-Range": stored.etag})
    assert fresh.status_code == 206
    assert body(fresh) == BODY[5:10]
    assert anon_get(link_url, **{"If-None-Match": stored.etag}).status_code == 304
    assert anon_get(link_url, Range="bytes=20000-").status_code == 416
    head = Client().head(link_url)
    assert head.status_code == 200
    assert head["Content-Length"] == str(SIZE)


def test_uses_are_logged_with_the_link_and_no_user(link_url, stored):
    anon_get(link_url)
    anon_get(link_url, Range="bytes=10-")
    WRITER.flush()
    rows = list(DownloadLog.objects.order_by("pk"))
    assert [(r.status, r.outcome, r.user, r.file) for r in rows] == [
        (200, Outcome.COMPLETE, None, stored),
        (206, Outcome.COMPLETE, None, stored),
    ]
    assert {r.share_link for r in rows} == {the_link()}


# What counts as a download


def test_a_player_that_seeks_spends_one_download(link_url):
    assert anon_get(link_url, Range="bytes=0-").status_code == 206
    for start in (4000, 8000, 100, 9000):
        assert anon_get(link_url, Range=f"bytes={start}-").status_code == 206
    Client().head(link_url)
    assert anon_get(link_url, **{"If-None-Match": the_link_etag()}).status_code == 304
    link = the_link()
    assert link.download_count == 1
    assert link.last_used_at is not None


def the_link_etag() -> str:
    return the_link().files.get().etag


def test_a_used_up_link_refuses_new_downloads_but_lets_one_resume(alice_client, stored, settings):
    url = path_of(create(alice_client, [stored], max_downloads="1"))
    assert body(anon_get(url)) == BODY
    again = anon_get(url)
    assert again.status_code == 410
    assert b"used as many times as it allows" in again.content
    assert BODY[:64] not in again.content
    # The first download cut off at 5000 bytes resumes: the rest, not a new download.
    assert body(anon_get(url, Range="bytes=5000-")) == BODY[5000:]
    # After the resume window, nothing.
    ShareLink.objects.update(last_used_at=timezone.now() - timedelta(hours=25))
    assert anon_get(url, Range="bytes=5000-").status_code == 410
    assert the_link().download_count == 1


def test_the_last_download_goes_to_one_client_only(alice_client, stored):
    create(alice_client, [stored], max_downloads="1")
    link = the_link()
    now = timezone.now()
    # Two requests that both read the link before either counted.
    assert sharelinks.spend_download(link, now) is True
    assert sharelinks.spend_download(link, now) is False
    assert the_link().download_count == 1


def test_a_download_the_storage_fails_is_given_back(alice_client, stored, private_media):
    url = path_of(create(alice_client, [stored], max_downloads="1"))
    (private_media / stored.file.name).unlink()
    assert anon_get(url).status_code == 503
    assert the_link().download_count == 0


# Refused links: 410 for one that existed, 404 for one that never did, never the bytes


def refused(path: str, status: int, words: bytes) -> None:
    response = anon_get(path)
    assert response.status_code == status
    assert words in response.content
    assert BODY[:64] not in response.content
    assert "ETag" not in response


def test_expired_revoked_and_tampered_links(link_url):
    ShareLink.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    refused(link_url, 410, b"expired")
    tomorrow = timezone.now() + timedelta(days=1)
    ShareLink.objects.update(expires_at=tomorrow, revoked_at=timezone.now())
    refused(link_url, 410, b"revoked")
    token = link_url.rsplit("/", 1)[1]
    tampered = link_url[: -len(token)] + ("A" if token[0] != "A" else "B") + token[1:]
    refused(tampered, 404, b"does not exist")
    refused(link_url + "x", 404, b"does not exist")
    refused("/s/short", 404, b"does not exist")
    WRITER.flush()
    assert [r.status for r in DownloadLog.objects.order_by("pk")] == [410, 410, 404, 404, 404]
    assert DownloadLog.objects.filter(share_link=the_link()).count() == 2


def test_deleting_the_file_ends_its_links_at_once(link_url, stored):
    stored.delete()
    refused(link_url, 410, b"no longer shared")


def test_the_owner_losing_the_file_ends_the_link(link_url, stored, bob):
    stored.owner = bob
    stored.save()
    refused(link_url, 410, b"no longer shared")
    # Given back to alice, the same link works again: the right is checked at use, not cached.
    stored.owner = User.objects.get(username="alice")
    stored.save()
    assert anon_get(link_url).status_code == 200


def test_a_deactivated_or_deleted_creator_ends_the_link(link_url, alice):
    alice.is_active = False
    alice.save()
    refused(link_url, 410, b"no longer shared")
    alice.is_active = True
    alice.save()
    assert anon_get(link_url).status_code == 200
    ShareLink.objects.update(created_by=None)
    refused(link_url, 410, b"no longer shared")


def test_staff_losing_the_permission_or_the_grant_ends_their_links(client, make_file, bob):
    shared = make_file(name="shared.txt", share_with=bob)
    bob.is_staff = True
    bob.save()
    permission = Permission.objects.get(codename="share_any")
    bob.user_permissions.add(permission)
    client.force_login(bob)
    url = path_of(create(client, [shared]))
    bob.user_permissions.remove(permission)
    refused(url, 410, b"no longer shared")
    bob.user_permissions.add(permission)
    assert anon_get(url).status_code == 200
    Grant.objects.filter(file=shared).delete()
    refused(url, 410, b"no longer shared")


def test_a_zip_link_ends_when_one_of_its_files_is_deleted(alice_client, make_file):
    first = make_file(b"one", name="one.txt")
    second = make_file(b"two", name="two.txt")
    url = path_of(create(alice_client, [first, second]))
    second.delete()
    refused(url, 410, b"no longer shared")


# Throttling guesses


def test_an_address_that_guesses_is_locked_out_even_with_a_good_link(link_url, settings):
    settings.DOWNLOADS_SHARE_LINK_FAILURE_LIMIT = 3
    for _ in range(3):
        assert anon_get("/s/" + "x" * 43).status_code == 404
    locked = anon_get(link_url)
    assert locked.status_code == 429
    assert locked["Retry-After"] == str(15 * 60)
    # Another address is not locked out.
    assert Client(REMOTE_ADDR="127.0.0.9").get(link_url).status_code == 200
    # A link that existed is no guess.
    ShareLinkFailure.objects.all().delete()
    ShareLink.objects.update(revoked_at=timezone.now())
    for _ in range(5):
        assert anon_get(link_url).status_code == 410
    assert not ShareLinkFailure.objects.exists()


# The owner's list, revoking


def test_the_file_page_lists_my_links_and_revokes_one(alice_client, stored, link_url):
    page = alice_client.get(stored.get_absolute_url())
    assert b'class="state">live<' in page.content
    anon_get(link_url)
    page = alice_client.get(stored.get_absolute_url()).content.decode()
    row = re.search(r'<tr data-link="\d+">(.*?)</tr>', page, re.S)
    assert row
    assert '<td class="num">1</td>' in row[1]
    assert "never" not in row[1]
    link = the_link()
    revoke = reverse("downloads:share-revoke", args=[link.pk])
    response = alice_client.post(revoke, {"file": str(stored.pk)})
    assert response.status_code == 302
    assert response["Location"] == stored.get_absolute_url()
    assert the_link().revoked_at is not None
    assert b'class="state">revoked<' in alice_client.get(stored.get_absolute_url()).content
    refused(link_url, 410, b"revoked")


def test_nobody_else_revokes_my_link(client, bob, link_url):
    client.force_login(bob)
    link = the_link()
    assert client.post(reverse("downloads:share-revoke", args=[link.pk])).status_code == 404
    assert the_link().revoked_at is None


def test_head_of_a_zip_link_spends_nothing_and_keeps_the_note_private(alice_client, make_file):
    first = make_file(b"one", name="one.txt")
    second = make_file(b"two", name="two.txt")
    url = path_of(create(alice_client, [first, second], note="private words"))
    head = Client().head(url)
    assert head.status_code == 200
    assert head["Content-Type"] == "application/zip"
    assert "private words" not in head["Content-Disposition"]
    assert the_link().download_count == 0


def test_a_link_costs_three_reads_and_writes_only_when_it_counts(link_url):
    """The throttle, the link with its creator, the policy's files: as many reads as a logged-in
    download (session, user, policy). A seek writes nothing to the link."""
    for headers, counted in (({}, True), ({"Range": "bytes=5000-"}, False)):
        with CaptureQueriesContext(connection) as queries:
            anon_get(link_url, **headers)
        statements = [q["sql"] for q in queries if "downloadlog" not in q["sql"]]
        statements = [sql for sql in statements if "SAVEPOINT" not in sql]
        reads = [sql for sql in statements if sql.startswith("SELECT")]
        writes = [sql for sql in statements if not sql.startswith("SELECT")]
        assert len(reads) == 3, reads
        assert len(writes) == (1 if counted else 0), writes
