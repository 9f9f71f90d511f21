"""The connection pool under a real gunicorn on a PostgreSQL cluster of the test's own: how many
connections the app holds whatever its clients do, and how long a request waits for one.

project/database.py says why the pool exists: one persistent connection per gunicorn thread let
a few workers exhaust PostgreSQL's max_connections once threads waited on slow clients.
"""

import socket
import threading
import time

import pytest

from tests.pgcluster import Cluster, app_on, cluster  # noqa: F401

pytestmark = pytest.mark.integration

POOL_SIZE = 3
POOL_TIMEOUT_S = 2
STATEMENT_TIMEOUT_S = 2
# Answered, not hung: the wait being tested plus a busy machine's slack.
SLACK_S = 8
STALLED = 12
BIG = 32 * 1024 * 1024


def never_read(port: int, cookie: str, path: str) -> socket.socket:
    """A download whose client reads nothing: its thread ends up waiting on the client."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\n\r\n".encode())
    return sock


def test_downloads_that_wait_on_their_clients_hold_no_database_connection(
    cluster: Cluster,  # noqa: F811
    live_static,
    tmp_path,
):
    env = {
        "GUNICORN_THREADS": "2",
        "DATABASE_POOL_SIZE": str(POOL_SIZE),
        "DATABASE_POOL_TIMEOUT": str(POOL_TIMEOUT_S),
    }
    with app_on(cluster, "pooled", tmp_path, live_static, env, file_size=BIG) as app:
        cookie = f"sessionid={app.session.cookies['sessionid']}"
        path = f"/files/{app.file_id}/download"
        stalled = [never_read(app.server.port, cookie, path) for _ in range(STALLED)]
        try:
            time.sleep(2)  # every download is sending, its thread waiting on its client
            # Each stalled download took a connection for its checks and gave it back before
            # its body: had they kept them, the pool (3) would be empty and these would wait,
            # then 503.
            answers = [app.get("/") for _ in range(10)]
            assert [status for status, _ in answers] == [200] * 10, (
                answers,
                app.server.log()[-3000:],
            )
            assert max(took for _, took in answers) < POOL_TIMEOUT_S + SLACK_S, answers
            held = cluster.app_connections()
            assert held <= POOL_SIZE, held
        finally:
            for sock in stalled:
                sock.close()


def test_a_request_waits_for_a_connection_no_longer_than_the_pool_timeout(
    cluster: Cluster,  # noqa: F811
    live_static,
    tmp_path,
):
    env = {
        "GUNICORN_THREADS": "2",
        "DATABASE_POOL_SIZE": "1",
        "DATABASE_POOL_TIMEOUT": str(POOL_TIMEOUT_S),
    }
    with app_on(cluster, "waiter", tmp_path, live_static, env) as app:
        first: list[tuple[int, float]] = []
        # The first request's session query waits on a lock, holding the only connection.
        with cluster.connect() as locker:
            locker.execute("LOCK TABLE django_session IN ACCESS EXCLUSIVE MODE")
            holder = threading.Thread(target=lambda: first.append(app.get("/")))
            holder.start()
            time.sleep(1)
            status, took = app.get("/")
            assert status == 503, app.server.log()[-3000:]
            assert POOL_TIMEOUT_S - 0.5 < took < POOL_TIMEOUT_S + SLACK_S, took
        # The lock is gone with the transaction: the first request goes on.
        holder.join(timeout=30)
        assert [status for status, _ in first] == [200], first


def test_a_request_stuck_behind_a_lock_ends_at_the_statement_timeout(
    cluster: Cluster,  # noqa: F811
    live_static,
    tmp_path,
):
    env = {"DATABASE_STATEMENT_TIMEOUT": str(STATEMENT_TIMEOUT_S)}
    with app_on(cluster, "locked", tmp_path, live_static, env) as app:
        with cluster.connect() as locker:
            locker.execute("LOCK TABLE django_session IN ACCESS EXCLUSIVE MODE")
            status, took = app.get("/")
            assert status == 503, app.server.log()[-3000:]
            assert STATEMENT_TIMEOUT_S - 0.5 < took < STATEMENT_TIMEOUT_S + SLACK_S, took
        assert app.get("/")[0] == 200
