"""Many clients are shared fairly (issue 8, section 6), against a real gunicorn started with
deploy/gunicorn.conf.py: each worker listens on its own socket (SO_REUSEPORT), so the kernel
spreads new connections over the workers, and a worker accepts every connection (up to
GUNICORN_MAX_CLIENTS) instead of leaving the ones beyond `worker_connections` in the listen
queue behind kept-alive ones. Latency and throughput under load are `make soak`'s to measure."""

import socket
import time
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
