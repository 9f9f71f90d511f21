"""The download log's writer: rows leave the request at once and all of them reach the database."""

import io
import json
import logging
import os
import subprocess
import sys
import time
import uuid

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import connection, transaction
from django.urls import reverse

from downloads import logwriter
from downloads.logstatus import WriterStatus, prune_exited, publish_status
from downloads.logwriter import WRITER, LogWriter
from downloads.models import DownloadLog
from harness.gunicorn import Gunicorn
from harness.login import login
from tests.dbhold import database_outage, held_database
from tests.servers import make_live_user, server_env


def row(**fields) -> DownloadLog:
    return DownloadLog(**{"file_name": "x.txt", "status": 200, "delivery": "django", **fields})


@pytest.mark.django_db(transaction=True)
def test_the_request_writes_nothing_and_the_writer_writes_its_row(
    client, alice, make_file, django_assert_num_queries
):
    stored = make_file(b"0123456789")
    client.force_login(alice)
    url = reverse("downloads:download", args=[stored.pk])
    client.get(url).getvalue()  # the access check is compiled on first use, once per process
    WRITER.flush()
    DownloadLog.objects.all().delete()
    # The session, the user, the access check: no INSERT in the request's thread.
    with django_assert_num_queries(3):
        response = client.get(url, headers={"Range": "bytes=2-5"}, REMOTE_ADDR="192.0.2.9")
        assert response.getvalue() == b"2345"  # the body ends: the row is handed over
    assert response.status_code == 206
    WRITER.flush()
    entry = DownloadLog.objects.get()
    assert (entry.file, entry.user, entry.status, entry.range, entry.bytes_sent, entry.ip) == (
        stored,
        alice,
        206,
        "bytes=2-5",
        4,
        "192.0.2.9",
    )


@pytest.mark.django_db(transaction=True)
def test_stop_writes_every_queued_row_and_a_new_row_starts_it_again(alice):
    writer = LogWriter()
    for n in range(250):
        writer.submit(row(user=alice, bytes_sent=n))
    writer.stop()
    assert DownloadLog.objects.count() == 250
    assert sorted(DownloadLog.objects.values_list("bytes_sent", flat=True)) == list(range(250))
    writer.submit(row(user=alice))
    writer.stop()
    assert DownloadLog.objects.count() == 251


@pytest.mark.django_db(transaction=True)
def test_batches_never_exceed_their_size(alice):
    writer = LogWriter(max_batch=7)
    for _ in range(30):
        writer.submit(row(user=alice))
    writer.stop()
    assert DownloadLog.objects.count() == 30


@pytest.mark.django_db(transaction=True)
def test_a_row_whose_file_and_user_are_gone_is_kept_without_them(alice, make_file):
    writer = LogWriter()
    kept = make_file(name="kept.txt")
    gone_user = User.objects.create_user("gone")
    gone_user_id = gone_user.pk
    gone_user.delete()
    writer.submit(row(file=kept, user=alice, file_name="kept.txt"))
    writer.submit(row(file_id=uuid.uuid4(), user_id=gone_user_id, file_name="deleted.txt"))
    writer.stop()
    rows = {entry.file_name: entry for entry in DownloadLog.objects.all()}
    assert (rows["kept.txt"].file, rows["kept.txt"].user) == (kept, alice)
    assert (rows["deleted.txt"].file, rows["deleted.txt"].user) == (None, None)


@pytest.mark.integration
def test_a_gracefully_stopped_server_has_written_every_row(
    transactional_db, live_server_media, live_static, make_file, tmp_path
):
    user = make_live_user("log-reader", "log-reader-password")
    stored = make_file(b"x" * 1024, owner=user)
    server = Gunicorn(env=server_env(live_server_media, live_static, GUNICORN_WORKERS="2"))
    server.start(tmp_path / "gunicorn.log")
    try:
        session = login(server.url, "log-reader", "log-reader-password")
        for _ in range(60):
            assert session.get(server.url + stored.get_download_url(), timeout=10).ok
    finally:
        server.stop()
    assert server.process is not None
    assert server.process.returncode == 0, server.log()
    assert DownloadLog.objects.filter(file=stored).count() == 60


EXITING_PROCESS = """
import django
django.setup()
from downloads.logwriter import WRITER
from downloads.models import DownloadLog
for n in range(2000):
    WRITER.submit(DownloadLog(file_name="at-exit.txt", status=200, bytes_sent=n))
# The interpreter exits now, with most rows still queued.
"""


@pytest.mark.integration
def test_rows_still_queued_at_exit_are_written(transactional_db):
    from harness.process import ROOT
    from tests.servers import SECRET_KEY, database_url

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "project.settings",
        "DJANGO_SECRET_KEY": SECRET_KEY,
        "DATABASE_URL": database_url(),
    }
    subprocess.run([sys.executable, "-c", EXITING_PROCESS], cwd=ROOT, env=env, check=True)
    assert DownloadLog.objects.filter(file_name="at-exit.txt").count() == 2000


# --- what the database refuses, for good or for now ----------------------------------------


def refused_for_good() -> list[DownloadLog]:
    """Rows no database takes: a negative status (a CHECK constraint), a byte count past 64 bits;
    on PostgreSQL also an address its inet column refuses (a DataError), forced past
    client_ip's validation."""
    rows = [row(status=-1, file_name="negative.txt"), row(bytes_sent=2**70, file_name="huge.txt")]
    if connection.vendor == "postgresql":
        rows.append(row(ip="10.0.0.1:8080", file_name="bad-inet.txt"))
    return rows


@pytest.mark.django_db(transaction=True)
def test_rows_refused_for_good_are_isolated_logged_and_never_retried(alice, caplog):
    writer = LogWriter(retry_seconds=60)
    bad = refused_for_good()
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="downloads.logwriter"):
        writer.submit([row(user=alice, file_name="good-1.txt"), *bad])
        writer.submit(row(user=alice, file_name="good-2.txt"))
        writer.flush()
    # Never retried: a retry waits at least 50 ms and says so at WARNING.
    assert "retrying" not in caplog.text
    assert time.monotonic() - started < 5  # answered, not stuck in back-off
    assert sorted(DownloadLog.objects.values_list("file_name", flat=True)) == [
        "good-1.txt",
        "good-2.txt",
    ]
    assert (writer.status.written, writer.status.unwritable) == (2, len(bad))
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == len(bad)
    for entry in bad:
        (message,) = [m for m in errors if repr(entry.file_name) in m]
        # Every field, so the row can be restored from the log by hand.
        for field in ("at=", "user_id=", "ip=", "status=", "bytes_sent=", "outcome=", "delivery="):
            assert field in message
    writer.stop()


@pytest.mark.django_db(transaction=True)
def test_a_refused_row_in_the_callers_transaction_leaves_the_transaction_usable(alice, caplog):
    with transaction.atomic():
        WRITER.submit([row(user=alice, file_name="kept.txt"), *refused_for_good()])
        # The request's own transaction goes on: the bad rows failed inside savepoints.
        assert DownloadLog.objects.filter(file_name="kept.txt").count() == 1
    assert list(DownloadLog.objects.values_list("file_name", flat=True)) == ["kept.txt"]


def outage_seconds() -> float:
    pool = connection.settings_dict["OPTIONS"].get("pool")
    return pool["timeout"] + 1.5 if pool else 1.5


# On PostgreSQL the outage stops the suite's own server: this test runs with the integration
# tests, one at a time, never beside another xdist worker's (seen in CI: its tests failed with
# "terminating connection due to administrator command").
@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_an_outage_is_retried_and_the_rows_written_after_it(alice, caplog):
    writer = LogWriter(retry_seconds=120)
    writer.submit(row(user=alice, file_name="before.txt"))
    writer.flush()
    with caplog.at_level(logging.WARNING, logger="downloads.logwriter"), database_outage():
        for n in range(20):
            writer.submit(row(user=alice, file_name=f"during-{n}.txt"))
        # The writer tries, is refused, backs off. SQLite's busy handler itself waits 5 s for
        # a lock before it refuses, and a pooled PostgreSQL connection is waited for up to the
        # pool's timeout (project/database.py): the outage outlasts either.
        time.sleep(6 if connection.vendor == "sqlite" else outage_seconds())
    writer.stop()
    assert "retrying" in caplog.text
    assert DownloadLog.objects.filter(file_name__startswith="during-").count() == 20
    assert writer.status.unwritable == 0
    assert writer.status.last_error


@pytest.mark.django_db(transaction=True)
def test_a_batch_is_given_up_after_the_retry_bound_and_logged(alice, caplog, monkeypatch):
    monkeypatch.setattr(logwriter, "PG_STATEMENT_TIMEOUT_MS", 500)
    writer = LogWriter(retry_seconds=1)
    writer.submit(row(user=alice, file_name="warm.txt"))
    writer.flush()
    with caplog.at_level(logging.WARNING, logger="downloads.logwriter"), held_database():
        writer.submit(row(user=alice, file_name="never.txt"))
        # One try waits for the lock (SQLite's busy timeout, 5 s; PostgreSQL's statement
        # timeout), then the bound is past: the row is given up, not retried forever.
        deadline = time.monotonic() + 30
        while writer.status.unwritable == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
    writer.stop()
    assert writer.status.unwritable == 1
    assert "Download log row not written" in caplog.text
    assert "'never.txt'" in caplog.text
    assert not DownloadLog.objects.filter(file_name="never.txt").exists()


@pytest.mark.django_db(transaction=True)
def test_a_stuck_database_never_holds_a_request_past_the_submit_timeout(
    alice, caplog, settings, tmp_path, monkeypatch
):
    monkeypatch.setattr(logwriter, "PG_STATEMENT_TIMEOUT_MS", 1000)
    settings.DOWNLOADS_LOG_STATUS_DIR = str(tmp_path / "status")
    writer = LogWriter(max_queued=2, submit_timeout=0.1, retry_seconds=120)
    writer.submit(row(user=alice, file_name="warm.txt"))
    writer.flush()
    with caplog.at_level(logging.ERROR, logger="downloads.logwriter"), held_database():
        writer.submit(row(user=alice, file_name="taken.txt"))
        wait_until(lambda: writer.queued() == 0)  # the writer holds it, waiting on the lock
        writer.submit(row(user=alice, file_name="queued-1.txt"))
        writer.submit(row(user=alice, file_name="queued-2.txt"))
        started = time.monotonic()
        writer.submit(row(user=alice, file_name="overflow.txt", ip="192.0.2.44"))
        waited = time.monotonic() - started
        assert waited < 5  # 0.1 s asked; generous for a shared machine: "not hung"
        assert writer.status.overflowed == 1
        assert "'overflow.txt'" in caplog.text
        assert "ip=192.0.2.44" in caplog.text
        writer._publish(force=True)
        out = io.StringIO()
        call_command("download_log_status", stdout=out)
        (line,) = [line for line in out.getvalue().splitlines() if str(os.getpid()) in line]
        assert line.split()[:6] == [str(os.getpid()), "running", "2", "1", "1", "0"]
    writer.stop()
    names = set(DownloadLog.objects.values_list("file_name", flat=True))
    assert names == {"warm.txt", "taken.txt", "queued-1.txt", "queued-2.txt"}


def wait_until(condition, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_the_status_command_reads_every_process_and_says_which_exited(tmp_path, settings, request):
    settings.DOWNLOADS_LOG_STATUS_DIR = str(tmp_path)
    # A running process other than this one: this process's own writer may publish its real
    # status over a made-up one at any moment.
    running = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    request.addfinalizer(running.kill)
    publish_status(WriterStatus(pid=running.pid, queued=3, written=10, last_error="boom"))
    # A pid that no longer runs (a finished child).
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    publish_status(WriterStatus(pid=int(child.stdout), written=7, unwritable=2, stopped=True))
    out = io.StringIO()
    call_command("download_log_status", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0].split()[:7] == [
        "pid",
        "state",
        "queued",
        "written",
        "overflowed",
        "unwritable",
        "last",
    ]
    ours = next(line for line in lines if line.split()[0] == str(running.pid))
    assert ours.split()[1:4] == ["running", "3", "10"]
    assert ours.endswith("boom")
    gone = next(line for line in lines if line.split()[0] == child.stdout.strip())
    assert gone.split()[1:6] == ["exited", "0", "7", "0", "2"]
    as_json = io.StringIO()
    call_command("download_log_status", "--json", stdout=as_json)
    assert {entry["pid"] for entry in json.loads(as_json.getvalue())} >= {
        running.pid,
        int(child.stdout),
    }


def test_files_of_processes_long_exited_are_pruned(tmp_path, settings):
    status_dir = tmp_path / "status"
    settings.DOWNLOADS_LOG_STATUS_DIR = str(status_dir)
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], check=True, capture_output=True
    )
    gone = int(child.stdout)
    publish_status(WriterStatus(pid=gone, stopped=True))
    publish_status(WriterStatus(pid=os.getpid()))
    prune_exited()
    assert sorted(path.name for path in status_dir.iterdir()) == sorted(
        [f"{gone}.json", f"{os.getpid()}.json"]
    )
    status = json.loads((status_dir / f"{gone}.json").read_text())
    status["updated_at"] -= 8 * 24 * 3600
    (status_dir / f"{gone}.json").write_text(json.dumps(status))
    prune_exited()
    assert [path.name for path in status_dir.iterdir()] == [f"{os.getpid()}.json"]
