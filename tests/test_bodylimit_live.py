"""Large request bodies over real sockets: gunicorn alone and the rendered nginx in front of it.

A client announces a 200 MiB body and sends only its headers: the 413 arrives anyway, so it was
decided before a byte of the body was sent, let alone read. Staff uploads past the small limit
still work end to end, through both.
"""

import socket
import time

import pytest
import requests

from downloads.models import StoredFile
from harness.gunicorn import Gunicorn
from harness.login import login
from harness.nginx import Nginx
from tests.servers import make_live_user, server_env
from tests.test_admin import ADD_URL, grant_rows

pytestmark = pytest.mark.integration

MiB = 1024 * 1024
ANNOUNCED = 200 * MiB
# Past DOWNLOADS_MAX_REQUEST_BODY_BYTES (1 MiB), far under DOWNLOADS_MAX_UPLOAD_BYTES.
UPLOAD = 3 * MiB
# Generous: a loaded 2-core machine; the point is "answered without the body", not speed.
ANSWER_WITHIN = 10.0


def answer_to_headers_only(url: str, head: str) -> tuple[int, bytes, float]:
    """Send `head` (request line and headers, no body) and read the whole answer."""
    host, port = url.removeprefix("http://").split(":")
    started = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=ANSWER_WITHIN) as sock:
        sock.sendall(head.encode("ascii"))
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = sock.recv(65536)
            assert chunk, f"closed without an answer: {received!r}"
            received += chunk
        header_block, _, body = received.partition(b"\r\n\r\n")
        headers = dict(
            line.split(": ", 1) for line in header_block.decode("latin-1").split("\r\n")[1:]
        )
        length = int(headers.get("Content-Length") or headers.get("content-length") or 0)
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
    status = int(header_block.split(b" ", 2)[1])
    return status, body, time.monotonic() - started


def announce(path: str, length: int = ANNOUNCED, extra: str = "") -> str:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: multipart/form-data; boundary=xyz\r\n"
        f"Content-Length: {length}\r\n{extra}\r\n"
    )


@pytest.mark.parametrize("path", ["/accounts/login/", "/files.zip", "/admin/login/", ADD_URL])
def test_gunicorn_answers_413_before_the_body_is_sent(live_gunicorn: Gunicorn, path):
    status, body, elapsed = answer_to_headers_only(live_gunicorn.url, announce(path))
    assert status == 413
    assert b"Nothing was read or stored" in body
    assert elapsed < ANSWER_WITHIN


def test_gunicorn_answers_411_to_a_chunked_body(live_gunicorn: Gunicorn):
    head = (
        "POST /accounts/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
        "10\r\nusername=mallory\r\n"
    )
    status, body, _ = answer_to_headers_only(live_gunicorn.url, head)
    assert status == 411
    assert b"Content-Length" in body


def test_nginx_answers_413_before_the_body_is_sent(live_stack):
    stack = live_stack("django")
    for path in ("/accounts/login/", "/files.zip", "/static/anything"):
        status, body, elapsed = answer_to_headers_only(stack.url, announce(path))
        assert status == 413, path
        assert b"nginx" in body  # nginx's own page: gunicorn never saw the request
        assert elapsed < ANSWER_WITHIN


def test_behind_nginx_the_upload_location_is_the_apps_decision(live_stack):
    """The upload location takes large bodies, streamed to the app unbuffered, so an anonymous
    client is refused by the app from the headers, before nginx reads the body either."""
    stack = live_stack("django")
    status, body, elapsed = answer_to_headers_only(stack.url, announce(ADD_URL))
    assert status == 413
    assert b"Nothing was read or stored" in body
    assert elapsed < ANSWER_WITHIN


@pytest.fixture
def fresh_stack(live_server_media, live_static, transactional_db, tmp_path):
    """A gunicorn and an nginx of this test's own. The admin's add view writes a LogEntry, whose
    content type id the server caches: a server that outlived another test's flush (which makes
    the content types anew) holds stale ids."""
    server = Gunicorn(env=server_env(live_server_media, live_static, GUNICORN_WORKERS="1"))
    server.start(tmp_path / "gunicorn.log")
    nginx = Nginx(
        upstream_port=server.port,
        media_root=live_server_media,
        static_root=live_static,
        run_dir=tmp_path / "nginx",
    )
    try:
        yield server, nginx.start()
    finally:
        nginx.stop()
        server.stop()


def upload_as_staff(session: requests.Session, base_url: str, owner_pk: int) -> requests.Response:
    form = {"name": "", "description": "", **grant_rows([])}
    return session.post(
        f"{base_url}{ADD_URL}",
        data={**form, "owner": str(owner_pk), "csrfmiddlewaretoken": session.cookies["csrftoken"]},
        files={"file": ("big.bin", b"x" * UPLOAD, "application/octet-stream")},
        headers={"Referer": f"{base_url}{ADD_URL}"},
        allow_redirects=False,
        timeout=30,
    )


def test_staff_upload_past_the_small_limit_through_gunicorn_and_nginx(fresh_stack):
    server, nginx = fresh_stack
    boss = make_live_user("boss", "live-password-1", is_staff=True, is_superuser=True)
    for base_url in (server.url, nginx.url):
        session = login(base_url, "boss", "live-password-1")
        response = upload_as_staff(session, base_url, boss.pk)
        assert response.status_code == 302, (base_url, response.text[:500])
    assert [stored.size for stored in StoredFile.objects.all()] == [UPLOAD, UPLOAD]


def test_gunicorn_does_not_read_the_refused_body_afterwards(live_gunicorn: Gunicorn):
    """A client that sends its 200 MiB anyway, after the 413: gunicorn drains a little of it
    (at most 64 KiB, gthread's keep-alive drain) and closes the connection, so the sending fails
    long before the body is through. Loopback buffers hold a few MiB; 64 MiB is far past them."""
    host, port = live_gunicorn.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=ANSWER_WITHIN) as sock:
        sock.sendall(announce("/accounts/login/").encode("ascii"))
        assert sock.recv(65536).startswith(b"HTTP/1.1 413")
        chunk = b"x" * (64 * 1024)
        sent = 0
        closed = False
        try:
            while sent < 64 * MiB:
                sock.sendall(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            closed = True  # a timeout (the server neither reading nor closing) fails the test
    assert closed, f"{sent:,} bytes sent and the connection still open"
