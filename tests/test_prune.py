"""`manage.py prune` in-process, against a local directory and moto's S3 server over HTTP, on
the suite's database (SQLite or PostgreSQL): what goes, what stays, and what is said."""

import csv
import gzip
import io
import time
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.checks import run_checks
from django.core.files.storage import storages
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from downloads import logarchive, orphans
from downloads.archivestore import read_whole
from downloads.models import DownloadLog, Grant, StoredFile
from downloads.tokens import ApiToken
from tests.prunehelp import (
    PruneStorage,
    archived_id_counts,
    assert_each_row_once,
    make_log_rows,
)

pytestmark = [pytest.mark.django_db, pytest.mark.integration]


def prune(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("prune", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def summary_of(output: str) -> str:
    return output.strip().splitlines()[-1]


# --- the download log --------------------------------------------------------------------------


def test_old_rows_are_archived_in_batches_then_deleted(prune_storage: PruneStorage, alice):
    old = make_log_rows(12, days_old=400, user=alice)
    young = make_log_rows(3, days_old=10)
    out, _ = prune("--batch-size", "5")
    assert summary_of(out).startswith("Pruned: 12 log rows archived and deleted (3 archives)")
    assert_each_row_once(old, young)
    archives = logarchive.existing_archives(storages["default"])
    assert [(a.first_id, a.last_id) for a in archives] == [
        (old[0], old[4]),
        (old[5], old[9]),
        (old[10], old[11]),
    ]
    assert archives[0].name == f"log-archive/downloadlog-{old[0]:012d}-{old[4]:012d}.csv.gz"


def test_an_archive_holds_each_row_as_it_was(prune_storage: PruneStorage, alice):
    [row_id] = make_log_rows(1, days_old=400, user=alice)
    row = DownloadLog.objects.get(pk=row_id)
    prune()
    [archive] = logarchive.existing_archives(storages["default"])
    text = gzip.decompress(read_whole(storages["default"], archive.name)).decode("utf-8")
    [record] = list(csv.DictReader(io.StringIO(text)))
    assert record == {
        "id": str(row_id),
        "at": row.at.astimezone(UTC).isoformat(),
        "file_id": "",
        "file_name": "report-0.pdf",
        "user_id": str(alice.pk),
        "username": "alice",
        "ip": "192.0.2.7",
        "status": "200",
        "range": "",
        "bytes_sent": "100",
        "bytes_planned": "100",
        "outcome": "complete",
        "requested_id": "",
        "delivery": "django",
    }


def test_retention_zero_keeps_every_row(prune_storage: PruneStorage, settings):
    settings.DOWNLOADS_LOG_RETENTION_DAYS = 0
    make_log_rows(4, days_old=4000)
    out, _ = prune()
    assert "kept whole" in out
    assert DownloadLog.objects.count() == 4
    assert not archived_id_counts()


def test_rows_archived_by_an_interrupted_run_are_deleted_not_archived_again(
    prune_storage: PruneStorage,
):
    """The in-process half of the SIGKILL test (test_prune_interrupted.py): an archive written
    and read back, whose rows were never deleted."""
    old = make_log_rows(6, days_old=400)
    rows = logarchive.next_batch(timezone.now() - timedelta(days=365), 0, 4)
    logarchive.write_archive(storages["default"], old[:4], logarchive.archive_bytes(rows))
    out, _ = prune("--batch-size", "4")
    assert "4 rows of an interrupted run's archives deleted" in out
    assert "2 log rows archived and deleted (1 archives)" in out
    assert_each_row_once(old, [])


def test_an_unreadable_archive_stops_the_run_and_deletes_nothing(prune_storage: PruneStorage):
    old = make_log_rows(3, days_old=400)
    name = logarchive.archive_name(old[0], old[1])
    prune_storage.put(name, b"\x1f\x8b not really gzip")
    with pytest.raises(CommandError, match=r"cannot be read.*Nothing was deleted"):
        prune()
    assert DownloadLog.objects.count() == 3


def test_an_archive_is_never_overwritten(prune_storage: PruneStorage):
    """Ids reused (a database restored or flushed) must not replace an archived record."""
    old = make_log_rows(3, days_old=400)
    name = logarchive.archive_name(old[0], old[2])
    earlier = logarchive.archive_bytes([{**row, "pk": 10**9} for row in fake_rows()])
    prune_storage.put(name, earlier)
    with pytest.raises(CommandError, match="exists already"):
        prune()
    assert read_whole(storages["default"], name) == earlier
    assert DownloadLog.objects.count() == 3


def fake_rows() -> list[dict[str, object]]:
    return [{field: None for _, field in logarchive.COLUMNS}]


def test_the_archives_are_not_served(prune_storage: PruneStorage, alice_client):
    make_log_rows(2, days_old=400)
    prune()
    [archive] = logarchive.existing_archives(storages["default"])
    assert alice_client.get(f"/media/{archive.name}").status_code == 404
    assert alice_client.get(f"/{archive.name}").status_code == 404


# --- ended API tokens --------------------------------------------------------------------------


def test_api_tokens_ended_past_the_grace_period_are_removed(
    prune_storage: PruneStorage, bob, settings
):
    settings.DOWNLOADS_TOKEN_GRACE_DAYS = 30
    now = timezone.now()

    def token(name: str, **ended: datetime) -> ApiToken:
        made, _ = ApiToken.issue(bob, name)
        ApiToken.objects.filter(pk=made.pk).update(**ended)
        return made

    expired = token("expired", expires_at=now - timedelta(31))
    revoked = token("revoked", revoked_at=now - timedelta(31), expires_at=now + timedelta(9))
    recently_revoked = token("recent", revoked_at=now - timedelta(29))
    recently_expired = token("recently expired", expires_at=now - timedelta(29))
    live = token("live")
    out, _ = prune()
    assert "2 ended API tokens removed" in summary_of(out)
    assert set(ApiToken.objects.values_list("pk", flat=True)) == {
        recently_revoked.pk,
        recently_expired.pk,
        live.pk,
    }
    assert not ApiToken.objects.filter(pk__in=[expired.pk, revoked.pk]).exists()


# --- expired grants ----------------------------------------------------------------------------


def test_grants_expired_past_the_grace_period_are_removed(
    prune_storage: PruneStorage, make_file, bob, settings
):
    settings.DOWNLOADS_GRANT_GRACE_DAYS = 30
    now = timezone.now()
    users = [User.objects.create_user(f"u{n}") for n in range(4)]
    stored = make_file()
    long_gone = Grant.objects.create(file=stored, user=users[0], expires_at=now - timedelta(31))
    recent = Grant.objects.create(file=stored, user=users[1], expires_at=now - timedelta(29))
    open_ended = Grant.objects.create(file=stored, user=users[2])
    future = Grant.objects.create(file=stored, user=users[3], expires_at=now + timedelta(9))
    out, _ = prune()
    assert "1 expired grants removed" in summary_of(out)
    assert set(Grant.objects.all()) == {recent, open_ended, future}
    assert long_gone not in Grant.objects.all()


# --- orphans and missing bytes ------------------------------------------------------------------


def test_orphans_are_reported_and_only_old_ones_deleted(
    prune_storage: PruneStorage, make_file, monkeypatch
):
    kept = make_file(b"a file with its row")
    if prune_storage.kind == "s3":
        # moto dates an object when it is written: the old orphan is written 5 s before the
        # fresh one, and before each run the age limit is put half-way between their ages
        # (prune compares with the moment it starts, so a slow run does not move it).
        old_written = time.time()
        prune_storage.put("files/0a/0a-old-orphan", b"crashed before commit")
        time.sleep(5)
        fresh_written = time.time()

        def limit_between() -> None:
            middle = (old_written + fresh_written) / 2
            monkeypatch.setattr(orphans, "MIN_AGE", timedelta(seconds=time.time() - middle))

    else:
        long_ago = timezone.now() - timedelta(hours=2)
        prune_storage.put("files/0a/0a-old-orphan", b"crashed before commit", modified=long_ago)

        def limit_between() -> None:
            pass  # the real hour

    prune_storage.put("files/0b/0b-being-uploaded", b"no row yet")
    prune_storage.put("not-ours/copied.bin", b"outside the app's key space")

    out, _ = prune()  # reported, nothing deleted without --delete-orphans
    assert "orphan: files/0a/0a-old-orphan, 21 bytes" in out
    assert "orphan: files/0b/0b-being-uploaded" in out
    assert "2 orphans found (31 bytes)" in summary_of(out)
    assert prune_storage.exists("files/0a/0a-old-orphan")

    limit_between()
    out, _ = prune("--delete-orphans", "--dry-run")
    assert "2 orphans found (31 bytes), 1 would be deleted, 1 kept" in summary_of(out)
    assert prune_storage.exists("files/0a/0a-old-orphan")

    limit_between()
    out, _ = prune("--delete-orphans")
    assert "files/0b/0b-being-uploaded, 10 bytes" in out
    assert "(younger than an hour: kept)" in out
    assert "2 orphans found (31 bytes), 1 deleted, 1 kept (younger than an hour)" in summary_of(out)
    assert not prune_storage.exists("files/0a/0a-old-orphan")
    assert prune_storage.exists("files/0b/0b-being-uploaded")
    assert prune_storage.exists("not-ours/copied.bin")
    assert prune_storage.exists(kept.file.name)
    assert StoredFile.objects.get() == kept


def test_rows_whose_bytes_are_missing_are_reported_and_flagged(
    prune_storage: PruneStorage, make_file
):
    make_file(b"still here", name="whole.txt")
    gone = make_file(b"soon gone", name="gone.txt")
    storages["default"].delete(gone.file.name)
    out, _ = prune("--dry-run")
    assert f"missing bytes: {gone.pk} 'gone.txt': missing" in out
    assert "1 files with missing bytes" in summary_of(out)
    gone.refresh_from_db()
    assert gone.bytes_missing_since is None  # a dry run changes nothing
    out, _ = prune()
    assert "whole.txt" not in out
    gone.refresh_from_db()
    assert gone.bytes_missing_since is not None


# --- a dry run, progress, settings --------------------------------------------------------------


def test_a_dry_run_says_what_would_go_and_changes_nothing(
    prune_storage: PruneStorage, make_file, bob
):
    old = make_log_rows(7, days_old=400)
    make_log_rows(2, days_old=1)
    stored = make_file()
    Grant.objects.create(file=stored, user=bob, expires_at=timezone.now() - timedelta(days=90))
    out, _ = prune("--dry-run", "--batch-size", "5", "--delete-orphans")
    assert summary_of(out) == (
        "Dry run, nothing changed: 7 log rows would be archived and deleted (2 archives); "
        "1 expired grants would be removed; 0 expired share links would be removed; "
        "0 ended API tokens would be removed; 0 share link failures would be removed; "
        "0 orphans found (0 bytes), 0 would be deleted; "
        "0 files with missing bytes."
    )
    assert DownloadLog.objects.count() == 9
    assert Grant.objects.count() == 1
    assert not archived_id_counts()
    assert old


def test_progress_is_shown_on_request(prune_storage: PruneStorage):
    make_log_rows(6, days_old=400)
    _, err = prune("--progress", "--batch-size", "2")
    assert "log: 6 rows done" in err
    _, err = prune()
    assert err == ""  # not a terminal, not asked


@pytest.mark.parametrize("name", ["DOWNLOADS_LOG_RETENTION_DAYS", "DOWNLOADS_GRANT_GRACE_DAYS"])
def test_a_negative_retention_fails_the_checks(settings, name):
    setattr(settings, name, -1)
    assert any(f"{name}=-1 must be at least 0" in str(message) for message in run_checks())
