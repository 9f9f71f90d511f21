"""Login throttling across processes: two gunicorns on one database are two hosts behind a load
balancer; failures counted by one lock the user out on the other."""

import pytest
import requests

from harness import login
from harness.gunicorn import Gunicorn
from tests.servers import make_live_user, server_env

pytestmark = pytest.mark.integration

LIMIT = 3


def login_attempt(base_url: str, username: str, password: str) -> requests.Response:
    return login.login_attempt(base_url, username, password)[1]


@pytest.fixture
def two_hosts(live_server_media, live_static, transactional_db, tmp_path):
    env = server_env(
        live_server_media,
        live_static,
        GUNICORN_WORKERS="1",
        DOWNLOADS_LOGIN_FAILURE_LIMIT=str(LIMIT),
        DOWNLOADS_LOGIN_COOLOFF_MINUTES="5",
    )
    servers = []
    try:
        for name in ("a", "b"):
            servers.append(Gunicorn(env=env).start(tmp_path / f"gunicorn-{name}.log"))
        yield servers
    finally:
        for server in servers:
            server.stop()


def test_failures_on_one_host_lock_out_on_the_other(two_hosts):
    first, second = two_hosts
    make_live_user("alice", "live-password-1")
    for _ in range(LIMIT - 1):
        assert login_attempt(first.url, "alice", "wrong").status_code == 200
    assert login_attempt(second.url, "alice", "wrong").status_code == 429
    locked = login_attempt(first.url, "alice", "live-password-1")
    assert locked.status_code == 429
    assert "Try again in 5 minutes at the latest" in locked.text
    assert locked.headers["Retry-After"] == "300"
