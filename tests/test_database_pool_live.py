"""The connection pool under a real gunicorn on a PostgreSQL cluster of the test's own: how many
connections the app holds whatever its clients do, and how long a request waits for one.

project/database.py says why the pool exists: one persistent connection per gunicorn thread let
a few workers exhaust PostgreSQL's max_connections once threads waited on slow clients.
"""

import socket
import threading
import time

import pytest
import requests

from harness.login import login
from tests.pgcluster import PASSWORD, Cluster, app_on, cluster  # noqa: F401

pytestmark = pytest.mark.integration

POOL_SIZE = 3
POOL_TIMEOUT_S = 2
# Answered, not hung: the pool's wait plus a busy machine's slack.
ANSWER_BOUND_S = POOL_TIMEOUT_S + 8
STATEMENT_TIMEOUT_S = 2
STALLED = 12
BIG = 32 * 1024 * 1024


def never_read(port: int, cookie: str, path: str) -> socket.socket:
    """A download whose client reads nothing: its thread ends up waiting on the client."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\n\r\n".encode())
    return sock


def timed_get(session: requests.Session, url: str) -> tuple[int, float]:
    started = time.monotonic()
    status = session.get(url, timeout=60).status_code
    return status, time.monotonic() - started


def test_downloads_that_wait_on_their_clients_hold_no_database_connection(
    cluster: Cluster,  # noqa: F811
    live_static,
    tmp_path,
):
    media = tmp_path / "pool-media"
    media.mkdir()
    server, file_id = app_on(
        cluster,
        "pooled",
        media,
        live_static,
        tmp_path / "gunicorn.log",
        {
            "GUNICORN_THREADS": "2",
            "DATABASE_POOL_SIZE": str(POOL_SIZE),
            "DATABASE_POOL_TIMEOUT": str(POOL_TIMEOUT_S),
        },
        file_size=BIG,
    )
    stalled: list[socket.socket] = []
    try:
        session = login(server.url, "pooled", PASSWORD)
        cookie = f"sessionid={session.cookies['sessionid']}"
        for _ in range(STALLED):
            stalled.append(never_read(server.port, cookie, f"/files/{file_id}/download"))
        time.sleep(2)  # every download is sending, its thread waiting on its client
        # Each stalled download took a connection for its checks and gave it back before its
        # body: had they kept them, the pool (3) would be empty and these would wait, then 503.
        answers = [timed_get(session, server.url + "/") for _ in range(10)]
        assert [status for status, _ in answers] == [200] * 10, (answers, server.log()[-3000:])
        assert max(took for _, took in answers) < ANSWER_BOUND_S, answers
        held = cluster.app_connections()
        assert held <= POOL_SIZE, held
    finally:
        for sock in stalled:
            sock.close()
        server.stop()


def test_a_request_waits_for_a_connection_no_longer_than_the_pool_timeout(
    cluster: Cluster,  # noqa: F811
    live_static,
    tmp_path,
):
    media = tmp_path / "pool-media"
    media.mkdir()
    server, _ = app_on(
        cluster,
        "waiter",
        media,
        live_static,
        tmp_path / "gunicorn.log",
        {
            "GUNICORN_THREADS": "2",
            "DATABASE_POOL_SIZE": "1",
            "DATABASE_POOL_TIMEOUT": str(POOL_TIMEOUT_S),
        },
    )
    first: list[tuple[int, float]] = []
    try:
        session = login(server.url, "waiter", PASSWORD)
        # The first request's session query waits on a lock, holding the only connection.
        with cluster.connect() as locker:
            locker.execute("LOCK TABLE django_session IN ACCESS EXCLUSIVE MODE")
            holder = threading.Thread(
                target=lambda: first.append(timed_get(session, server.url + "/"))
            )
            holder.start()
            time.sleep(1)
            status, took = timed_get(session, server.url + "/")
            assert status == 503, server.log()[-3000:]
            assert POOL_TIMEOUT_S - 0.5 < took < ANSWER_BOUND_S, took
        # The lock is gone with the transaction: the first request goes on.
        holder.join(timeout=30)
        assert [status for status, _ in first] == [200], first
    finally:
        server.stop()


def test_a_request_stuck_behind_a_lock_ends_at_the_statement_timeout(
    cluster: Cluster,  # noqa: F811
    live_static,
    tmp_path,
):
    media = tmp_path / "pool-media"
    media.mkdir()
    server, _ = app_on(
        cluster,
        "locked",
        media,
        live_static,
        tmp_path / "gunicorn.log",
        {"DATABASE_STATEMENT_TIMEOUT": str(STATEMENT_TIMEOUT_S)},
    )
    try:
        session = login(server.url, "locked", PASSWORD)
        with cluster.connect() as locker:
            locker.execute("LOCK TABLE django_session IN ACCESS EXCLUSIVE MODE")
            status, took = timed_get(session, server.url + "/")
            assert status == 503, server.log()[-3000:]
            assert STATEMENT_TIMEOUT_S - 0.5 < took < STATEMENT_TIMEOUT_S + 8, took
        assert timed_get(session, server.url + "/")[0] == 200
    finally:
        server.stop()
