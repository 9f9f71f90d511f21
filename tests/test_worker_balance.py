"""Many clients are shared fairly (issue 8, section 6), against a real gunicorn started with
deploy/gunicorn.conf.py: each worker listens on its own socket (SO_REUSEPORT), so the kernel
spreads new connections over the workers, and a worker accepts every connection (up to
GUNICORN_MAX_CLIENTS) instead of leaving the ones beyond `worker_connections` in the listen
queue behind kept-alive ones; a worker with more requests waiting than the others lets
connections go until the load is even (deploy/balance.py). Latency and throughput under load
are `make soak`'s to measure."""

import http.client
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.gunicorn import Gunicorn
from harness.procfs import ESTABLISHED, LISTEN, socket_inodes, tcp_sockets
from tests.servers import server_env

pytestmark = pytest.mark.integration

CONNECTIONS = 64
# Seconds for the workers to accept what the kernel queued for them: "not stuck", on a busy
# shared machine.
ACCEPT_BOUND = 10.0


def states(port: int) -> dict[int, str]:
    """Socket inode -> TCP state, for sockets whose local port is `port`."""
    return {sock.inode: sock.state for sock in tcp_sockets(port)}


def held(server: Gunicorn, state: str) -> dict[int, int]:
    """Worker pid -> how many of the port's sockets in `state` it holds."""
    sockets = states(server.port)
    return {
        pid: sum(1 for inode in socket_inodes(pid) if sockets.get(inode) == state)
        for pid in server.worker_pids()
    }


@pytest.fixture(scope="module")
def two_workers(
    django_db_setup: None,
    live_media: Path,
    live_static: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Gunicorn]:
    # worker_connections as low as it goes: connections idle in the main loop must not count.
    env = server_env(live_media, live_static, GUNICORN_WORKERS="2", GUNICORN_WORKER_CONNECTIONS="2")
    server = Gunicorn(env=env).start(tmp_path_factory.mktemp("balance") / "gunicorn.log")
    try:
        deadline = time.monotonic() + ACCEPT_BOUND
        while list(held(server, LISTEN).values()) != [1, 1]:
            assert time.monotonic() < deadline, f"workers' listeners: {held(server, LISTEN)}"
            time.sleep(0.1)
        yield server
    finally:
        server.stop()


def test_each_worker_listens_on_its_own_socket(two_workers):
    listening = [inode for inode, state in states(two_workers.port).items() if state == LISTEN]
    owners = {pid: socket_inodes(pid) & set(listening) for pid in two_workers.worker_pids()}

    assert len(listening) == 2
    assert all(len(mine) == 1 for mine in owners.values()), owners
    assert set.union(*owners.values()) == set(listening)


def test_many_connections_are_all_accepted_spread_and_answered(two_workers):
    clients = [
        socket.create_connection(("127.0.0.1", two_workers.port), timeout=ACCEPT_BOUND)
        for _ in range(CONNECTIONS)
    ]
    try:
        deadline = time.monotonic() + ACCEPT_BOUND
        counts = held(two_workers, ESTABLISHED)
        while sum(counts.values()) < CONNECTIONS:
            assert time.monotonic() < deadline, f"accepted per worker: {counts}"
            time.sleep(0.1)
            counts = held(two_workers, ESTABLISHED)
        # Each connection lands on a worker by a hash of its addresses: 64 of them split about
        # evenly (fewer than 12 on one worker: a chance of about 1 in 10^7).
        assert min(counts.values()) >= 12, counts
        # Accepted, not just queued: each is answered.
        for client in clients:
            client.sendall(b"GET /accounts/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        for client in clients:
            assert client.recv(64).startswith(b"HTTP/1.1 200 ")
    finally:
        for client in clients:
            client.close()


# A closed loop of clients, most of them on one worker: 30 against 10.
CROWDED, SPARSE = 30, 10
LOAD_SECONDS = 6.0


def owner(server: Gunicorn, client: socket.socket) -> int | None:
    """The worker holding the server's end of the client's connection, once it accepted it."""
    port = client.getsockname()[1]
    inodes = {sock.inode for sock in tcp_sockets(server.port) if sock.remote_port == port}
    return next((pid for pid in server.worker_pids() if socket_inodes(pid) & inodes), None)


@pytest.fixture
def single_threaded_workers(
    django_db_setup: None,
    live_media: Path,
    live_static: Path,
    tmp_path: Path,
) -> Iterator[Gunicorn]:
    # One thread each: a handful of clients make a queue.
    env = server_env(live_media, live_static, GUNICORN_WORKERS="2", GUNICORN_THREADS="1")
    server = Gunicorn(env=env).start(tmp_path / "gunicorn.log")
    try:
        yield server
    finally:
        server.stop()


def lopsided_connections(server: Gunicorn) -> tuple[int, list[socket.socket]]:
    """CROWDED connections held by one worker and SPARSE by the other (the kernel's hash decides
    where each lands: open enough, keep the ones wanted)."""
    kept: dict[int, list[socket.socket]] = {}
    opened: list[socket.socket] = []
    deadline = time.monotonic() + ACCEPT_BOUND
    crowded = None
    while True:
        client = socket.create_connection(("127.0.0.1", server.port), timeout=ACCEPT_BOUND)
        while (pid := owner(server, client)) is None:
            assert time.monotonic() < deadline, "a connection was never accepted"
            time.sleep(0.01)
        crowded = crowded or pid
        wanted = CROWDED if pid == crowded else SPARSE
        if len(kept.setdefault(pid, [])) < wanted:
            kept[pid].append(client)
        else:
            opened.append(client)
        if sum(len(mine) for mine in kept.values()) == CROWDED + SPARSE:
            break
    for extra in opened:
        extra.close()
    return crowded, [client for mine in kept.values() for client in mine]


def test_a_worker_with_more_requests_waiting_lets_connections_go_until_the_load_is_even(
    single_threaded_workers,
):
    server = single_threaded_workers
    crowded, clients = lopsided_connections(server)
    before_by_port = {client.getsockname()[1]: owner(server, client) for client in clients}
    before = Counter(before_by_port.values())
    assert before[crowded] == CROWDED

    statuses: Counter[int] = Counter()
    let_go: Counter[int | None] = Counter()
    connections = []
    stop = time.monotonic() + LOAD_SECONDS

    def keep_asking(client: socket.socket) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        connection.sock = client
        held_by = before_by_port[client.getsockname()[1]]
        connections.append(connection)
        while time.monotonic() < stop:
            if connection.sock is None:  # http.client connects again for this request
                connection.connect()
                held_by = None
            connection.request("GET", "/accounts/login/")
            response = connection.getresponse()
            response.read()
            statuses[response.status] += 1
            if response.getheader("Connection", "").lower() == "close":
                let_go[held_by] += 1

    threads = [threading.Thread(target=keep_asking, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # A client whose last answer closed its connection holds none now.
    held = [connection.sock for connection in connections if connection.sock is not None]
    after = Counter(owner(server, sock) for sock in held)
    for connection in connections:
        connection.close()

    assert set(statuses) == {200}, statuses
    # The crowded worker let connections go, the other none of those it started with; the
    # kernel's hash spread the new ones (None: a new connection, let go again).
    assert let_go[crowded] > 0, let_go
    assert set(let_go) <= {crowded, None}, let_go
    sparse = next(pid for pid in before if pid != crowded)
    assert after[crowded] - after[sparse] <= 10, (before, after, let_go)
