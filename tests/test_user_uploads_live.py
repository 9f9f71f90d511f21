"""Uploads by users over real sockets: the rendered nginx in front of real gunicorn, the bytes on
local disk and in an S3 bucket (moto's server).

The limits are small so the bodies are too: a file of at most LIMIT bytes, a quota of QUOTA bytes
per user. nginx refuses a body past LIMIT plus the multipart room on the upload location only,
with its own 413 from the headers; the app's form refuses a file just over LIMIT; a body that
cannot fit the quota is refused from its headers; a body cut off half way, or refused after it
was read, leaves no row and no bytes.
"""

import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from django.contrib.auth.models import Permission, User
from django.test import override_settings

from downloads.bodylimit import MULTIPART_ALLOWANCE
from downloads.models import StoredFile
from harness.gunicorn import Gunicorn
from harness.login import login
from harness.nginx import Nginx
from harness.s3 import MotoS3
from harness.storages import local_storage, with_default_storage
from tests.conftest import sha256, stored_keys
from tests.servers import make_live_user, server_env
from tests.test_bodylimit_live import ANSWER_WITHIN, answer_to_headers_only

pytestmark = pytest.mark.integration

MiB = 1024 * 1024
LIMIT = 2 * MiB
QUOTA = 5 * MiB
PASSWORD = "live-password-1"
UPLOAD_PATH = "/files/upload"
# "answered, not hung" on a shared, loaded machine.
TIMEOUT = 30


@dataclass
class UploadStack:
    storage: str  # "local" or "s3"
    gunicorn: Gunicorn
    nginx: Nginx
    media: Path
    moto: MotoS3 | None
    # Keys stored before this test (the bucket is the session's, shared with other tests).
    before: frozenset[str] = frozenset()

    @property
    def url(self) -> str:
        return self.nginx.url

    def keys(self) -> set[str]:
        """Keys stored under files/ since this test began, wherever the bytes live."""
        return self.all_keys() - self.before

    def all_keys(self) -> set[str]:
        if self.moto is None:
            return set(stored_keys(self.media))
        client = self.moto.client()
        found: set[str] = set()
        for page in client.get_paginator("list_objects_v2").paginate(
            Bucket=self.moto.bucket, Prefix="files/"
        ):
            found.update(item["Key"] for item in page.get("Contents", []))
        return found

    def storages(self) -> dict[str, Any]:
        if self.moto is None:
            return with_default_storage(local_storage(self.media))
        return with_default_storage(self.moto.storage_settings())


LIMITS = {
    "DOWNLOADS_USER_UPLOAD_MAX_BYTES": LIMIT,
    "DOWNLOADS_USER_QUOTA_BYTES": QUOTA,
}


@pytest.fixture(scope="module", params=["local", "s3"])
def upload_stack(
    request: pytest.FixtureRequest,
    django_db_setup: None,
    live_static: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[UploadStack]:
    """gunicorn and nginx with the small limits, both rendered and started from them."""
    storage = request.param
    media = tmp_path_factory.mktemp(f"upload-media-{storage}")
    extra = {name: str(value) for name, value in LIMITS.items()}
    moto = None
    if storage == "s3":
        moto = request.getfixturevalue("moto_s3")
        extra.update(moto.server_env())
    server = Gunicorn(env=server_env(media, live_static, GUNICORN_WORKERS="1", **extra))
    server.start(tmp_path_factory.mktemp(f"gunicorn-uploads-{storage}") / "gunicorn.log")
    try:
        with override_settings(**LIMITS):  # nginx's limits rendered from the same values
            nginx = Nginx(
                upstream_port=server.port,
                media_root=media,
                static_root=live_static,
                run_dir=tmp_path_factory.mktemp(f"nginx-uploads-{storage}"),
            ).start()
    except BaseException:
        server.stop()
        raise
    yield UploadStack(storage=storage, gunicorn=server, nginx=nginx, media=media, moto=moto)
    nginx.stop()
    server.stop()


@pytest.fixture
def stack(upload_stack: UploadStack, transactional_db: None, settings: Any) -> UploadStack:
    """The module's stack, with this test's rows committed and the same storage and limits
    in the test process."""
    settings.STORAGES = upload_stack.storages()
    settings.MEDIA_ROOT = upload_stack.media
    for name, value in LIMITS.items():
        setattr(settings, name, value)
    upload_stack.before = frozenset(upload_stack.all_keys())
    return upload_stack


@pytest.fixture
def uploader(stack: UploadStack) -> User:
    user = make_live_user("uploader", PASSWORD)
    user.user_permissions.add(
        Permission.objects.get(codename="upload_files", content_type__app_label="downloads")
    )
    return user


def post_file(
    session: requests.Session, base_url: str, name: str, content: bytes
) -> requests.Response:
    return session.post(
        f"{base_url}{UPLOAD_PATH}",
        files={"file": (name, content, "application/octet-stream")},
        headers={
            "Accept": "application/json",
            "X-CSRFToken": session.cookies["csrftoken"],
            "Referer": f"{base_url}/",
        },
        allow_redirects=False,
        timeout=TIMEOUT,
    )


def payload(size: int, seed: int = 7) -> bytes:
    return bytes((seed * i) % 251 for i in range(size))


def test_an_upload_through_nginx_is_stored_whole_and_downloads_the_same(stack, uploader):
    # Past the 1 MiB every other location takes, under the upload limit.
    content = payload(LIMIT - 1000)
    session = login(stack.url, "uploader", PASSWORD)
    response = post_file(session, stack.url, "data.bin", content)
    assert response.status_code == 201, response.text[:500]
    stored = StoredFile.objects.get()
    assert stored.owner == uploader
    assert (stored.size, stored.sha256) == (len(content), sha256(content))
    assert stack.keys() == {stored.file.name}
    download = session.get(f"{stack.url}{response.json()['download_url']}", timeout=TIMEOUT)
    assert download.status_code == 200
    assert download.content == content


def test_nginx_refuses_a_body_past_the_limit_on_the_upload_location_only(stack):
    too_long = LIMIT + MULTIPART_ALLOWANCE + 1
    head = (
        f"POST {UPLOAD_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: multipart/form-data; boundary=xyz\r\n"
        f"Content-Length: {too_long}\r\n\r\n"
    )
    status, body, elapsed = answer_to_headers_only(stack.url, head)
    assert status == 413
    assert b"nginx" in body  # nginx's own page: gunicorn never saw the request
    assert elapsed < ANSWER_WITHIN
    # Elsewhere the general limit (1 MiB) stands: a body the upload location takes is refused.
    elsewhere = head.replace(UPLOAD_PATH, "/files.zip").replace(str(too_long), str(LIMIT))
    status, body, _ = answer_to_headers_only(stack.url, elsewhere)
    assert (status, b"nginx" in body) == (413, True)


def test_a_file_just_over_the_limit_gets_the_apps_error(stack, uploader):
    session = login(stack.url, "uploader", PASSWORD)
    response = post_file(session, stack.url, "big.bin", payload(LIMIT + 1))
    assert response.status_code == 400
    assert "the limit is 2.0\xa0MB" in response.json()["error"]
    assert not StoredFile.objects.exists()
    assert stack.keys() == set()


def test_the_quota_from_the_headers_and_after_the_bytes(stack, uploader):
    session = login(stack.url, "uploader", PASSWORD)
    for n in (1, 2):
        assert post_file(session, stack.url, f"{n}.bin", payload(LIMIT - 10, n)).status_code == 201
    kept = stack.keys()
    assert len(kept) == 2
    # QUOTA - used = 1 MiB + 20 bytes left: a 2 MiB body cannot fit even with its framing
    # taken away, and is refused from its headers, its body never sent.
    head = (
        f"POST {UPLOAD_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n"
        f"Cookie: sessionid={session.cookies['sessionid']}\r\n"
        "Content-Type: multipart/form-data; boundary=xyz\r\n"
        f"Content-Length: {LIMIT + 4 * 1024}\r\n\r\n"
    )
    status, body, elapsed = answer_to_headers_only(stack.url, head)
    assert status == 413
    assert b"quota of 5.0" in body
    assert elapsed < ANSWER_WITHIN
    # 1.5 MiB passes the headers' judgement (it could be mostly framing), is read and written,
    # then found past the quota: the row and the bytes are both taken back.
    response = post_file(session, stack.url, "3.bin", payload(MiB + MiB // 2, 3))
    assert response.status_code == 413
    assert "quota" in response.json()["error"]
    assert StoredFile.objects.count() == 2
    assert stack.keys() == kept


def wait_for_log(server: Gunicorn, words: str, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while words not in server.log():
        assert time.monotonic() < deadline, f"{words!r} not in the server's log"
        time.sleep(0.1)


def test_an_upload_cut_off_half_way_leaves_nothing(stack, uploader):
    session = login(stack.url, "uploader", PASSWORD)
    token = session.cookies["csrftoken"]
    boundary = "cutoffboundary"
    content = payload(LIMIT - 1000)
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="csrfmiddlewaretoken"\r\n\r\n'
            f"{token}\r\n--{boundary}\r\n"
            'Content-Disposition: form-data; name="file"; filename="cut.bin"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    head = (
        f"POST {UPLOAD_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n"
        f"Cookie: sessionid={session.cookies['sessionid']}; csrftoken={token}\r\n"
        f"X-CSRFToken: {token}\r\nReferer: {stack.url}/\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    host, port = stack.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=ANSWER_WITHIN) as sock:
        sock.sendall(head.encode("ascii") + body[: len(body) // 2])
        time.sleep(0.5)  # the first half reaches the app, which is reading the rest
    wait_for_log(stack.gunicorn, f"Upload by user {uploader.pk} cut off after")
    assert not StoredFile.objects.exists()
    assert stack.keys() == set()
    # The same upload whole is fine: the refusal was about the cut.
    assert post_file(session, stack.url, "whole.bin", content).status_code == 201
