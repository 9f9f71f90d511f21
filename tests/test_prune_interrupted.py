"""`manage.py prune` interrupted for real — killed with SIGKILL, or its storage stopping under
it — then run again: no archived row is lost, none is archived twice, and nothing is deleted
that was not archived first. Each run is its own process, on the suite's database (SQLite or
PostgreSQL), against a local directory or moto's S3 server over HTTP."""

import os
import pty
import random
import signal
import subprocess
import sys
import time

import pytest
from django.core.files.storage import storages

from downloads import logarchive
from downloads.archivestore import read_whole
from downloads.models import DownloadLog
from harness.process import ROOT, free_port
from tests.prunehelp import (
    PruneStorage,
    archived_id_counts,
    assert_each_row_once,
    make_log_rows,
    run_prune,
    start_harness,
)

pytestmark = [pytest.mark.integration]

# A prune process answers within this (it needs a few seconds; the machine is shared).
PROCESS_SECONDS = 60


def read_line(process: subprocess.Popen) -> str:
    """The harness's next line on stdout (it prints one when it reaches its point)."""
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        process.wait(timeout=PROCESS_SECONDS)
        assert process.stderr is not None
        raise AssertionError(f"the harness ended first: {process.stderr.read()}")
    return line.strip()


def kill(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=PROCESS_SECONDS)


def test_killed_between_archive_and_delete_then_run_again(
    transactional_db, prune_storage: PruneStorage
):
    old = make_log_rows(50, days_old=400)
    young = make_log_rows(5, days_old=3)
    harness = start_harness(prune_storage, "hold-before-delete", 3, "--batch-size", "10")
    try:
        assert read_line(harness) == "archived, not deleted"
    finally:
        kill(harness)

    # Killed with batch 3 archived and read back, its rows still in the table.
    third = logarchive.archive_name(old[20], old[29])
    assert [a.name for a in logarchive.existing_archives(storages["default"])][-1] == third
    assert logarchive.archived_ids(read_whole(storages["default"], third)) == old[20:30]
    assert DownloadLog.objects.filter(pk__in=old[20:30]).count() == 10
    assert DownloadLog.objects.count() == 35
    assert sum(archived_id_counts().values()) + DownloadLog.objects.count() == 55 + 10

    again = run_prune(prune_storage, "--batch-size", "10")
    assert again.returncode == 0, again.stderr
    assert "10 rows of an interrupted run's archives deleted" in again.stdout
    assert "20 log rows archived and deleted (2 archives)" in again.stdout
    assert_each_row_once(old, young)
    assert sum(archived_id_counts().values()) + DownloadLog.objects.count() == 55


def test_killed_at_random_moments_loses_and_duplicates_nothing(
    transactional_db, prune_storage: PruneStorage
):
    """Killed while it works, wherever that happens to be: writing an archive, reading it back,
    deleting a batch, between two batches."""
    # Enough batches that a run outlasts the random moment on a quiet machine too (600 rows were
    # all done within it there): 200 batches of 15.
    old = make_log_rows(3000, days_old=400)
    young = make_log_rows(5, days_old=3)
    chooser = random.Random(os.getpid())
    kills = 0
    for _ in range(4):
        before = DownloadLog.objects.count()
        if before == len(young):
            break
        process = subprocess.Popen(
            [sys.executable, "manage.py", "prune", "--batch-size", "15"],
            cwd=ROOT,
            env=prune_storage.env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + PROCESS_SECONDS
        # Once it has deleted a batch, let it go on for a random moment, then kill it.
        while DownloadLog.objects.count() == before and process.poll() is None:
            assert time.monotonic() < deadline, "prune deleted nothing in time"
            time.sleep(0.01)
        time.sleep(chooser.uniform(0, 0.1))
        if process.poll() is None:
            kill(process)
            kills += 1
        process.wait(timeout=PROCESS_SECONDS)
    assert kills >= 2, "the runs ended before they could be killed: too few rows"
    final = run_prune(prune_storage, "--batch-size", "15")
    assert final.returncode == 0, final.stderr
    assert_each_row_once(old, young)


# --- storage outages -----------------------------------------------------------------------------


@pytest.mark.parametrize("prune_storage", ["s3"], indirect=True)
def test_a_bucket_that_stops_answering_mid_run_stops_it_with_an_error(
    transactional_db, prune_storage: PruneStorage
):
    """moto is frozen (SIGSTOP) after batch 2: connections open, nothing answers. The run ends
    within its timeouts, says why, exits 1, and every row it deleted is in an archive."""
    assert prune_storage.moto is not None
    assert prune_storage.moto.process is not None
    moto_pid = prune_storage.moto.process.pid
    old = make_log_rows(60, days_old=400)
    harness = start_harness(prune_storage, "pause-after-delete", 2, "--batch-size", "10")
    try:
        assert read_line(harness) == "deleted"
        os.kill(moto_pid, signal.SIGSTOP)
        started = time.monotonic()
        _, stderr = harness.communicate("go on\n", timeout=PROCESS_SECONDS)
        elapsed = time.monotonic() - started
    finally:
        os.kill(moto_pid, signal.SIGCONT)
        if harness.poll() is None:
            kill(harness)
    assert harness.returncode == 1
    assert "Stopped: storage failed" in stderr
    assert "Every log row deleted so far had been archived" in stderr
    assert elapsed < PROCESS_SECONDS
    counts = archived_id_counts()
    assert sorted(counts) == old[:20]  # the two batches before the outage, once each
    assert sorted(DownloadLog.objects.values_list("pk", flat=True)) == old[20:]

    again = run_prune(prune_storage, "--batch-size", "10")
    assert again.returncode == 0, again.stderr
    assert_each_row_once(old, [])


@pytest.mark.parametrize("prune_storage", ["s3"], indirect=True)
def test_a_bucket_that_refuses_connections_stops_it_before_any_delete(
    transactional_db, prune_storage: PruneStorage
):
    make_log_rows(8, days_old=400)
    started = time.monotonic()
    result = run_prune(prune_storage, AWS_S3_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}")
    assert time.monotonic() - started < PROCESS_SECONDS
    assert result.returncode == 1
    assert "Stopped: storage failed" in result.stderr
    assert "Could not connect to the endpoint URL" in result.stderr
    assert DownloadLog.objects.count() == 8


def test_a_terminal_gets_a_progress_bar(transactional_db, prune_storage: PruneStorage):
    make_log_rows(30, days_old=400)
    main, terminal = pty.openpty()
    try:
        result = subprocess.run(
            [sys.executable, "manage.py", "prune", "--batch-size", "10"],
            cwd=ROOT,
            env=prune_storage.env(),
            stdout=subprocess.PIPE,
            stderr=terminal,
            timeout=PROCESS_SECONDS,
            check=False,
        )
        progress = os.read(main, 65536).decode()
    finally:
        os.close(main)
        os.close(terminal)
    assert result.returncode == 0
    assert "\r[##########                    ] log: 10/30 rows archived and deleted" in progress
    assert "log: 30 rows done" in progress
    assert "Pruned: 30 log rows archived and deleted (3 archives)" in result.stdout.decode()
