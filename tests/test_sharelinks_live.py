"""Share links through real servers: nginx (the rendered deploy/ configuration) in front of
gunicorn, files on local disk or in moto's S3, in every delivery mode. A client with no session
gets the same contract as a logged-in download (the link replaces the access check, not the
delivery); a seeking client spends one download; a refused link never carries the bytes."""

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import requests
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.test import override_settings
from django.utils import timezone

from downloads.models import DownloadLog, ShareLink, StoredFile
from downloads.sharelinks import create_link
from harness.storages import with_default_storage
from tests.contract_cases import BODY, CONTRACT_HEADERS, SIZE
from tests.contract_cases import parse_multipart as parse_body_parts
from tests.livefiles import USER, Live, storage_setting

pytestmark = pytest.mark.integration

EVERY_MODE = ["django", "nginx", "django-s3", "nginx-s3", "s3"]
LOG_WAIT_SECONDS = 10.0


@pytest.fixture(scope="module", params=EVERY_MODE)
def live(request, live_stack, live_files, live_sessions) -> Live:
    stack = live_stack(request.param)
    files = live_files(stack.storage)
    return Live(stack=stack, session=live_sessions(stack), files=files)


@pytest.fixture
def share(live: Live, django_db_blocker: Any) -> Callable[..., tuple[str, ShareLink]]:
    """A new link to `files` (default: data.bin), made as the file page makes it; its URL."""

    def make(files: list[StoredFile] | None = None, **options: Any) -> tuple[str, ShareLink]:
        with django_db_blocker.unblock():
            link, token = create_link(
                User.objects.get(username=USER),
                files or [live.files.data],
                expires_at=timezone.now() + timedelta(days=1),
                max_downloads=options.get("max_downloads"),
                note="live",
            )
        return f"{live.stack.url}/s/{token}", link

    return make


def anonymous(url: str, method: str = "GET", **headers: str) -> requests.Response:
    """A client with no cookies. In s3 mode, Django's answer is a redirect that the bucket
    answers: followed with the same headers, as a browser does."""
    response = requests.request(method, url, headers=headers, allow_redirects=False, timeout=10)
    if response.status_code == 302:
        assert "Cookie" not in response.request.headers
        return requests.request(method, response.headers["Location"], headers=headers, timeout=10)
    return response


def reread(link: ShareLink, django_db_blocker: Any) -> ShareLink:
    with django_db_blocker.unblock():
        return ShareLink.objects.get(pk=link.pk)


def test_a_link_gets_the_same_file_and_headers_as_a_logged_in_download(live, share):
    url, _ = share()
    logged_in = live.get(live.files.data)
    if logged_in.status_code == 302:  # s3 mode: the bucket's answer
        logged_in = requests.get(logged_in.headers["Location"], timeout=10)
    response = anonymous(url)
    assert response.status_code == 200
    assert response.content == BODY
    for name in CONTRACT_HEADERS:
        assert response.headers.get(name) == logged_in.headers.get(name), name
    assert response.headers["Content-Disposition"] == 'attachment; filename="data.bin"'
    head = anonymous(url, "HEAD")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["Content-Length"] == str(SIZE)


def test_ranges_and_conditionals_through_a_link(live, share):
    url, _ = share()
    data = live.files.data
    part = anonymous(url, Range="bytes=100-199")
    assert part.status_code == 206
    assert part.content == BODY[100:200]
    assert part.headers["Content-Range"] == f"bytes 100-199/{SIZE}"
    fresh = anonymous(url, Range="bytes=5-9", **{"If-Range": data.etag})
    assert fresh.status_code == 206
    assert fresh.content == BODY[5:10]
    not_modified = requests.get(url, headers={"If-None-Match": data.etag}, timeout=10)
    assert not_modified.status_code == 304
    assert not_modified.headers["ETag"] == data.etag
    beyond = requests.get(url, headers={"Range": "bytes=20000-"}, timeout=10)
    assert beyond.status_code == 416
    if live.stack.name != "s3":
        # The bucket answers the ranges of s3 mode itself (test_delivery_live.py).
        stale = anonymous(url, Range="bytes=5-9", **{"If-Range": '"stale"'})
        assert stale.status_code == 200
        assert stale.content == BODY
        several = anonymous(url, Range="bytes=0-9, 500-509")
        assert several.status_code == 206
        assert parse_body_parts(
            several.headers["Content-Type"], several.headers["Content-Length"], several.content
        ) == [(f"bytes 0-9/{SIZE}", BODY[:10]), (f"bytes 500-509/{SIZE}", BODY[500:510])]


def test_a_seeking_client_spends_one_download_and_a_used_up_link_refuses(
    live, share, django_db_blocker
):
    url, link = share(max_downloads=1)
    assert anonymous(url, Range="bytes=0-").content == BODY
    for start in (6000, 2000, 9000):
        assert anonymous(url, Range=f"bytes={start}-").content == BODY[start:]
    assert reread(link, django_db_blocker).download_count == 1
    again = requests.get(url, timeout=10, allow_redirects=False)
    assert again.status_code == 410
    assert b"used as many times" in again.content
    assert "Location" not in again.headers
    # The first download, cut off, may still resume within the window.
    assert anonymous(url, Range="bytes=5000-").content == BODY[5000:]


def assert_refused(url: str, status: int, words: bytes) -> None:
    for method in ("GET", "HEAD"):
        response = requests.request(method, url, timeout=10, allow_redirects=False)
        assert response.status_code == status, method
        assert "Location" not in response.headers
        assert "ETag" not in response.headers
        assert BODY[:256] not in response.content
        assert "attachment" not in response.headers.get("Content-Disposition", "")
        if method == "GET":
            assert words in response.content


def test_expired_revoked_and_tampered_links_never_carry_the_bytes(live, share, django_db_blocker):
    expired_url, expired = share()
    revoked_url, revoked = share()
    with django_db_blocker.unblock():
        ShareLink.objects.filter(pk=expired.pk).update(expires_at=timezone.now())
        ShareLink.objects.filter(pk=revoked.pk).update(revoked_at=timezone.now())
    assert_refused(expired_url, 410, b"expired")
    assert_refused(revoked_url, 410, b"revoked")
    token = revoked_url.rsplit("/", 1)[1]
    tampered = revoked_url[: -len(token)] + token[::-1]
    assert_refused(tampered, 404, b"does not exist")


def test_deleting_the_file_ends_its_link_at_once(
    live, share, django_db_blocker, live_media, request
):
    # In the storage the stack's servers read (livefiles.py), not this test's own directory.
    storages = with_default_storage(storage_setting(live.stack.storage, live_media, request))
    with django_db_blocker.unblock(), override_settings(STORAGES=storages):
        doomed = StoredFile(owner=User.objects.get(username=USER), name="doomed.bin")
        doomed.file.save("doomed.bin", ContentFile(BODY), save=False)
        doomed.save()
    url, _ = share([doomed])
    assert anonymous(url).content == BODY
    with django_db_blocker.unblock(), override_settings(STORAGES=storages):
        doomed.delete()
    assert_refused(url, 410, b"no longer shared")


def test_every_use_is_logged_with_the_link(live, share, django_db_blocker):
    url, link = share()
    anonymous(url)
    anonymous(url, Range="bytes=10-19")
    requests.get(url.replace("/s/", "/s/x"), timeout=10)  # a guess: logged, with no link
    deadline = time.monotonic() + LOG_WAIT_SECONDS
    while time.monotonic() < deadline:
        with django_db_blocker.unblock():
            rows = list(DownloadLog.objects.filter(share_link=link).order_by("pk"))
        if len(rows) == 2:
            break
        time.sleep(0.1)
    assert [(row.user_id, row.file_id, row.range) for row in rows] == [
        (None, live.files.data.pk, ""),
        (None, live.files.data.pk, "bytes=10-19"),
    ]
