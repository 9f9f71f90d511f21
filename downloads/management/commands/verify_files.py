"""`manage.py verify_files`: are every stored file's bytes still there, and still the same?

Each file's bytes are read once, streamed in chunks (memory stays flat whatever the size), and
their size and SHA-256 compared with what was recorded at upload. `--missing-only` asks only
whether they exist and have the recorded size (a stat, or one HEAD per S3 object): fast.
A file found missing or corrupt is flagged (`bytes_missing_since`, shown in the admin); one
found whole is unflagged. The exit status is 1 when any file is missing or corrupt, so a
periodic run (cron, a systemd timer) can alert.
"""

import hashlib
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper
from django.db.models import Sum
from django.utils import timezone

from downloads.faults import STORAGE_READ_ERRORS, is_missing
from downloads.models import StoredFile
from downloads.storage import open_slice

CHUNK_SIZE = 1024 * 1024
# Without a terminal, a progress line at most this often.
PLAIN_PROGRESS_SECONDS = 5.0


class Progress:
    """A progress bar redrawn in place on a terminal; plain lines now and then otherwise."""

    def __init__(self, stream: OutputWrapper, total_files: int, total_bytes: int) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.total_files = total_files
        self.total_bytes = total_bytes
        self.last_line = 0.0

    def update(self, files: int, done_bytes: int, *, final: bool = False) -> None:
        now = time.monotonic()
        if self.tty:
            share = done_bytes / self.total_bytes if self.total_bytes else 1.0
            bar = "#" * int(share * 30)
            self.stream.write(
                f"\r[{bar:<30}] {files}/{self.total_files} files, "
                f"{_size(done_bytes)} of {_size(self.total_bytes)}",
                ending="\n" if final else "",
            )
            self.stream.flush()
        elif final or now - self.last_line >= PLAIN_PROGRESS_SECONDS:
            self.stream.write(
                f"verified {files}/{self.total_files} files, "
                f"{_size(done_bytes)} of {_size(self.total_bytes)}"
            )
            self.last_line = now


def _size(size: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024  # type: ignore[assignment]
    raise AssertionError("unreachable")


class Command(BaseCommand):
    help = "Check the size and SHA-256 of every stored file; report missing and corrupt ones."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--missing-only",
            action="store_true",
            help="Only check that the bytes exist with the recorded size (no hashing): fast.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        missing_only: bool = options["missing_only"]
        files = StoredFile.objects.order_by("created", "pk")
        total_files = files.count()
        total_bytes = files.aggregate(total=Sum("size"))["total"] or 0
        progress = Progress(self.stderr, total_files, total_bytes)
        bad: list[str] = []
        done_bytes = 0
        for count, stored in enumerate(files.iterator(), start=1):
            problem = self._problem(stored, missing_only)
            done_bytes += stored.size
            if problem:
                bad.append(f"{stored.pk} {stored.name!r}: {problem}")
                if stored.bytes_missing_since is None:
                    StoredFile.objects.filter(pk=stored.pk).update(
                        bytes_missing_since=timezone.now()
                    )
            elif stored.bytes_missing_since is not None:
                StoredFile.objects.filter(pk=stored.pk).update(bytes_missing_since=None)
            progress.update(count, done_bytes)
        progress.update(total_files, done_bytes, final=True)
        for line in bad:
            self.stdout.write(line)
        checked = "present with their size" if missing_only else "whole (size and SHA-256)"
        summary = f"{total_files - len(bad)} of {total_files} files {checked}."
        if bad:
            raise CommandError(f"{summary} {len(bad)} missing or corrupt, listed above.")
        self.stdout.write(summary)

    def _problem(self, stored: StoredFile, missing_only: bool) -> str:
        """What is wrong with the file's bytes, or "" when nothing is."""
        storage = stored.file.storage
        key = stored.file.name or ""
        try:
            if missing_only:
                size = storage.size(key)
                return "" if size == stored.size else f"size {size}, recorded {stored.size}"
            return self._hash_problem(stored, key)
        except STORAGE_READ_ERRORS as error:
            if is_missing(error):
                return "missing"
            raise CommandError(f"storage unavailable at file {stored.pk}: {error}") from error

    def _hash_problem(self, stored: StoredFile, key: str) -> str:
        storage = stored.file.storage
        size = storage.size(key)
        if size != stored.size:
            return f"size {size}, recorded {stored.size}"
        digest = hashlib.sha256()
        source = open_slice(storage, key, 0, size)
        try:
            while chunk := source.read(CHUNK_SIZE):
                digest.update(chunk)
        finally:
            source.close()
        if digest.hexdigest() != stored.sha256:
            return f"SHA-256 {digest.hexdigest()}, recorded {stored.sha256}"
        return ""
