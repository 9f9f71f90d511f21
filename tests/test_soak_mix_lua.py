"""mix.lua itself, run by wrk against a small recording server: each connection's first request
is the big download (so every connection's body buffer is grown before the steady state), and
its report counts answers per second of the clock (what bench/soak/mix.py takes requests/s from)."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench import wrk
from bench.soak import mix

pytestmark = pytest.mark.integration

CONNECTIONS = 8
THREADS = 2


class Recorder(BaseHTTPRequestHandler):
    """Records each request's client port and path. Like the app under load, it answers no
    request before every connection has sent its first (or a second has passed)."""

    protocol_version = "HTTP/1.1"
    seen: list[tuple[int, str]] = []
    all_connected = threading.Event()

    def do_GET(self) -> None:
        self.seen.append((self.client_address[1], self.path))
        if len(self.seen) >= CONNECTIONS:
            self.all_connected.set()
        self.all_connected.wait(timeout=1)
        self.rfile.read(int(self.headers.get("Content-Length") or 0))  # the login's form
        body = b"x" * 64
        self.send_response(200)
        self.send_header("Content-Disposition", "attachment")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, *args: object) -> None:
        pass


class QuietServer(ThreadingHTTPServer):
    request_queue_size = 64  # every connection at once, none waiting for a SYN retry

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # wrk resets its connections when it stops


@pytest.fixture
def recorder():
    Recorder.seen = []
    Recorder.all_connected.clear()
    server = QuietServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_every_connection_starts_with_the_big_download_and_answers_are_counted_per_second(
    recorder,
):
    target = mix.Target(
        small_path="/small",
        big_path="/big",
        etag='"e"',
        missing_ids=("nobody",),
        cookie="sessionid=s",
        csrf_token="t",
        username="u",
        password="p",
    )
    url = f"http://127.0.0.1:{recorder.server_address[1]}"

    result = wrk.run(
        url + "/",
        seconds=2,
        connections=CONNECTIONS,
        threads=THREADS,
        script=mix.SCRIPT,
        script_args=target.script_args(CONNECTIONS // THREADS),
    )
    outcome = mix.parse(result.report)

    first_paths = {}
    for port, path in Recorder.seen:
        first_paths.setdefault(port, path)
    assert len(first_paths) == CONNECTIONS
    assert set(first_paths.values()) == {"/big"}
    # The rest follows the mix: more than the warm-up went elsewhere.
    assert {path for _, path in Recorder.seen} > {"/big"}
    counted = mix.answers_per_second(mix.figures_of(result.report))
    assert sum(counted.values()) == outcome.requests
    assert max(counted) - min(counted) <= 3
