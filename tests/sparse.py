"""Huge stored files that cost no disk: sparse files of zeros with a few marks, and a checker.

They live on tmpfs (/dev/shm) when there is one: there, reading a hole maps the kernel's zero
page (4 GiB in 0.2 s here), while on ext4 every read of a hole first fills the page cache (the
same 4 GiB took 18 s).
"""

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.contrib.auth.models import User
from django.utils import timezone

from downloads.models import StoredFile

TMPFS = Path("/dev/shm")


@contextmanager
def fast_sparse_directory(prefix: str) -> Iterator[Path]:
    directory = Path(tempfile.mkdtemp(prefix=prefix, dir=TMPFS if TMPFS.is_dir() else None))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def sparse_file(
    media: Path,
    owner: User,
    name: str,
    size: int,
    marks: dict[int, bytes],
    content_type: str = "application/octet-stream",
) -> StoredFile:
    """An unsaved StoredFile (for bulk_create) of `size` bytes: zeros except the `marks`."""
    key = f"files/sparse/{uuid.uuid4().hex}"
    path = media / key
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        handle.truncate(size)
        for offset, data in marks.items():
            handle.seek(offset)
            handle.write(data)
    return StoredFile(
        owner=owner,
        name=name,
        file=key,
        size=size,
        sha256="0" * 64,
        content_type=content_type,
        updated=timezone.now(),
    )


class ExpectedBytes:
    """scan_zip's on_data: member bytes checked against zeros-with-marks, piece by piece."""

    def __init__(self, members: list[dict[int, bytes]]) -> None:
        self.members = members
        self.position = [0] * len(members)

    def __call__(self, index: int, data: bytes) -> None:
        start = self.position[index]
        expected = bytearray(len(data))
        for offset, mark in self.members[index].items():
            lo, hi = max(offset, start), min(offset + len(mark), start + len(data))
            if lo < hi:
                expected[lo - start : hi - start] = mark[lo - offset : hi - offset]
        assert data == expected, f"member {index} differs within {start}..{start + len(data)}"
        self.position[index] += len(data)
