"""gunicorn's gthread worker, made safe against stalled clients (deploy/gunicorn.conf.py uses it).

gthread gives every new connection to a thread, which then reads the request head and body
with blocking reads and no deadline, and sends the response with a blocking sendfile() that
waits forever for a client that never reads; a worker also stops accepting once
`worker_connections` are open. A few dozen silent, half-sent or never-reading connections
therefore stopped the app. Here, with the same threads and the same gthread machinery:

- The main loop reads each request head, and a body up to `GUNICORN_BODY_BUFFER` bytes, without
  blocking, under deadlines (`GUNICORN_HEADER_TIMEOUT`; the body must then keep up
  `GUNICORN_MIN_BODY_RATE` after a grace of `GUNICORN_BODY_TIMEOUT`). A connection that misses
  them is answered 408 and closed; only a complete head (and small body) reaches a thread,
  pre-fed to the parser. Larger bodies are read by the thread under the same rate rule.
- A response that makes no progress for `GUNICORN_SEND_TIMEOUT` is abandoned and its connection
  reset. sendfile() stays sendfile(): the socket only gets a timeout, so CPython's
  socket.sendfile() leaves the file at start + bytes really sent, as the download log expects.
- A thread waiting on its client (a slow reader, a slow upload) gives its place to another
  request: `GUNICORN_THREADS` requests are worked on at once, and up to `GUNICORN_WAITING_THREADS`
  more threads may wait on clients. `worker_connections` caps the requests a worker works on or
  holds ready for a thread, not connections idle between requests, still sending their head or
  waiting on their client; `GUNICORN_MAX_CLIENTS` caps them all.
- A worker with clearly more requests waiting than the others lets kept-alive connections go,
  one answer at a time, so that the next ones land on any worker (deploy/balance.py).
- Once the app is loaded, its objects are left out of garbage collection (`GUNICORN_GC_FREEZE`),
  so that a full collection, which stops the whole worker, walks only what came after.

Plain HTTP/1.1 only, which is what the shipped configuration serves (TLS ends at nginx).
"""

import contextlib
import errno
import gc
import re
import selectors
import socket
import struct
import time
from collections import deque
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass
from functools import partial
from typing import Any

from gunicorn import http, util
from gunicorn.http.unreader import SocketUnreader
from gunicorn.workers.gthread import TConn, ThreadWorker

from deploy.balance import LoadTable, Shedder
from project.env import env_bool, env_float, env_int

# A blocked send or receive waits this long before its thread counts as "waiting on the client"
# (a client reading at any useful speed makes room sooner), then looks up this often to check
# its deadline.
FIRST_WAIT = 0.05
WAIT_SLICE = 1.0
# A closing connection's unread bytes are drained (RFC 9112 section 9.6) this long at most,
# in the main loop: gunicorn's own close_graceful() lingers in the main thread.
LINGER_SECONDS = 2.0
LINGER_MAX_BYTES = 64 * 1024
_HEAD_END = re.compile(rb"\r?\n\r?\n")
_CONTENT_LENGTH = re.compile(rb"\ncontent-length[ \t]*:[ \t]*([0-9]{1,19})[ \t]*\r?\n", re.I)
# A body of unknown length, or one the client sends only when told to continue.
_HAND_OVER_AT_ONCE = re.compile(
    rb"\n(?:transfer-encoding[ \t]*:|expect[ \t]*:[ \t]*100-continue)", re.I
)
_TIMEOUT_BODY = b"The request took too long to arrive.\n"
_TIMEOUT_408 = (
    b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Type: text/plain\r\n"
    b"Content-Length: %d\r\n\r\n%s" % (len(_TIMEOUT_BODY), _TIMEOUT_BODY)
)


@dataclass(frozen=True)
class Limits:
    header_timeout: float = 10.0
    body_timeout: float = 10.0
    min_body_rate: float = 8 * 1024
    body_buffer: int = 256 * 1024
    send_timeout: float = 60.0
    waiting_threads: int = 128
    max_clients: int = 512
    balance: bool = True
    freeze_heap: bool = True

    @classmethod
    def from_environ(cls) -> "Limits":
        """The limits from GUNICORN_* variables; ImproperlyConfigured names a bad one."""
        return cls(
            header_timeout=env_float("GUNICORN_HEADER_TIMEOUT", cls.header_timeout, minimum=1),
            body_timeout=env_float("GUNICORN_BODY_TIMEOUT", cls.body_timeout, minimum=1),
            min_body_rate=env_float("GUNICORN_MIN_BODY_RATE", cls.min_body_rate, minimum=1),
            body_buffer=env_int("GUNICORN_BODY_BUFFER", cls.body_buffer, minimum=0),
            send_timeout=env_float("GUNICORN_SEND_TIMEOUT", cls.send_timeout, minimum=1),
            waiting_threads=env_int("GUNICORN_WAITING_THREADS", cls.waiting_threads, minimum=0),
            max_clients=env_int("GUNICORN_MAX_CLIENTS", cls.max_clients, minimum=1),
            balance=env_bool("GUNICORN_BALANCE", cls.balance),
            freeze_heap=env_bool("GUNICORN_GC_FREEZE", cls.freeze_heap),
        )

    def body_deadline(self, started: float, received: int) -> float:
        """When a body that started arriving at `started` with `received` bytes is too slow."""
        return started + self.body_timeout + received / self.min_body_rate


class ClientSocket(socket.socket):
    """A client connection whose sends give up after `send_timeout` without progress, and say
    when they are waiting on the client."""

    send_timeout: float = Limits.send_timeout
    on_waiting: Callable[[bool], None] | None = None
    waiting = False

    def wait_slice(self) -> float:
        return WAIT_SLICE if self.waiting else FIRST_WAIT

    def set_waiting(self, waiting: bool) -> None:
        if waiting != self.waiting:
            self.waiting = waiting
            if self.on_waiting is not None:
                self.on_waiting(waiting)

    def _progress(self, sent: int, idle_since: float) -> float:
        """The new start of the idle time; raises once it has lasted send_timeout."""
        now = time.monotonic()
        if sent:
            self.set_waiting(False)
            return now
        self.set_waiting(True)
        if now - idle_since >= self.send_timeout:
            raise TimeoutError(f"the client read nothing for {self.send_timeout:g} s")
        return idle_since

    def sendall(self, data: Any, flags: int = 0) -> None:
        # socket.sendall() with a timeout bounds the whole call: a big chunk to a slow but
        # steady reader would fail. This bounds the time without progress instead.
        idle_since = time.monotonic()
        remaining = memoryview(data).cast("B")
        while remaining:
            self.settimeout(self.wait_slice())
            try:
                sent = self.send(remaining, flags)
            except TimeoutError:
                sent = 0
            remaining = remaining[sent:]
            idle_since = self._progress(sent, idle_since)

    def sendfile(self, file: Any, offset: int = 0, count: int | None = None) -> int:
        # CPython's sendfile() with a timeout waits at most that long for room before each
        # os.sendfile(), and on any exit seeks `file` (if it can) to offset + bytes sent. It runs
        # here in slices (wait_slice()), each starting where the last one ended; _Seeks tells how
        # far that is and passes the seek on, so `file` ends where plain sendfile() leaves it.
        idle_since = time.monotonic()
        total = 0
        while count is None or total < count:
            self.settimeout(self.wait_slice())
            start = offset + total
            tracked = _Seeks(file, start)
            left = None if count is None else count - total
            try:
                return total + super().sendfile(tracked, start, left)  # type: ignore[arg-type]
            except TimeoutError:
                sent = tracked.position - start
            total += sent
            idle_since = self._progress(sent, idle_since)
        return total


class _Seeks:
    """A file for socket.sendfile() that remembers where it was last seeked to."""

    def __init__(self, file: Any, position: int) -> None:
        self.file = file
        self.position = position

    def fileno(self) -> int:
        return int(self.file.fileno())

    def seek(self, position: int) -> None:
        self.position = position
        if hasattr(self.file, "seek"):
            self.file.seek(position)

    def read(self, size: int) -> bytes:  # socket.sendfile()'s send() fallback
        return bytes(self.file.read(size))


class BodyReader(SocketUnreader):
    """The parser's reads from the socket once a thread has the request: bodies larger than
    the buffer, under the same rate rule as in the main loop."""

    def __init__(self, sock: ClientSocket, limits: Limits) -> None:
        super().__init__(sock)
        self.limits = limits
        self.started = time.monotonic()
        self.received = 0

    def start(self, started: float, received: int) -> None:
        self.started, self.received = started, received

    def chunk(self, size_hint: int | None = None) -> bytes:
        sock: ClientSocket = self.sock
        while True:
            left = self.limits.body_deadline(self.started, self.received) - time.monotonic()
            if left <= 0:
                raise TimeoutError("the request body arrived too slowly")
            sock.settimeout(min(left, sock.wait_slice()))
            try:
                data: bytes = super().chunk(size_hint)
            except TimeoutError:
                sock.set_waiting(True)
                continue
            sock.set_waiting(False)
            self.received += len(data)
            return data


class Conn(TConn):
    """A connection, with what the main loop knows of the request it is receiving."""

    def __init__(self, cfg: Any, sock: ClientSocket, client: Any, server: Any) -> None:
        super().__init__(cfg, sock, client, server)
        self.data_ready = True  # never gthread's 5 s wait in a thread: the main loop reads
        self.received = bytearray()
        self.deadline = 0.0
        self.head_end: int | None = None
        self.body_wanted = 0
        self.body_started = 0.0
        self.handed_over = False  # the next enqueue_req() goes to a thread
        self.in_thread_waiting = False
        self.abandoned = False
        self.lingering: Callable[[Conn], None] | None = None

    def close(self, graceful: bool = False) -> None:
        if self.abandoned:
            abort(self.sock)
        elif graceful and self.lingering is not None:
            self.lingering(self)
        else:
            util.close(self.sock)


def abort(sock: socket.socket) -> None:
    """Close at once, discarding what is queued (a reset): nothing is owed to this client."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    util.close(sock)


# Made when the arbiter imports this module, so that every worker it forks shares it.
LOADS = LoadTable()


def freeze_heap() -> int:
    """Collect, then leave every object alive now out of later collections (gc.freeze()); how
    many that is. A full collection holds the GIL, so it stops the whole worker: its main loop
    and every thread. After loading Django and the app, each of the 80,000-odd objects was
    walked again in every one, 0.1-0.5 s each under load (a worker's queue waits them out: at
    256 clients they were the slowest 1%). Loaded modules, classes and settings live as long as
    the worker anyway."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


class StallProofWorker(ThreadWorker):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # gunicorn makes the worker in the arbiter, then forks: the slot is claimed there, one
        # worker at a time.
        super().__init__(*args, **kwargs)
        self.limits = Limits.from_environ()
        self.shedder = Shedder(LOADS, LOADS.claim() if self.limits.balance else -1)
        self.incoming: dict[Conn, None] = {}  # receiving a head or small body, by arrival
        self.lingering: dict[socket.socket, float] = {}  # closing: draining until a deadline
        self.ready: deque[Conn] = deque()  # complete requests waiting for a thread
        self.working = 0  # requests in threads, not waiting on their clients
        self.waiting = 0  # requests in threads, waiting on their clients
        self.max_head = (
            self.cfg.limit_request_line
            + self.cfg.limit_request_fields * (self.cfg.limit_request_field_size + 2)
            + 4
        )

    @classmethod
    def check_config(cls, cfg: Any, log: Any) -> None:
        super().check_config(cfg, log)
        if cfg.is_ssl:
            raise SystemExit("StallProofWorker serves plain HTTP/1.1: end TLS at nginx")

    def get_thread_pool(self) -> futures.ThreadPoolExecutor:
        return futures.ThreadPoolExecutor(
            max_workers=self.cfg.threads + self.limits.waiting_threads
        )

    def run(self) -> None:
        # gunicorn has loaded the app by now (init_process, then run).
        if self.limits.freeze_heap:
            self.log.info("Froze %d objects of the loaded app (gc.freeze)", freeze_heap())
        try:
            super().run()
        finally:
            self.shedder.release()

    # --- accepting: `worker_connections` counts the requests this worker works on ------------

    def set_accept_enabled(self, enabled: bool) -> None:
        # gthread's run() offers `nr_conns < worker_connections`; the decision is made here.
        # Connections idle between requests, still sending their head, or whose thread waits on
        # them cost this worker nothing but a file descriptor: only GUNICORN_MAX_CLIENTS caps
        # them. Refusing them would leave them in the accept queue, behind the kept-alive
        # connections it is serving again and again (the unfairness bench.soak measured).
        busy = self.nr_conns - len(self.incoming) - self.waiting - len(self.keepalived_conns)
        wanted = (
            self.alive
            and busy < self.worker_connections
            and self.nr_conns < self.limits.max_clients
        )
        super().set_accept_enabled(wanted)

    def accept(self, listener: socket.socket) -> None:
        try:
            accepted, client = listener.accept()
        except OSError as error:
            if error.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        sock = ClientSocket(accepted.family, accepted.type, accepted.proto, accepted.detach())
        sock.send_timeout = self.limits.send_timeout
        conn = Conn(self.cfg, sock, client, listener.getsockname())
        conn.lingering = self.linger
        sock.on_waiting = partial(self.method_queue.defer, self.client_waiting, conn)
        self.nr_conns += 1
        self.read_request(conn)

    # --- the main loop reads each request head (and small body) under deadlines -------------

    def enqueue_req(self, conn: Conn) -> None:  # type: ignore[override]
        # gthread calls this for a new connection, a kept-alive one that became readable, and
        # one with pipelined bytes: only a request read whole goes on to a thread.
        if conn.handed_over:
            conn.handed_over = False
            self.ready.append(conn)
            self.dispatch()
        else:
            self.read_request(conn)

    def read_request(self, conn: Conn) -> None:
        conn.sock.setblocking(False)
        pipelined = conn.parser.unreader.take_buffered() if conn.parser else b""
        conn.received = bytearray(pipelined)
        conn.deadline = time.monotonic() + self.limits.header_timeout
        conn.head_end = None
        self.incoming[conn] = None
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self.on_incoming, conn))
        if pipelined:
            self.advance(conn)

    def on_incoming(self, conn: Conn, _sock: socket.socket) -> None:
        try:
            data = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # the client went away
            self.drop_incoming(conn)
            return
        conn.received += data
        self.advance(conn)

    def advance(self, conn: Conn) -> None:
        if conn.head_end is None:
            found = _HEAD_END.search(conn.received)
            if found is None:
                if len(conn.received) > self.max_head:
                    self.hand_over(conn)  # the parser answers 400 for an oversized head
                return
            conn.head_end = found.end()
            head = bytes(conn.received[: conn.head_end])
            length = _CONTENT_LENGTH.search(head)
            conn.body_wanted = 0
            if length and not _HAND_OVER_AT_ONCE.search(head):
                announced = int(length[1])
                # A body past the buffer goes to a thread with the head, unread: the app may
                # refuse it from its length alone (downloads/bodylimit.py answers 413), and
                # one it accepts is read there under the same rate rule.
                conn.body_wanted = announced if announced <= self.limits.body_buffer else 0
            conn.body_started = time.monotonic()
        if len(conn.received) - conn.head_end >= conn.body_wanted:
            self.hand_over(conn)

    def hand_over(self, conn: Conn) -> None:
        del self.incoming[conn]
        self.poller.unregister(conn.sock)
        if conn.parser is None:
            conn.parser = http.get_parser(self.cfg, conn.sock, conn.client)
            conn.parser.unreader = BodyReader(conn.sock, self.limits)
        body_started = conn.body_started if conn.head_end is not None else time.monotonic()
        body_received = len(conn.received) - (conn.head_end or len(conn.received))
        conn.parser.unreader.start(body_started, body_received)
        conn.parser.unreader.unread(bytes(conn.received))
        conn.received = bytearray()
        conn.handed_over = True
        self.enqueue_req(conn)

    def drop_incoming(self, conn: Conn, answer: bytes = b"") -> None:
        del self.incoming[conn]
        self.poller.unregister(conn.sock)
        self.nr_conns -= 1
        if answer:
            with contextlib.suppress(OSError):
                conn.sock.send(answer)
        util.close(conn.sock)

    def murder_pending(self) -> None:
        super().murder_pending()
        now = time.monotonic()
        for conn in list(self.incoming):
            if conn.head_end is None:
                if now >= conn.deadline:
                    # A silent connection just goes; one that started a request hears why.
                    self.drop_incoming(conn, _TIMEOUT_408 if conn.received else b"")
            else:
                received = len(conn.received) - conn.head_end
                if now >= self.limits.body_deadline(conn.body_started, received):
                    self.drop_incoming(conn, _TIMEOUT_408)
        for sock, deadline in list(self.lingering.items()):
            if now >= deadline:
                self.end_linger(sock)
        # gthread's run() re-decides accepting only when its own count says so; run every turn.
        self.set_accept_enabled(True)
        self.shedder.update(len(self.ready) + self.working)

    # --- threads: `threads` at work, more may wait on their clients ---------------------------

    def dispatch(self) -> None:
        pool_size = self.cfg.threads + self.limits.waiting_threads
        while self.ready and self.working < self.cfg.threads:
            if self.working + self.waiting >= pool_size:
                return
            conn = self.ready.popleft()
            self.working += 1
            future = self.tpool.submit(self.handle, conn)
            future.add_done_callback(partial(self.request_done, conn))

    def request_done(self, conn: Conn, future: futures.Future) -> None:
        """(A thread) hand the finished request back to the main loop."""
        self.method_queue.defer(self.finish_request, conn, future)

    def client_waiting(self, conn: Conn, waiting: bool) -> None:
        """(Main thread) a request's thread now waits on its client, or no longer does."""
        if waiting == conn.in_thread_waiting:
            return
        conn.in_thread_waiting = waiting
        self.working += -1 if waiting else 1
        self.waiting += 1 if waiting else -1
        self.dispatch()

    def finish_request(self, conn: Conn, fs: futures.Future) -> None:  # type: ignore[override]
        if conn.in_thread_waiting:
            self.waiting -= 1
        else:
            self.working -= 1
        conn.in_thread_waiting = False
        conn.sock.waiting = False
        super().finish_request(conn, fs)
        self.dispatch()

    def handle_request(self, req: Any, conn: Conn) -> bool:  # type: ignore[override]
        if self.shedder.take():
            # This worker has more requests waiting than the others (deploy/balance.py): the
            # client's next request comes on a new connection, which may land on any worker.
            req.must_close = True
        try:
            return bool(super().handle_request(req, conn))
        except TimeoutError as error:
            # A client that stopped reading or sending: one line, not a traceback.
            self.log.info("Closing the connection of %s: %s", conn.client, error)
            conn.abandoned = True
            raise StopIteration from error

    # --- closing without blocking the main loop ----------------------------------------------

    def linger(self, conn: Conn) -> None:
        sock = conn.sock
        try:
            sock.setblocking(False)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            util.close(sock)
            return
        self.lingering[sock] = time.monotonic() + LINGER_SECONDS
        self.poller.register(sock, selectors.EVENT_READ, self.on_lingering)

    def on_lingering(self, sock: socket.socket) -> None:
        try:
            data = sock.recv(LINGER_MAX_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data or len(data) >= LINGER_MAX_BYTES:
            self.end_linger(sock)

    def end_linger(self, sock: socket.socket) -> None:
        del self.lingering[sock]
        self.poller.unregister(sock)
        util.close(sock)
