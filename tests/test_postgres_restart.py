"""PostgreSQL stopped and restarted under the real gunicorn: while it is down every request gets
the 503 page within a bounded time, and the requests after the restart succeed.

A throwaway cluster of this test's own (tests/pgcluster.py). Connections come from the pool
(project/database.py), health-checked as they are handed out: the first request after the
restart gets a new connection, not a dead one. The compiled queries of downloads/prepared.py hold
only SQL text and parameter positions, no server-side state (Django's psycopg backend binds on the
client), so they run unchanged on the new connection.
"""

import time

import pytest

from tests.pgcluster import Cluster, app_on, cluster  # noqa: F401

pytestmark = pytest.mark.integration

# The app's wait for a connection while the server is down (DATABASE_POOL_TIMEOUT); the 503
# comes after it, plus a busy machine's slack.
POOL_TIMEOUT_S = 2
DOWN_ANSWER_BOUND_S = POOL_TIMEOUT_S + 8
# The pool's background reconnection gives up after 5 s and the next request starts another.
RECOVERY_BOUND_S = 30


def test_postgres_down_is_a_503_and_requests_after_a_restart_succeed(
    cluster: Cluster,  # noqa: F811
    live_static,
    tmp_path,
):
    env = {"DATABASE_POOL_TIMEOUT": str(POOL_TIMEOUT_S)}
    with app_on(cluster, "restarter", tmp_path, live_static, env) as app:
        targets = ["/", f"/files/{app.file_id}/download", "/api/files/"]

        def load() -> list[tuple[str, int]]:
            return [(target, app.get(target)[0]) for _ in range(5) for target in targets]

        # The pool's connections are open before the restart.
        before = load()
        assert {status for _, status in before} == {200}, before

        cluster.pg_ctl("stop")
        for target in targets:
            started = time.monotonic()
            down = app.session.get(app.server.url + target, timeout=30)
            took = time.monotonic() - started
            assert down.status_code == 503, (target, down.status_code, app.server.log()[-3000:])
            assert took < DOWN_ANSWER_BOUND_S, (target, took)
            assert down.headers["Retry-After"] == "30"
            assert down.headers["Cache-Control"] == "private, no-store"
            assert "database is not answering" in down.text
        cluster.pg_ctl("start")

        # The pool reconnects within seconds (project/database.py, POOL_RECONNECT_SECONDS).
        back_by = time.monotonic() + RECOVERY_BOUND_S
        while app.get("/")[0] != 200:
            assert time.monotonic() < back_by, app.server.log()[-3000:]
            time.sleep(0.5)
        after = load()
        assert {status for _, status in after} == {200}, (after, app.server.log()[-3000:])
