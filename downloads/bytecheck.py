"""The walk over every stored file's row that asks whether its bytes are still there.

Shared by `manage.py verify_files` (size and SHA-256, or `missing_only`) and `manage.py prune`
(missing only). Each file's bytes are read once, streamed in chunks, so memory stays flat
whatever the size. A file found missing or corrupt is flagged (`bytes_missing_since`, shown in
the admin); one found whole is unflagged — unless `flag` is off (a dry run).
"""

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db.models import Sum
from django.utils import timezone

from downloads.faults import STORAGE_READ_ERRORS, is_missing
from downloads.models import StoredFile
from downloads.storage import open_slice

CHUNK_SIZE = 1024 * 1024


class StorageUnavailable(Exception):
    """Storage failed for a reason other than missing bytes: the walk cannot go on."""


@dataclass
class WalkResult:
    total_files: int = 0
    total_bytes: int = 0
    # "<id> '<name>': <problem>" per file whose bytes are missing or wrong.
    problems: list[str] = field(default_factory=list)


# Called after each file: files done, bytes done, and the totals.
OnFile = Callable[[int, int, WalkResult], None]


def check_stored_files(
    *, missing_only: bool, flag: bool = True, on_file: OnFile | None = None
) -> WalkResult:
    files = StoredFile.objects.order_by("created", "pk")
    result = WalkResult(
        total_files=files.count(),
        total_bytes=files.aggregate(total=Sum("size"))["total"] or 0,
    )
    done_bytes = 0
    for count, stored in enumerate(files.iterator(), start=1):
        problem = file_problem(stored, missing_only)
        done_bytes += stored.size
        if problem:
            result.problems.append(f"{stored.pk} {stored.name!r}: {problem}")
            if flag and stored.bytes_missing_since is None:
                StoredFile.objects.filter(pk=stored.pk).update(bytes_missing_since=timezone.now())
        elif flag and stored.bytes_missing_since is not None:
            StoredFile.objects.filter(pk=stored.pk).update(bytes_missing_since=None)
        if on_file:
            on_file(count, done_bytes, result)
    return result


def file_problem(stored: StoredFile, missing_only: bool) -> str:
    """What is wrong with the file's bytes, or "" when nothing is."""
    storage = stored.file.storage
    key = stored.file.name or ""
    try:
        if missing_only:
            size = storage.size(key)
            return "" if size == stored.size else f"size {size}, recorded {stored.size}"
        return _hash_problem(stored, key)
    except STORAGE_READ_ERRORS as error:
        if is_missing(error):
            return "missing"
        raise StorageUnavailable(f"storage unavailable at file {stored.pk}: {error}") from error


def _hash_problem(stored: StoredFile, key: str) -> str:
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
