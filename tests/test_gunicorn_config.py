"""deploy/gunicorn.conf.py as gunicorn itself reads it."""

import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from gunicorn.app.base import Application
from gunicorn.config import Config
from gunicorn.instrument.statsd import Statsd
from gunicorn.workers.gthread import ThreadWorker

from deploy.accesslog import BackgroundAccessLogger
from deploy.worker import Limits, StallProofWorker
from downloads.logwriter import EXIT_DEADLINE_SECONDS, PG_STATEMENT_TIMEOUT_MS
from harness.process import ROOT, free_port

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


def test_one_worker_more_than_cores_unless_told(monkeypatch):
    # A worker's threads share one core (the GIL); with one worker per core, cores idled
    # while clients waited (README, Soak).
    monkeypatch.delenv("GUNICORN_WORKERS", raising=False)
    assert load().workers == os.cpu_count() + 1
    monkeypatch.setenv("GUNICORN_WORKERS", "2")
    assert load().workers == 2


def test_access_lines_go_through_a_writer_thread_unless_statsd_is_asked_for():
    config = load()
    assert config.logger_class is BackgroundAccessLogger

    # gunicorn switches to its statsd logger only from its default class, so a deployer who
    # wants statsd names that default back (README, environment).
    config.set("logger_class", "simple")
    config.set("statsd_host", "127.0.0.1:8125")
    assert config.logger_class is Statsd


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
    with pytest.raises(
        ImproperlyConfigured, match="GUNICORN_SEND_TIMEOUT='0' is below its minimum"
    ):
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


# --- every variable read through project/env.py: a bad value stops gunicorn, naming it ---------


def start_gunicorn(**env: str) -> subprocess.CompletedProcess:
    """gunicorn as `make run` starts it, bounded: a refused start ends on its own within seconds."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DOWNLOADS_", "GUNICORN_"))}
    return subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", str(CONFIG)],
        cwd=ROOT,
        env={
            **clean,
            "DJANGO_SETTINGS_MODULE": "project.settings",
            "DJANGO_SECRET_KEY": "k" * 50,
            "GUNICORN_BIND": f"127.0.0.1:{free_port()}",
            "GUNICORN_WORKERS": "1",
            **env,
        },
        capture_output=True,
        text=True,
        # Answered, not hung: a refused start takes seconds; a server that started never ends.
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("GUNICORN_THREADS", "abc", "GUNICORN_THREADS='abc' is not a whole number."),
        ("GUNICORN_WORKERS", "0", "GUNICORN_WORKERS='0' is below its minimum, 1."),
        ("GUNICORN_TIMEOUT", "1m", "GUNICORN_TIMEOUT='1m' is not a whole number."),
        ("GUNICORN_REUSE_PORT", "maybe", "GUNICORN_REUSE_PORT='maybe' is not a boolean"),
        ("GUNICORN_LOGLEVEL", "loud", "GUNICORN_LOGLEVEL='loud' is not one of: debug, info,"),
        (
            "GUNICORN_GRACEFUL_TIMEOUT",
            "5",
            "GUNICORN_GRACEFUL_TIMEOUT='5' is below its minimum, 20.",
        ),
        ("GUNICORN_HEADER_TIMEOUT", "soon", "GUNICORN_HEADER_TIMEOUT='soon' is not a number."),
        ("GUNICORN_MAX_CLIENTS", "1.5", "GUNICORN_MAX_CLIENTS='1.5' is not a whole number."),
        ("GUNICORN_BALANCE", "maybe", "GUNICORN_BALANCE='maybe' is not a boolean"),
        ("GUNICORN_GC_FREEZE", "maybe", "GUNICORN_GC_FREEZE='maybe' is not a boolean"),
    ],
)
def test_a_bad_gunicorn_variable_stops_it_naming_the_variable(variable, value, message):
    result = start_gunicorn(**{variable: value})
    assert result.returncode != 0
    assert f"django.core.exceptions.ImproperlyConfigured: {message}" in result.stderr


def test_a_bad_app_setting_stops_gunicorn_too():
    # gunicorn runs no system checks: the app refuses to start in the worker (apps.py), and
    # gunicorn gives up at once instead of serving with the bad value.
    result = start_gunicorn(DOWNLOADS_MAX_RANGES="0")
    assert result.returncode != 0
    assert "DOWNLOADS_MAX_RANGES=0 must be at least 1. (downloads.E002)" in result.stderr
    assert "Worker failed to boot" in result.stderr


def test_graceful_timeout_and_log_level_come_from_the_environment(monkeypatch):
    for name in ("GUNICORN_GRACEFUL_TIMEOUT", "GUNICORN_LOGLEVEL"):
        monkeypatch.delenv(name, raising=False)
    config = load()
    assert (config.graceful_timeout, config.loglevel) == (30, "info")
    monkeypatch.setenv("GUNICORN_GRACEFUL_TIMEOUT", "45")
    monkeypatch.setenv("GUNICORN_LOGLEVEL", "Warning")
    config = load()
    assert (config.graceful_timeout, config.loglevel) == (45, "warning")


def test_graceful_timeout_leaves_the_download_log_time_to_be_written():
    # worker_exit waits for the log writer: its deadline, plus one statement that hangs until
    # its own timeout (downloads/logwriter.py). A shorter graceful_timeout kills it mid-write.
    floor = runpy.run_path(str(CONFIG))["GRACEFUL_TIMEOUT_MINIMUM"]
    assert floor >= EXIT_DEADLINE_SECONDS + PG_STATEMENT_TIMEOUT_MS / 1000
