"""`manage.py prune`: keep the tables and the storage from growing for ever. Safe to run daily
(deploy/systemd/protected-downloads-prune.timer).

1. Download log rows older than DOWNLOADS_LOG_RETENTION_DAYS (0: keep every row) are archived
   to storage as compressed CSV, then deleted, in batches (downloads/logarchive.py).
2. Records that expired longer ago than their grace period are removed (downloads/expiry.py:
   grants, after DOWNLOADS_GRANT_GRACE_DAYS).
3. Stored bytes with no row (orphans) are reported, and deleted with --delete-orphans once older
   than an hour (downloads/orphans.py); rows whose bytes are missing are reported and flagged
   (the walk of `verify_files --missing-only`, downloads/bytecheck.py).

--dry-run says what would go and changes nothing. A summary line ends every run. A storage or
archive failure stops the run with a clear error and exit status 1; every row deleted up to then
had been archived and read back first.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from django.core.files.storage import Storage, storages
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from downloads import logarchive
from downloads.bytecheck import StorageUnavailable, WalkResult, check_stored_files
from downloads.conf import app_settings
from downloads.expiry import EXPIRED_KINDS, expired, remove_expired
from downloads.orphans import delete_orphan, find_orphans, old_enough
from downloads.progress import Progress, size_text

# What a failing storage raises: a local disk (OSError), a bucket that refuses, errs or does not
# answer within the configured timeouts (botocore).
STORAGE_ERRORS = (OSError, BotoCoreError, ClientError)


@dataclass
class Summary:
    dry_run: bool
    log_rows: int = 0  # archived and deleted (or, dry run, that would be)
    archives: int = 0
    rows_finished: int = 0
    removed: dict[str, int] = field(default_factory=dict)
    orphans: int = 0
    orphan_bytes: int = 0
    orphans_deleted: int = 0
    orphans_too_young: int = 0
    missing: int = 0

    def line(self, delete_orphans: bool, *, stopped: bool = False) -> str:
        would = "would be " if self.dry_run else ""
        parts = [
            f"{self.log_rows:,} log rows {would}archived and deleted ({self.archives:,} archives)"
        ]
        if self.rows_finished:
            parts[0] += f", {self.rows_finished:,} rows of an interrupted run's archives deleted"
        parts += [f"{count:,} {label} {would}removed" for label, count in self.removed.items()]
        orphans = f"{self.orphans:,} orphans found ({size_text(self.orphan_bytes)})"
        if delete_orphans:
            orphans += f", {self.orphans_deleted:,} {would}deleted"
            if self.orphans_too_young:
                orphans += f", {self.orphans_too_young:,} kept (younger than an hour)"
        parts.append(orphans)
        parts.append(f"{self.missing:,} files with missing bytes")
        head = "Dry run, nothing changed: " if self.dry_run else "Pruned: "
        if stopped:
            head = "Done before stopping: "
        return head + "; ".join(parts) + "."


class Command(BaseCommand):
    help = (
        "Archive and delete old download log rows, remove long-ended grants, share links and API "
        "tokens, report (and optionally delete) orphaned bytes and report missing ones."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="Say what would go; change nothing."
        )
        parser.add_argument(
            "--delete-orphans",
            action="store_true",
            help="Delete stored bytes no file names, once older than an hour.",
        )
        parser.add_argument(
            "--progress",
            action="store_true",
            help="Show progress on stderr even when it is not a terminal.",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=logarchive.DEFAULT_BATCH_SIZE,
            help="Log rows per archive and per delete transaction (default %(default)s).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")
        summary = Summary(dry_run=options["dry_run"])
        self.progress = Progress(
            self.stderr, enabled=options["progress"] or self.stderr.isatty(), plain_prefix=""
        )
        storage = storages["default"]
        now = timezone.now()
        try:
            self._log(storage, now, options["batch_size"], summary)
            self._expired(now, summary)
            self._orphans(storage, now, options["delete_orphans"], summary)
            self._missing(summary)
        except (logarchive.DamagedArchive, StorageUnavailable) as error:
            self._stop(summary, options["delete_orphans"], str(error), error)
        except STORAGE_ERRORS as error:
            self._stop(summary, options["delete_orphans"], f"storage failed: {error}", error)
        self.stdout.write(summary.line(options["delete_orphans"]))

    def _stop(self, summary: Summary, delete_orphans: bool, why: str, error: Exception) -> None:
        self.stdout.write(summary.line(delete_orphans, stopped=True))
        raise CommandError(
            f"Stopped: {why}. Every log row deleted so far had been archived and read back; "
            "run again once the storage answers."
        ) from error

    def _log(self, storage: Storage, now: datetime, batch_size: int, summary: Summary) -> None:
        days = app_settings().log_retention_days
        if days == 0:
            self.stdout.write("Download log: kept whole (DOWNLOADS_LOG_RETENTION_DAYS=0).")
            return
        cutoff = now - timedelta(days=days)
        total = logarchive.rows_older_than(cutoff)
        if summary.dry_run:
            summary.log_rows = total
            summary.archives = -(-total // batch_size)
            return

        def show(result: logarchive.LogPruneResult) -> None:
            summary.log_rows, summary.archives = result.rows_deleted, result.archives_written
            summary.rows_finished = result.rows_finished
            share = result.rows_deleted / total if total else 1.0
            self.progress.update(
                share,
                f"log: {result.rows_deleted}/{total} rows archived and deleted, "
                f"{result.archives_written} archives",
            )

        result = logarchive.prune_log(storage, cutoff, batch_size=batch_size, on_batch=show)
        show(result)
        if total:
            self.progress.update(1.0, f"log: {result.rows_deleted} rows done", final=True)

    def _expired(self, now: datetime, summary: Summary) -> None:
        for kind in EXPIRED_KINDS:
            if summary.dry_run:
                summary.removed[kind.label] = expired(kind, now).count()
            else:
                summary.removed[kind.label] = remove_expired(kind, now)

    def _orphans(self, storage: Storage, now: datetime, delete: bool, summary: Summary) -> None:
        for orphan in find_orphans(storage):
            summary.orphans += 1
            summary.orphan_bytes += orphan.size
            young = not old_enough(orphan, now)
            note = " (younger than an hour: kept)" if delete and young else ""
            self.stdout.write(
                f"orphan: {orphan.key}, {size_text(orphan.size)}, "
                f"modified {orphan.modified:%Y-%m-%d %H:%M:%S %Z}{note}"
            )
            if not delete:
                continue
            if young:
                summary.orphans_too_young += 1
            elif summary.dry_run or delete_orphan(storage, orphan):
                summary.orphans_deleted += 1

    def _missing(self, summary: Summary) -> None:
        def show(files: int, _bytes: int, walk: WalkResult) -> None:
            share = files / walk.total_files if walk.total_files else 1.0
            self.progress.update(share, f"files: {files}/{walk.total_files} checked")

        result = check_stored_files(missing_only=True, flag=not summary.dry_run, on_file=show)
        if result.total_files:
            self.progress.update(1.0, f"files: {result.total_files} checked", final=True)
        summary.missing = len(result.problems)
        for line in result.problems:
            self.stdout.write(f"missing bytes: {line}")
