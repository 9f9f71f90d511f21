"""mix.lua itself, run by wrk against a small recording server: each connection's first request
is the big download (so every connection's body buffer is grown before the steady state), the
first requests are spread over the ramp rather than sent in one burst, its
report counts answers per second of the clock (what bench/soak/mix.py takes requests/s from),
and the latencies of the requests wrk sent are told from those wrk reports."""

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench import wrk
from bench.soak import mix

pytestmark = pytest.mark.integration

CONNECTIONS = 8
THREADS = 2
RAMP_S = 1.0


class Recorder(BaseHTTPRequestHandler):
    """Records each request's client port and path. Like the app under load, it answers no
    request before every connection has sent its first (or a second has passed)."""

    protocol_version = "HTTP/1.1"
    # Its head and body go out in two writes: without this, the body waits for the client's
    # delayed ACK (40 ms) and every answer is slow.
    disable_nagle_algorithm = True
    seen: list[tuple[int, str, float]] = []
    all_connected = threading.Event()

    def do_GET(self) -> None:
        self.seen.append((self.client_address[1], self.path, time.monotonic()))
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


class SlowBig(Recorder):
    """Answers the whole big download after SLOW_S, everything else (its ranges too) at once."""

    def do_GET(self) -> None:
        if self.path == "/big" and "Range" not in self.headers:
            time.sleep(SLOW_S)
        super().do_GET()

    do_POST = do_GET


SLOW_S = 0.3


class QuietServer(ThreadingHTTPServer):
    request_queue_size = 64  # every connection at once, none waiting for a SYN retry

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # wrk resets its connections when it stops


def serve(handler: type[Recorder]):
    Recorder.seen = []
    Recorder.all_connected.clear()
    server = QuietServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def recorder():
    yield from serve(Recorder)


@pytest.fixture
def slow_big():
    yield from serve(SlowBig)


TARGET = mix.Target(
    small_path="/small",
    big_path="/big",
    etag='"e"',
    missing_ids=("nobody",),
    cookie="sessionid=s",
    csrf_token="t",
    username="u",
    password="p",
)


def run_mix(
    server: QuietServer, seconds: float, ramp_s: float = 0.0
) -> tuple[wrk.WrkResult, mix.Outcome]:
    result = wrk.run(
        f"http://127.0.0.1:{server.server_address[1]}/",
        seconds=seconds,
        connections=CONNECTIONS,
        threads=THREADS,
        script=mix.SCRIPT,
        script_args=TARGET.script_args(CONNECTIONS // THREADS, ramp_s=ramp_s),
    )
    return result, mix.parse(result.report, CONNECTIONS)


def test_every_connection_starts_with_the_big_download_and_answers_are_counted_per_second(
    recorder,
):
    result, outcome = run_mix(recorder, seconds=3, ramp_s=RAMP_S)

    firsts: dict[int, tuple[str, float]] = {}
    for port, path, at in Recorder.seen:
        firsts.setdefault(port, (path, at))
    assert len(firsts) == CONNECTIONS
    assert {path for path, _ in firsts.values()} == {"/big"}
    # Spread over the ramp: on each thread the last connection starts 3/4 of it after the first.
    arrivals = sorted(at for _, at in firsts.values())
    assert arrivals[-1] - arrivals[0] >= RAMP_S / 2
    # The rest follows the mix: more than the warm-up went elsewhere.
    assert {path for _, path, _ in Recorder.seen} > {"/big"}
    counted = mix.answers_per_second(mix.figures_of(result.report))
    assert sum(counted.values()) == outcome.requests
    assert max(counted) - min(counted) <= 4  # a 3 s run over at most 5 seconds of the clock


def test_the_latencies_of_the_requests_sent_leave_out_those_wrk_adds(slow_big):
    # The whole big download, 8% of the mix, takes 0.3 s and the rest a few milliseconds: wrk's
    # interval (its mean latency) is ~30 ms, and for each slow answer it adds some nine requests
    # nobody sent, spread between 30 and 270 ms: about as many as were sent.
    _, outcome = run_mix(slow_big, seconds=3)

    assert [percent for percent, _ in outcome.latency_quantiles] == [*mix.QUANTILE_PERCENTS, 100]
    sent, reported = dict(outcome.sent_quantiles), dict(outcome.latency_quantiles)
    assert reported[75] >= 50_000
    assert sent[75] < 20_000
    assert sent[99] >= SLOW_S * 1e6
    assert outcome.sent_latency_ms["max"] == outcome.latency_ms["max"]
