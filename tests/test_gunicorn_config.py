"""deploy/gunicorn.conf.py as gunicorn itself reads it."""

from pathlib import Path

import pytest
from gunicorn.app.base import Application
from gunicorn.config import Config
from gunicorn.workers.gthread import ThreadWorker

from deploy.worker import Limits, StallProofWorker

CONFIG = Path(__file__).resolve().parent.parent / "deploy" / "gunicorn.conf.py"


class _Deployed(Application):
    """gunicorn's own loading of the file, without starting anything."""

    def load_config(self) -> None:
        self.load_config_from_file(str(CONFIG))

    def init(self, parser: object, opts: object, args: object) -> None:
        raise AssertionError("no command line here")

    def load(self) -> None:
        raise AssertionError("not started")


def load() -> Config:
    return _Deployed().cfg


def test_downloads_leave_with_sendfile(monkeypatch):
    # Any value of gunicorn's `sendfile` setting, True included, switches sendfile off.
    monkeypatch.delenv("SENDFILE", raising=False)
    assert load().sendfile is True


def test_threaded_workers_hardened_against_stalled_clients_with_keepalive():
    config = load()
    # gthread's threads and heartbeat, plus deadlines for slow clients (test_stalled_clients.py).
    assert config.worker_class is StallProofWorker
    assert issubclass(StallProofWorker, ThreadWorker)
    assert config.keepalive > 0


def test_stall_limits_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("GUNICORN_HEADER_TIMEOUT", "7")
    monkeypatch.setenv("GUNICORN_SEND_TIMEOUT", "20")
    limits = Limits.from_environ()
    assert (limits.header_timeout, limits.send_timeout) == (7, 20)
    assert limits.body_deadline(started=100, received=8192) == 100 + 10 + 8192 / 8192
    monkeypatch.setenv("GUNICORN_SEND_TIMEOUT", "0")
    with pytest.raises(SystemExit, match="GUNICORN_SEND_TIMEOUT"):
        Limits.from_environ()


def test_no_worker_can_take_every_connection(monkeypatch):
    monkeypatch.delenv("GUNICORN_REUSE_PORT", raising=False)
    monkeypatch.delenv("GUNICORN_WORKER_CONNECTIONS", raising=False)
    config = load()
    # A listening socket per worker: the kernel spreads connections over the workers
    # (tests/test_worker_balance.py), so no worker needs to turn any away before
    # GUNICORN_MAX_CLIENTS.
    assert config.reuse_port is True
    assert config.worker_connections >= Limits().max_clients
    # With one shared socket, the cap on connections per worker is the only balance left.
    monkeypatch.setenv("GUNICORN_REUSE_PORT", "0")
    config = load()
    assert config.reuse_port is False
    assert config.threads < config.worker_connections <= 2 * config.threads
