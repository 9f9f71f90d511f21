"""Stalled clients must not stop the app (issue 8, section 1), against the real servers.

256 stalled connections at once (64 each: silent, half a head, a body one byte every 2 s, a
64 MiB download never read) against gunicorn alone, as `make run` starts it, and against nginx +
gunicorn in the django, nginx and s3 delivery modes; meanwhile another logged-in user's requests
must each be answered 200 within PROBE_BOUND (a "not hung" bound for a busy shared machine: the
p99 under 1 s is measured by `python -m bench --stalled`, and printed here). Then, with short
limits, that each kind of stalled connection is closed, and that a slow but steady reader is not.
"""

import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from django.core.files.base import ContentFile
from django.test import override_settings

from bench.stall import KINDS, Stallers, is_open, probe
from downloads.models import DownloadLog, StoredFile
from harness.gunicorn import Gunicorn
from harness.login import login
from harness.nginx import Nginx
from harness.procfs import rss_kib
from harness.storages import with_default_storage
from harness.uvicorn import Uvicorn
from tests.livefiles import storage_setting
from tests.servers import Stack, make_live_user, server_env

pytestmark = pytest.mark.integration

MiB = 1024 * 1024
BIG = 64 * MiB
PER_KIND = 64
PROBES = 40
# Seconds one probe may take: far above the p99 target, far below "hung" (the stalls last
# 10 s or more before any timeout frees them).
PROBE_BOUND = 5.0
STALLER, PROBER, PASSWORD = "stall-mallory", "stall-alice", "stall-password-1"
# Limits of the gunicorn whose timeouts the closing tests wait out.
SHORT = {
    "GUNICORN_HEADER_TIMEOUT": "2",
    "GUNICORN_BODY_TIMEOUT": "2",
    "GUNICORN_SEND_TIMEOUT": "3",
    "GUNICORN_MIN_BODY_RATE": str(MiB),
    "GUNICORN_WORKERS": "1",
}


@pytest.fixture
def stall_files(
    request: pytest.FixtureRequest, transactional_db: None, live_media: Path
) -> Callable[[str], dict[str, StoredFile]]:
    """Per storage: the staller's 64 MiB file ("big") and the prober's small one ("small"),
    committed where the servers see them (and flushed after the test)."""

    def files_in(storage: str) -> dict[str, StoredFile]:
        default = storage_setting(storage, live_media, request)
        with override_settings(STORAGES=with_default_storage(default)):
            make_live_user(STALLER, PASSWORD)
            make_live_user(PROBER, PASSWORD)
            return {
                "big": _stored(STALLER, "big.bin", bytes(BIG)),
                "small": _stored(PROBER, "small.txt", b"small and quick\n"),
            }

    return files_in


@pytest.fixture
def local_files(stall_files: Callable[[str], dict[str, StoredFile]]) -> dict[str, StoredFile]:
    return stall_files("local")


@pytest.fixture(params=["django", "nginx", "s3", "uvicorn"])
def stack_with_files(
    request: pytest.FixtureRequest,
    live_stack: Callable[[str], Stack],
    stall_files: Callable[[str], dict[str, StoredFile]],
) -> tuple[Stack, dict[str, StoredFile]]:
    stack = live_stack(request.param)
    return stack, stall_files(stack.storage)


def _stored(username: str, name: str, content: bytes) -> StoredFile:
    from django.contrib.auth.models import User

    stored = StoredFile(owner=User.objects.get(username=username), name=name)
    stored.file.save(name, ContentFile(content), save=False)
    stored.save()
    return stored


def _server(
    env: dict[str, str], live_media: Path, live_static: Path, tmp: pytest.TempPathFactory
) -> Gunicorn:
    server = Gunicorn(env=server_env(live_media, live_static, **env))
    return server.start(tmp.mktemp("gunicorn-stall") / "gunicorn.log")


@pytest.fixture(scope="module")
def make_run_gunicorn(
    django_db_setup: None,
    live_media: Path,
    live_static: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Gunicorn]:
    """gunicorn alone with deploy/gunicorn.conf.py's defaults, 2 workers as on this machine."""
    server = _server({"GUNICORN_WORKERS": "2"}, live_media, live_static, tmp_path_factory)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def uvicorn_alone(
    django_db_setup: None,
    live_media: Path,
    live_static: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Uvicorn]:
    """The app under uvicorn as `make run-asgi` starts it: one process, uvicorn's defaults."""
    server = Uvicorn(env=server_env(live_media, live_static))
    server.start(tmp_path_factory.mktemp("uvicorn-stall") / "uvicorn.log")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def short_gunicorn(
    django_db_setup: None,
    live_media: Path,
    live_static: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Gunicorn]:
    server = _server(SHORT, live_media, live_static, tmp_path_factory)
    yield server
    server.stop()


def cookie_of(session: requests.Session) -> str:
    return f"sessionid={session.cookies['sessionid']}"


def stall_and_probe(
    base_url: str,
    files: dict[str, StoredFile],
    download: int = 200,
    per_kind: int = PER_KIND,
    server_pid: int | None = None,
) -> None:
    """`download`: the small file's status (s3 mode: 302 to the bucket). `server_pid`: a
    process whose threads and memory under the stall are printed."""
    staller = cookie_of(login(base_url, STALLER, PASSWORD))
    prober = cookie_of(login(base_url, PROBER, PASSWORD))
    host, port = base_url.removeprefix("http://").split(":")
    stallers = Stallers(host, int(port), files["big"].get_download_url(), staller, per_kind)
    cost = ""
    try:
        stallers.start()
        time.sleep(1)  # every stalled request reaches the server and settles there
        if server_pid is not None:
            settle = _until_downloads_answered(stallers.sockets["unread-download"])
            cost = f"; unread downloads answered in {settle:.1f} s"
        paths = ["/", files["small"].get_download_url()]
        # Counted before the probes: on a loaded machine they may outlast nginx's 10 s header
        # deadline, which then closes the silent and half-sent heads as it should.
        open_at_start = stallers.open_counts()
        probes = probe(base_url, prober, paths, PROBES, timeout=PROBE_BOUND)
        still_open = stallers.open_counts()
        if server_pid is not None:
            cost += (
                f"; server: {_threads(server_pid)} threads, RSS {rss_kib(server_pid) // 1024} MiB"
            )
    finally:
        stallers.close()
        _wait_for_download_rows(files["big"], per_kind)
    print(
        f"\n{base_url}: 4 x {per_kind} stalled; {probes.summary()}; open when the probes began"
        f" {open_at_start}, after {still_open}{cost}"
    )
    assert probes.statuses == [200, download] * (PROBES // 2), probes.summary()
    # The stalls were in place when the probes began: the server had closed (almost) none.
    for kind in KINDS:
        assert open_at_start[kind] >= per_kind // 2, (kind, open_at_start)


def _until_downloads_answered(socks: list[socket.socket], within: float = 60.0) -> float:
    """Seconds until every unread download has its answer's first bytes waiting: uvicorn runs
    each request's sync view in a thread of its own, with no limit, so 256 downloads asked at
    once all run their views at once and take a while to start (measured, printed)."""
    started = time.monotonic()
    deadline = started + within
    waiting = list(socks)
    while waiting and time.monotonic() < deadline:
        waiting = [sock for sock in waiting if not _has_bytes(sock)]
        time.sleep(0.1)
    assert not waiting, f"{len(waiting)} downloads unanswered after {within:g} s"
    return time.monotonic() - started


def _has_bytes(sock: socket.socket) -> bool:
    try:
        return bool(sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT))
    except BlockingIOError:
        return False


def _threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return 0


def _wait_for_download_rows(big: StoredFile, count: int, within: float = 30.0) -> None:
    """Rows are written when a download's body ends: the stalled ones end as their sockets close,
    and the server writes their rows while the test's database is about to be flushed (on
    PostgreSQL the flush and those INSERTs deadlock). Wait until they are in."""
    deadline = time.monotonic() + within
    while DownloadLog.objects.filter(file=big).count() < count:
        if time.monotonic() > deadline:
            return  # the assertions say what went wrong; the flush may still race
        time.sleep(0.2)


def test_gunicorn_alone_answers_others_while_256_clients_stall(make_run_gunicorn, local_files):
    stall_and_probe(make_run_gunicorn.url, local_files)


# uvicorn has no deadline for a request head or a reader (issue 12): it holds every stalled
# connection, each a coroutine, and an unread download also its request's idle thread (where its
# sync view ran). 4 x 64 as for gunicorn; at 4 x 256 it still held all 1,024, but on this shared
# machine some probes waited past PROBE_BOUND (README, "Under ASGI").
def test_uvicorn_alone_answers_others_while_256_clients_stall(uvicorn_alone, local_files):
    (pid,) = uvicorn_alone.worker_pids()
    stall_and_probe(uvicorn_alone.url, local_files, server_pid=pid)


def test_nginx_stack_answers_others_while_256_clients_stall(stack_with_files):
    stack, files = stack_with_files
    stall_and_probe(stack.url, files, download=302 if stack.name == "s3" else 200)


# --- every kind of stall ends; a slow but steady reader does not ------------------------------


def wait_closed(sock: socket.socket, within: float) -> bytes:
    """Read until the server closes or resets the connection; what it sent (a 408, say)."""
    sock.settimeout(within)
    received = b""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return received
        except TimeoutError:
            break
        if not chunk:
            return received
        received += chunk
    raise AssertionError(f"still open after {within} s, having sent {len(received)} bytes")


def test_silent_and_half_sent_heads_are_closed_past_the_header_deadline(short_gunicorn):
    stallers = Stallers("127.0.0.1", short_gunicorn.port, "/", "", 4, ("silent", "partial"))
    stallers.start()
    try:
        started = time.monotonic()
        silent = [wait_closed(sock, 10) for sock in stallers.sockets["silent"]]
        partial = [wait_closed(sock, 10) for sock in stallers.sockets["partial"]]
        took = time.monotonic() - started
    finally:
        stallers.close()
    assert silent == [b""] * 4  # nothing was asked, nothing is said
    assert all(answer.startswith(b"HTTP/1.1 408 ") for answer in partial)
    assert 1.5 < took < 10


def test_a_body_that_trickles_is_answered_408_and_closed(short_gunicorn):
    stallers = Stallers("127.0.0.1", short_gunicorn.port, "/", "", 4, ("slow-body",)).start()
    try:
        answers = [wait_closed(sock, 15) for sock in stallers.sockets["slow-body"]]
    finally:
        stallers.close()
    assert all(answer.startswith(b"HTTP/1.1 408 ") for answer in answers)


def test_a_large_body_that_stalls_in_a_thread_is_cut_off(short_gunicorn):
    # Past GUNICORN_BODY_BUFFER the body is read by a thread: 1 MiB arrives at once, then
    # nothing, against a minimum of 1 MiB/s after 2 s of grace.
    with socket.create_connection(("127.0.0.1", short_gunicorn.port), timeout=10) as sock:
        head = (
            "POST /accounts/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {8 * MiB}\r\n\r\n"
        )
        sock.sendall(head.encode() + b"a=" + b"b" * MiB)
        answer = wait_closed(sock, 15)
    assert not answer.startswith(b"HTTP/1.1 200")


def _ask_download(port: int, cookie: str, path: str, receive_buffer: int) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.connect(("127.0.0.1", port))
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\n\r\n"
    sock.sendall(request.encode())
    return sock


def test_a_download_never_read_is_reset_past_the_send_deadline(short_gunicorn, local_files):
    files = local_files
    cookie = cookie_of(login(short_gunicorn.url, STALLER, PASSWORD))
    with _ask_download(short_gunicorn.port, cookie, files["big"].get_download_url(), 4096) as sock:
        time.sleep(3 + 3)  # GUNICORN_SEND_TIMEOUT, and its checks' slack
        received = wait_closed(sock, 10)
    assert received.startswith(b"HTTP/1.1 200 OK")
    assert len(received) < BIG  # cut off, not completed
    assert "read nothing for 3 s" in short_gunicorn.log()


def test_a_slow_steady_reader_is_not_cut_off(short_gunicorn, local_files):
    files = local_files
    session = login(short_gunicorn.url, STALLER, PASSWORD)
    url = short_gunicorn.url + files["big"].get_download_url()
    received = 0
    started = time.monotonic()
    with session.get(url, stream=True, timeout=30) as response:
        assert response.status_code == 200
        chunks = response.iter_content(chunk_size=256 * 1024)
        # 1 MiB/s for 7 s (twice the send deadline), a 2 s pause, then as fast as it comes.
        while time.monotonic() - started < 7:
            received += len(next(chunks))
            time.sleep(0.25)
        time.sleep(2)
        for chunk in chunks:
            received += len(chunk)
    assert received == BIG


def test_stalled_sockets_report_closed_once_the_server_closes(short_gunicorn):
    # The harness's own check, which the stall tests rely on: open, then closed.
    with socket.create_connection(("127.0.0.1", short_gunicorn.port)) as sock:
        assert is_open(sock)
        wait_closed(sock, 10)
        assert not is_open(sock)


def test_nginx_closes_a_half_sent_head_after_client_header_timeout(
    django_db_setup, gunicorn_server, live_media, live_static, tmp_path
):
    nginx = Nginx(
        upstream_port=gunicorn_server.port,
        media_root=live_media,
        static_root=live_static,
        run_dir=tmp_path / "nginx",
        options={"client_header_timeout": "2s"},
    ).start()
    try:
        stallers = Stallers("127.0.0.1", nginx.port, "/", "", 2, ("partial",)).start()
        try:
            answers = [wait_closed(sock, 10) for sock in stallers.sockets["partial"]]
        finally:
            stallers.close()
    finally:
        nginx.stop()
    # nginx closes without a word (its 408 goes to the log only).
    assert answers == [b"", b""]
