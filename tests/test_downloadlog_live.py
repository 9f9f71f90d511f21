"""The download log through the real gunicorn, and uvicorn: rows say the bytes that really left, a
client that leaves early is ABORTED, and a worker told to stop writes every row before it exits."""

import os
import signal
import socket
import struct
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlencode

import pytest
import requests
from django.contrib.auth.models import User

from downloads.logstatus import read_statuses
from downloads.models import DownloadLog, Outcome, StoredFile
from harness.gunicorn import Gunicorn
from harness.login import login
from harness.uvicorn import Uvicorn
from tests.dbhold import held_database
from tests.servers import make_live_user, server_env
from tests.sparse import sparse_file

pytestmark = pytest.mark.integration

MiB = 1024 * 1024
PASSWORD = "live-log-password"


class RawDownload:
    """One HTTP/1.1 request on a plain socket, read as slowly as a test likes, then cut."""

    def __init__(
        self,
        server_url: str,
        session: requests.Session,
        path: str,
        *,
        method: str = "GET",
        headers: dict[str, str] | None = None,
        body: bytes = b"",
    ) -> None:
        port = int(server_url.rsplit(":", 1)[1])
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=20)
        cookies = "; ".join(f"{name}={value}" for name, value in session.cookies.items())
        lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", f"Cookie: {cookies}"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        if body:
            lines.append(f"Content-Length: {len(body)}")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = self.sock.recv(65536)
            assert chunk, "the server closed before its headers"
            received += chunk
        head, _, rest = received.partition(b"\r\n\r\n")
        self.status = int(head.split()[1])
        self.headers = {
            name.strip().lower(): value.strip()
            for name, _, value in (
                line.partition(":") for line in head.decode("latin-1").split("\r\n")[1:]
            )
        }
        self.received = len(rest)

    def read(self, at_least: int) -> None:
        while self.received < at_least:
            chunk = self.sock.recv(min(1024 * 1024, at_least - self.received))
            assert chunk, "the server closed early"
            self.received += len(chunk)

    def read_to_end(self) -> None:
        while chunk := self.sock.recv(1024 * 1024):
            self.received += len(chunk)

    def cut(self) -> None:
        """Leave as a client that goes away does: a reset, the unread bytes dropped."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()


def rows_when(condition: Callable[[list[DownloadLog]], bool], timeout: float = 20) -> list:
    """The log's rows, once the server's writer has written what `condition` waits for."""
    deadline = time.monotonic() + timeout
    while True:
        rows = list(DownloadLog.objects.order_by("pk"))
        if condition(rows) or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)


@pytest.fixture(params=["gunicorn", "uvicorn"])
def live_app(
    request: pytest.FixtureRequest, transactional_db: None, live_server_media: Path
) -> Gunicorn | Uvicorn:
    """The app under WSGI (gunicorn) and under ASGI (uvicorn): the log says the same of both."""
    server: Gunicorn | Uvicorn = request.getfixturevalue(f"{request.param}_server")
    return server


@pytest.fixture
def owner(live_app: Gunicorn | Uvicorn) -> User:
    return make_live_user("log-owner", PASSWORD)


def big_file(media: Path, owner: User, size: int, name: str = "big.bin", **kw) -> StoredFile:
    stored = sparse_file(media, owner, name, size, {0: b"start", size - 3: b"end"}, **kw)
    stored.save()
    return stored


def test_a_complete_download_is_logged_complete_with_its_exact_size(
    live_app, live_server_media, owner
):
    stored = big_file(live_server_media, owner, 8 * MiB + 17)
    session = login(live_app.url, owner.username, PASSWORD)
    response = session.get(live_app.url + stored.get_download_url(), timeout=30)
    assert len(response.content) == stored.size
    (row,) = rows_when(lambda rows: len(rows) == 1)
    assert (row.outcome, row.status, row.bytes_planned, row.bytes_sent) == (
        Outcome.COMPLETE,
        200,
        stored.size,
        stored.size,
    )


def test_a_download_cut_off_is_logged_aborted_with_the_bytes_that_left(
    live_app, live_server_media, owner
):
    stored = big_file(live_server_media, owner, 256 * MiB)
    session = login(live_app.url, owner.username, PASSWORD)
    download = RawDownload(live_app.url, session, stored.get_download_url())
    assert download.status == 200
    download.read(4 * MiB)
    download.cut()
    (row,) = rows_when(lambda rows: len(rows) == 1)
    assert (row.outcome, row.bytes_planned) == (Outcome.ABORTED, stored.size)
    # At least what the client got; above it at most by the sockets' buffers, far below 256 MiB.
    assert download.received <= row.bytes_sent < 64 * MiB


def test_several_ranges_cut_off_and_complete(live_app, live_server_media, owner):
    stored = big_file(live_server_media, owner, 256 * MiB)
    session = login(live_app.url, owner.username, PASSWORD)
    url = live_app.url + stored.get_download_url()
    small = session.get(url, headers={"Range": "bytes=0-9,100-199"}, timeout=30)
    assert small.status_code == 206
    cut = RawDownload(
        live_app.url,
        session,
        stored.get_download_url(),
        headers={"Range": f"bytes=0-{100 * MiB},{150 * MiB}-{250 * MiB}"},
    )
    assert cut.status == 206
    cut.read(4 * MiB)
    cut.cut()
    complete, aborted = rows_when(lambda rows: len(rows) == 2)
    # The body announced: the parts with their multipart framing.
    assert complete.outcome == Outcome.COMPLETE
    assert complete.bytes_sent == complete.bytes_planned == len(small.content)
    assert aborted.outcome == Outcome.ABORTED
    assert aborted.bytes_planned == int(cut.headers["content-length"])
    assert cut.received <= aborted.bytes_sent < 64 * MiB


def test_a_zip_cut_off_halfway_logs_each_member_as_far_as_it_got(
    live_app, live_server_media, owner
):
    # Images are stored, not deflated: each member's bytes sit whole in the zip.
    files = [
        big_file(live_server_media, owner, 24 * MiB, f"photo-{n}.png", content_type="image/png")
        for n in range(5)
    ]
    session = login(live_app.url, owner.username, PASSWORD)
    form = urlencode(
        [("file", str(stored.pk)) for stored in files]
        + [("csrfmiddlewaretoken", session.cookies["csrftoken"])]
    ).encode()
    download = RawDownload(
        live_app.url,
        session,
        "/files.zip",
        method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        body=form,
    )
    assert download.status == 200
    assert int(download.headers["content-length"]) > 120 * MiB
    download.read(50 * MiB)
    download.cut()
    rows = rows_when(lambda rows: len(rows) == 5)
    by_file = {row.file_id: row for row in rows}
    members = [by_file[stored.pk] for stored in files]
    assert all(row.bytes_planned == 24 * MiB for row in members)
    # The first two members were wholly within the 50 MiB the client got.
    assert [row.outcome for row in members[:2]] == [Outcome.COMPLETE] * 2
    assert [row.bytes_sent for row in members[:2]] == [24 * MiB] * 2
    # The rest: cut off, or never reached.
    assert {row.outcome for row in members[2:]} == {Outcome.ABORTED}
    assert members[-1].bytes_sent == 0
    sent = sum(row.bytes_sent for row in members)
    # The zip's own headers (a few hundred bytes) are not member bytes.
    assert download.received - 4096 <= sent < 100 * MiB


def test_a_worker_told_to_stop_writes_every_row_and_the_one_in_flight(
    transactional_db, live_server_media, live_static, tmp_path
):
    owner = make_live_user("log-owner", PASSWORD)
    big = big_file(live_server_media, owner, 512 * MiB)
    small = big_file(live_server_media, owner, 1024, "small.txt")
    server = Gunicorn(
        env=server_env(
            live_server_media,
            live_static,
            GUNICORN_WORKERS="1",
            DOWNLOADS_LOG_STATUS_DIR=str(tmp_path / "status"),
        )
    )
    server.start(tmp_path / "gunicorn.log")
    try:
        session = login(server.url, owner.username, PASSWORD)
        (worker,) = server.worker_pids()
        slow = RawDownload(server.url, session, big.get_download_url())
        slow.read(2 * MiB)
        with held_database():
            # The writer cannot write: these rows wait in the worker's queue.
            for _ in range(20):
                assert session.get(server.url + small.get_download_url(), timeout=10).ok
            os.kill(worker, signal.SIGTERM)
            # The download in flight goes on through the graceful stop...
            time.sleep(0.5)
            slow.read(slow.received + 2 * MiB)
            time.sleep(0.5)
        # ... until its client leaves; the database is back.
        slow.cut()
        deadline = time.monotonic() + 40
        while Path(f"/proc/{worker}").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not Path(f"/proc/{worker}").exists(), "the worker did not exit"
        assert f"Download log written before worker {worker} exits" in server.log()
        # The exited worker's last status, as an operator reads it from another process.
        (status,) = [s for s in read_statuses(tmp_path / "status") if s["pid"] == worker]
        assert (status["alive"], status["written"], status["unwritable"]) == (False, 21, 0)
        assert status["queued"] == status["overflowed"] == 0
    finally:
        server.stop()
    rows = list(DownloadLog.objects.order_by("pk"))
    assert sum(row.file_id == small.pk and row.outcome == Outcome.COMPLETE for row in rows) == 20
    (in_flight,) = [row for row in rows if row.file_id == big.pk]
    assert in_flight.outcome == Outcome.ABORTED
    assert slow.received <= in_flight.bytes_sent < 128 * MiB
    assert len(rows) == 21
