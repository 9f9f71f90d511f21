"""gunicorn's access log through a writer thread (deploy/accesslog.py): every line written, in
order, by one thread; a stopped output costs dropped lines, counted and reported, never a
blocked request; a forked worker starts a writer of its own; and, through a real gunicorn, a
stopping worker writes its queued lines and USR1 still moves the log to a new file."""

import datetime
import logging
import os
import re
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import requests
from gunicorn.config import Config

from deploy import accesslog
from deploy.accesslog import BackgroundAccessLogger
from harness.gunicorn import Gunicorn
from tests.servers import server_env

WAIT = 10.0


def make_logger(access: Path, errors: Path) -> BackgroundAccessLogger:
    cfg = Config()
    cfg.set("accesslog", str(access))
    cfg.set("errorlog", str(errors))
    return BackgroundAccessLogger(cfg)


def log_request(log: BackgroundAccessLogger, path: str, **environ: Any) -> None:
    """What gunicorn's worker does once a response is sent."""
    resp = SimpleNamespace(status="200 OK", headers=[("Content-Type", "text/plain")], sent=2)
    req = SimpleNamespace(headers=[("HOST", "example.test")])
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": path,
        "PATH_INFO": path,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "192.0.2.1",
        **environ,
    }
    log.access(resp, req, environ, datetime.timedelta(microseconds=1500))


class Recorder(logging.Handler):
    """Keeps what reaches the access log's handlers; can hold the writer in emit()."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []
        self.entered = threading.Event()
        self.proceed = threading.Event()
        self.proceed.set()

    def emit(self, record: logging.LogRecord) -> None:
        self.entered.set()
        self.proceed.wait(WAIT)
        self.records.append(record)


@pytest.fixture
def recorded(tmp_path: Path) -> Iterator[tuple[BackgroundAccessLogger, Recorder]]:
    log = make_logger(tmp_path / "access.log", tmp_path / "error.log")
    recorder = Recorder()
    log.access_log.addHandler(recorder)
    yield log, recorder
    recorder.proceed.set()
    log.flush_access_log()
    log.access_log.removeHandler(recorder)


def test_every_line_is_written_in_order_by_the_writer_thread(tmp_path, recorded):
    log, recorder = recorded

    def serve(thread: int) -> None:
        for n in range(50):
            log_request(log, f"/t{thread}/{n}")

    threads = [threading.Thread(target=serve, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert log.flush_access_log()

    lines = (tmp_path / "access.log").read_text().splitlines()
    assert len(lines) == len(recorder.records) == 400
    assert all('"GET /t' in line and " 200 " in line for line in lines)
    served = [re.search(r"GET /t(\d+)/(\d+) ", line).groups() for line in lines]  # type: ignore[union-attr]
    for thread in range(8):
        assert [n for t, n in served if t == str(thread)] == [str(n) for n in range(50)]
    assert {record.threadName for record in recorder.records} == {"gunicorn-access-log"}


def test_a_queued_line_keeps_no_request_object_alive(recorded):
    log, recorder = recorded
    client = object()
    log_request(log, "/held", **{"gunicorn.socket": client, "wsgi.input": client})
    assert log.flush_access_log()

    (record,) = recorder.records
    assert isinstance(record.args, dict)
    assert client not in record.args.values()
    values = record.args.values()
    assert all(value is None or isinstance(value, str | int | float) for value in values)
    assert record.args["{path_info}e"] == "/held"


def test_a_stopped_output_drops_and_counts_lines_and_never_blocks_a_request(
    tmp_path, recorded, monkeypatch
):
    monkeypatch.setattr(accesslog, "BACKLOG_LINES", 5)
    log, recorder = recorded
    recorder.proceed.clear()
    log_request(log, "/first")
    assert recorder.entered.wait(WAIT), "the writer never took the first line"

    # The writer is stuck writing /first: five lines wait, fourteen are dropped, and the
    # requests that logged them were not held.
    requests_done = threading.Event()

    def serve() -> None:
        for n in range(19):
            log_request(log, f"/later/{n}")
        requests_done.set()

    threading.Thread(target=serve).start()
    assert requests_done.wait(WAIT), "a request waited on the access log"
    assert (log.backlog, log.dropped) == (5, 14)

    recorder.proceed.set()
    assert log.flush_access_log()
    written = [record.args["U"] for record in recorder.records]  # type: ignore[index,call-overload]
    assert written == ["/first"] + [f"/later/{n}" for n in range(5)]
    assert log.dropped == 0
    errors = (tmp_path / "error.log").read_text()
    assert "14 access log lines were dropped" in errors
    assert "5 lines were already waiting" in errors


def test_flushing_a_stuck_output_gives_up_after_its_timeout(recorded):
    log, recorder = recorded
    recorder.proceed.clear()
    log_request(log, "/stuck")
    assert recorder.entered.wait(WAIT)

    started = time.monotonic()
    assert log.flush_access_log(timeout=0.2) is False
    assert time.monotonic() - started < WAIT
    recorder.proceed.set()


def test_a_forked_worker_writes_through_a_writer_of_its_own(tmp_path):
    log = make_logger(tmp_path / "access.log", tmp_path / "error.log")
    log_request(log, "/before-fork")
    pid = os.fork()
    if pid == 0:  # the worker: the master's writer thread did not come along
        code = 1
        try:
            if log._writer is None and log.backlog == 0:
                log_request(log, "/in-worker")
                code = 0 if log.flush_access_log() else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert log.flush_access_log()
    lines = (tmp_path / "access.log").read_text().splitlines()
    assert sorted(line.split('"')[1] for line in lines) == [
        "GET /before-fork HTTP/1.1",
        "GET /in-worker HTTP/1.1",
    ]


# --- Through a real gunicorn ----------------------------------------------------------------


def wait_until(condition: Any, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def writes_to(pid: int, path: Path) -> bool:
    """Whether process `pid` has the file now at `path` open (not one renamed away from it)."""
    if not path.exists():
        return False
    wanted = path.stat()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            opened = fd.stat()
        except FileNotFoundError:  # closed since the listing
            continue
        if (opened.st_dev, opened.st_ino) == (wanted.st_dev, wanted.st_ino):
            return True
    return False


@pytest.mark.integration
def test_a_stopping_gunicorn_writes_every_access_line_and_usr1_reopens_the_file(
    transactional_db, live_server_media, live_static, tmp_path
):
    access = tmp_path / "access.log"
    server = Gunicorn(
        env=server_env(
            live_server_media, live_static, GUNICORN_WORKERS="1", GUNICORN_ACCESSLOG=str(access)
        )
    )
    server.start(tmp_path / "gunicorn.log")
    try:
        with requests.Session() as session:
            for n in range(20):
                assert session.get(f"{server.url}/accounts/login/?n={n}", timeout=WAIT).ok
            wait_until(lambda: access.read_text().count("/accounts/login/") == 20, "lines")

            # USR1, as logrotate sends it: the lines after it go to a new file at the old path.
            (worker,) = server.worker_pids()
            access.rename(tmp_path / "access.log.1")
            os.kill(server.pids()[0], signal.SIGUSR1)
            wait_until(lambda: writes_to(worker, access), "USR1 did not reopen the access log")
            for n in range(30):
                assert session.get(f"{server.url}/accounts/login/?after={n}", timeout=WAIT).ok
    finally:
        # Straight after the last answer: lines still queued are written before the worker exits.
        server.stop()
    rotated = (tmp_path / "access.log.1").read_text()
    assert rotated.count("/accounts/login/?n=") == 20
    assert "?after=" not in rotated
    after = access.read_text().splitlines()
    assert [line.split("?after=")[1].split()[0] for line in after] == [str(n) for n in range(30)]
    assert "access log lines unwritten" not in server.log()
