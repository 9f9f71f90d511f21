"""`manage.py verify_files`: are every stored file's bytes still there, and still the same?

Each file's bytes are read once, streamed in chunks (memory stays flat whatever the size), and
their size and SHA-256 compared with what was recorded at upload. `--missing-only` asks only
whether they exist and have the recorded size (a stat, or one HEAD per S3 object): fast.
A file found missing or corrupt is flagged (`bytes_missing_since`, shown in the admin); one
found whole is unflagged. The exit status is 1 when any file is missing or corrupt, so a
periodic run (cron, a systemd timer) can alert. The walk itself is downloads/bytecheck.py,
shared with `manage.py prune`.
"""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from downloads.bytecheck import StorageUnavailable, WalkResult, check_stored_files
from downloads.progress import Progress, size_text


class Command(BaseCommand):
    help = "Check the size and SHA-256 of every stored file; report missing and corrupt ones."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--missing-only",
            action="store_true",
            help="Only check that the bytes exist with the recorded size (no hashing): fast.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        progress = Progress(self.stderr, plain_prefix="verified ")

        def show(files: int, done_bytes: int, walk: WalkResult, final: bool = False) -> None:
            share = done_bytes / walk.total_bytes if walk.total_bytes else 1.0
            text = (
                f"{files}/{walk.total_files} files, "
                f"{size_text(done_bytes)} of {size_text(walk.total_bytes)}"
            )
            progress.update(share, text, final=final)

        try:
            result = check_stored_files(missing_only=options["missing_only"], on_file=show)
        except StorageUnavailable as error:
            raise CommandError(str(error)) from error
        show(result.total_files, result.total_bytes, result, final=True)
        for line in result.problems:
            self.stdout.write(line)
        checked = (
            "present with their size" if options["missing_only"] else "whole (size and SHA-256)"
        )
        total, bad = result.total_files, len(result.problems)
        summary = f"{total - bad} of {total} files {checked}."
        if bad:
            raise CommandError(f"{summary} {bad} missing or corrupt, listed above.")
        self.stdout.write(summary)
