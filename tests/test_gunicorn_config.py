"""deploy/gunicorn.conf.py as gunicorn itself reads it."""

from pathlib import Path

from gunicorn.app.base import Application
from gunicorn.config import Config

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


def test_threaded_workers_with_keepalive():
    config = load()
    assert config.worker_class_str == "gthread"
    assert config.keepalive > 0


def test_no_worker_can_take_every_connection():
    config = load()
    # Room for each thread and a few idle keep-alive connections, and no more: connections
    # spread over the workers instead of piling onto whichever woke first.
    assert config.threads < config.worker_connections <= 2 * config.threads
