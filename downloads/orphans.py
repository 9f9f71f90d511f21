"""Stored bytes that no StoredFile row names: left by a crash between the write and the commit,
or copied in by hand.

Only the app's own key space is walked (`files/`, where new_storage_key puts every upload), so a
bucket or directory shared with anything else — the log's archives included — is never touched.
Keys are listed a page at a time (one S3 ListObjectsV2 call, or one directory's entries) and
each page is looked up in one query, so memory stays flat whatever the number of files.

An orphan is deleted only when asked and only once it is older than MIN_AGE: bytes being
uploaded right now have no row yet, and a large upload to S3 can take minutes. Just before a
delete, the row is looked for once more.
"""

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.core.files.storage import FileSystemStorage, Storage

from downloads.models import StoredFile
from downloads.storage import is_s3, s3_client, s3_key

KEY_SPACE = "files/"
MIN_AGE = timedelta(hours=1)
PAGE_SIZE = 1000


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    modified: datetime


def stored_objects(storage: Storage) -> Iterator[list[StoredObject]]:
    """Every object under KEY_SPACE, in pages."""
    if is_s3(storage):
        yield from _s3_pages(storage)
    elif isinstance(storage, FileSystemStorage):
        yield from _local_pages(storage)
    else:
        raise NotImplementedError(f"cannot list the objects of {type(storage).__name__}")


def _s3_pages(storage: Storage) -> Iterator[list[StoredObject]]:
    prefix = s3_key(storage, KEY_SPACE)  # type: ignore[arg-type]
    # The storage's own prefix (`location`), stripped again to give the app's keys.
    location_length = len(prefix) - len(KEY_SPACE)
    paginator = s3_client(storage).get_paginator("list_objects_v2")  # type: ignore[arg-type]
    pages = paginator.paginate(
        Bucket=storage.bucket_name,  # type: ignore[attr-defined]
        Prefix=prefix,
        PaginationConfig={"PageSize": PAGE_SIZE},
    )
    for page in pages:
        yield [
            StoredObject(item["Key"][location_length:], item["Size"], item["LastModified"])
            for item in page.get("Contents", [])
        ]


def _local_pages(storage: FileSystemStorage) -> Iterator[list[StoredObject]]:
    root = Path(storage.location)
    page: list[StoredObject] = []
    for folder, subfolders, names in os.walk(root / KEY_SPACE):
        subfolders.sort()
        for name in sorted(names):
            path = Path(folder) / name
            try:
                facts = path.lstat()
            except FileNotFoundError:
                continue  # deleted since the folder was read
            modified = datetime.fromtimestamp(facts.st_mtime, tz=UTC)
            page.append(StoredObject(path.relative_to(root).as_posix(), facts.st_size, modified))
            if len(page) >= PAGE_SIZE:
                yield page
                page = []
    if page:
        yield page


@dataclass(frozen=True)
class Orphan:
    key: str
    size: int
    modified: datetime


def find_orphans(storage: Storage) -> Iterator[Orphan]:
    for page in stored_objects(storage):
        keys = [item.key for item in page]
        known = set(StoredFile.objects.filter(file__in=keys).values_list("file", flat=True))
        for item in page:
            if item.key not in known:
                yield Orphan(item.key, item.size, item.modified)


def old_enough(orphan: Orphan, now: datetime) -> bool:
    return orphan.modified <= now - MIN_AGE


def delete_orphan(storage: Storage, orphan: Orphan) -> bool:
    """Delete the orphan's bytes unless a row has named them since; whether they were deleted."""
    if StoredFile.objects.filter(file=orphan.key).exists():
        return False
    storage.delete(orphan.key)
    return True
