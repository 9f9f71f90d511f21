"""Stalled clients and a logged-in user's probes: does the app keep answering while they stall?

Four kinds of stalled client (issue 8), `per_kind` of each, all open at once:
  silent           connects and sends nothing
  partial          sends half a request head, then nothing
  slow-body        sends a POST head with Content-Length, then one body byte every few seconds
  unread-download  asks for a large download and never reads a byte of it

While they stall, probe() sends a normal user's requests one after another and times each. Used
by tests/test_stalled_clients.py (every probe answered 200 within a bound) and by
`python -m bench --stalled` (p50/p99/max for gunicorn alone and each nginx stack).
"""

import contextlib
import socket
import statistics
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import requests

KINDS = ("silent", "partial", "slow-body", "unread-download")
# A slow body's POST: small enough for any server to buffer, never complete.
SLOW_BODY_LENGTH = 64 * 1024
DRIBBLE_EVERY = 2.0  # seconds between a slow body's bytes


@dataclass
class Stallers:
    """`per_kind` stalled connections of each kind against host:port (opened by start())."""

    host: str
    port: int
    download_path: str  # a large file the `cookie`'s user may download
    cookie: str
    per_kind: int = 64
    kinds: Iterable[str] = KINDS
    sockets: dict[str, list[socket.socket]] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _dribbler: threading.Thread | None = None

    def _head(self, method: str, path: str, extra: str = "") -> bytes:
        return (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nCookie: {self.cookie}\r\n{extra}"
        ).encode()

    def _open(self, kind: str) -> socket.socket:
        sock = socket.socket()
        if kind == "unread-download":
            # A small receive window: the server's sends block after a few KiB, not megabytes.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(10)
        sock.connect((self.host, self.port))
        if kind == "partial":
            sock.sendall(self._head("GET", "/") + b"User-Agent: stalled")
        elif kind == "slow-body":
            extra = (
                "Content-Type: application/x-www-form-urlencoded\r\n"
                f"Content-Length: {SLOW_BODY_LENGTH}\r\n\r\n"
            )
            sock.sendall(self._head("POST", "/accounts/login/", extra) + b"a")
        elif kind == "unread-download":
            sock.sendall(self._head("GET", self.download_path, "\r\n"))
        sock.setblocking(False)  # from now on only peeked at, or sent a byte
        return sock

    def start(self) -> "Stallers":
        for kind in self.kinds:
            self.sockets[kind] = [self._open(kind) for _ in range(self.per_kind)]
        if self.sockets.get("slow-body"):
            self._dribbler = threading.Thread(target=self._dribble, daemon=True)
            self._dribbler.start()
        return self

    def _dribble(self) -> None:
        while not self._stop.wait(DRIBBLE_EVERY):
            for sock in self.sockets["slow-body"]:
                with contextlib.suppress(OSError):  # closed by the server: that is allowed
                    sock.send(b"a", socket.MSG_DONTWAIT)

    def open_counts(self) -> dict[str, int]:
        """Per kind, connections the server has not closed (nor answered and closed)."""
        return {
            kind: sum(1 for sock in socks if is_open(sock)) for kind, socks in self.sockets.items()
        }

    def close(self) -> None:
        self._stop.set()
        if self._dribbler is not None:
            self._dribbler.join(timeout=5)
        for socks in self.sockets.values():
            for sock in socks:
                sock.close()


def is_open(sock: socket.socket) -> bool:
    """The peer has neither closed nor reset the connection, as far as a peek can tell (a FIN
    behind unread bytes shows only once they are read)."""
    try:
        return bool(sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT))
    except BlockingIOError:
        return True
    except OSError:
        return False


@dataclass
class Probes:
    latencies: list[float]
    statuses: list[int]

    def percentile(self, share: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))]

    def summary(self) -> str:
        return (
            f"{len(self.latencies)} probes, p50 {self.percentile(0.5) * 1000:.0f} ms, "
            f"p99 {self.percentile(0.99) * 1000:.0f} ms, max {max(self.latencies) * 1000:.0f} ms, "
            f"statuses {sorted(set(self.statuses))}"
        )

    @property
    def mean(self) -> float:
        return statistics.fmean(self.latencies)


def probe(base_url: str, cookie: str, paths: list[str], count: int, timeout: float) -> Probes:
    """`count` requests, one after another, cycling through `paths`; each one's latency.

    A request that gets no answer within `timeout` counts as that long with status 0.
    """
    session = requests.Session()
    session.headers["Cookie"] = cookie
    latencies: list[float] = []
    statuses: list[int] = []
    for number in range(count):
        url = base_url + paths[number % len(paths)]
        started = time.monotonic()
        try:
            response = session.get(url, timeout=timeout, allow_redirects=False)
            status = response.status_code
        except requests.RequestException:
            status = 0
        latencies.append(time.monotonic() - started)
        statuses.append(status)
    session.close()
    return Probes(latencies, statuses)


def measure(
    name: str, base_url: str, download_path: str, cookie: str, probe_paths: list[str]
) -> str:
    """`python -m bench --stalled`: 4 x 64 stalled clients, then 200 probes; one line."""
    host, port = base_url.removeprefix("http://").split(":")
    stallers = Stallers(host, int(port), download_path, cookie)
    try:
        stallers.start()
        time.sleep(1)
        probes = probe(base_url, cookie, probe_paths, 200, timeout=10)
        still_open = stallers.open_counts()
    finally:
        stallers.close()
    return f"{name:<28} {probes.summary()}; stalled still open: {still_open}"
