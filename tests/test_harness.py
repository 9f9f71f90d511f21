"""The server harness (harness/) the live tests and the benchmarks start their servers with: a
server that cannot start fails within its deadline, says why (its log's tail) and leaves no
process behind; a login that does not succeed is an error, not a session without a cookie."""

import time
from pathlib import Path

import pytest

from harness.gunicorn import Gunicorn
from harness.login import LoginFailed, login
from harness.nginx import Nginx
from harness.process import Server, ServerFailed
from harness.procfs import process_tree
from harness.storages import local_storage, with_default_storage
from tests.servers import make_live_user, server_env

pytestmark = pytest.mark.integration

# A deadline of 1 s must be kept to within this (stopping the process included), on a machine
# busy with other test runs: "gave up and stopped", not a measurement.
DEADLINE_SLACK = 20


def assert_gone(server: Server) -> None:
    assert server.process is not None
    assert server.process.poll() is not None, "the failed server was left running"


def test_a_server_that_never_listens_fails_at_its_deadline_and_is_stopped(tmp_path):
    server = Server(start_timeout=1)
    log = tmp_path / "silent.log"
    started = time.monotonic()
    with pytest.raises(ServerFailed) as failed:
        server.launch(["sh", "-c", "echo 'still starting, honest'; exec sleep 60"], log)
    assert time.monotonic() - started < 1 + DEADLINE_SLACK
    assert f"nothing listens on port {server.port} after 1 s" in str(failed.value)
    assert "still starting, honest" in str(failed.value)
    assert_gone(server)


def test_a_gunicorn_that_exits_at_start_fails_with_its_log_tail(
    django_db_setup, live_media, live_static, tmp_path
):
    server = Gunicorn(env=server_env(live_media, live_static, GUNICORN_TIMEOUT="soon"))
    with pytest.raises(ServerFailed) as failed:
        server.start(tmp_path / "gunicorn.log")
    message = str(failed.value)
    assert "exited with" in message
    assert "GUNICORN_TIMEOUT" in message or "soon" in message, message
    assert_gone(server)


def test_an_nginx_that_refuses_its_configuration_fails_with_its_complaint(
    gunicorn_server, live_media, live_static, tmp_path
):
    nginx = Nginx(
        upstream_port=gunicorn_server.port,
        media_root=live_media,
        static_root=live_static,
        run_dir=tmp_path / "nginx",
        options={"send_timeout": "whenever"},
    )
    with pytest.raises(ServerFailed) as failed:
        nginx.start()
    assert "[emerg]" in str(failed.value)
    assert "send_timeout" in str(failed.value)
    assert_gone(nginx)


def test_the_direct_server_serves_files_from_the_same_nginx(
    gunicorn_server, live_media, live_static, tmp_path
):
    (live_media / "harness-direct.txt").write_bytes(b"no check at all\n")
    nginx = Nginx(
        upstream_port=gunicorn_server.port,
        media_root=live_media,
        static_root=live_static,
        run_dir=tmp_path / "nginx",
        direct_root=live_media,
    ).start()
    try:
        import requests

        answer = requests.get(f"{nginx.direct_url}/harness-direct.txt", timeout=10)
        assert answer.content == b"no check at all\n"
        # One nginx: the master and its worker answer on both ports.
        assert nginx.pids() == process_tree(nginx.process.pid)
        assert len(nginx.worker_pids()) == 1
    finally:
        nginx.stop()
    assert_gone(nginx)


def test_a_login_the_form_refuses_is_an_error(live_gunicorn):
    make_live_user("harness-user", "right-password-1")
    with pytest.raises(LoginFailed, match=r"'harness-user'.*200"):
        login(live_gunicorn.url, "harness-user", "wrong-password")
    session = login(live_gunicorn.url, "harness-user", "right-password-1")
    assert session.cookies.get("sessionid")


def test_the_storage_override_replaces_only_the_default_storage(settings, tmp_path: Path):
    before = dict(settings.STORAGES)
    settings.STORAGES = with_default_storage(local_storage(tmp_path))
    assert settings.STORAGES["default"]["OPTIONS"] == {"location": str(tmp_path), "base_url": None}
    assert {k: v for k, v in settings.STORAGES.items() if k != "default"} == {
        k: v for k, v in before.items() if k != "default"
    }
