"""What the app learns about a file's bytes when they are saved, and the guard that keeps storage
and database consistent when a save fails.

Size, SHA-256 and content type are computed once, at upload, in a single pass over the bytes;
downloads only read them back.
"""

import hashlib
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError
from django.core.files import File
from django.core.files.storage import Storage
from django.db import transaction

from downloads.http.types import sniff_content_type

SNIFF_BYTES = 4096

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FileFacts:
    size: int
    sha256: str
    content_type: str


def inspect_bytes(upload: File, name: str) -> FileFacts:
    """Hash, measure and sniff an uploaded file, leaving it rewound for storage."""
    digest = hashlib.sha256()
    size = 0
    head = b""
    upload.open("rb")
    for chunk in upload.chunks():
        if len(head) < SNIFF_BYTES:
            head += chunk[: SNIFF_BYTES - len(head)]
        digest.update(chunk)
        size += len(chunk)
    if getattr(upload, "_committed", False):
        upload.close()  # already in storage: it was opened only to be read here
    else:
        upload.seek(0)
    return FileFacts(
        size=size, sha256=digest.hexdigest(), content_type=sniff_content_type(name, head)
    )


def new_storage_key(instance: object, filename: str) -> str:
    """A fresh storage key: never derived from the uploader's file name."""
    key = uuid.uuid4().hex
    name = f"files/{key[:2]}/{key}"
    # Remembered before the write: a write that fails half-way (a full disk) leaves bytes under
    # this key, which StoredFile.save removes.
    instance.__dict__["_key_being_written"] = name
    return name


# Keys written inside the innermost `files_rollback_guard`, deleted again if its block fails.
_written_keys: ContextVar[list[tuple[Storage, str]] | None] = ContextVar(
    "written_keys", default=None
)


def remember_written_key(storage: Storage, key: str) -> None:
    written = _written_keys.get()
    if written is not None:
        written.append((storage, key))


@contextmanager
def files_rollback_guard() -> Iterator[None]:
    """An atomic block whose failure also removes the bytes its saves wrote.

    Django has no on-rollback hook, so a save inside an outer transaction that later rolls back
    would leave its new bytes behind; wrapping the whole unit of work in this guard does not.
    """
    enclosing = _written_keys.get()
    written: list[tuple[Storage, str]] = []
    token = _written_keys.set(written)
    try:
        with transaction.atomic():
            yield
    except BaseException:
        for storage, key in written:
            storage.delete(key)
        raise
    finally:
        _written_keys.reset(token)
    if enclosing is not None:
        # A nested guard only committed a savepoint: its bytes live or die with the outer block.
        enclosing.extend(written)


def delete_after_commit(storage: Storage, key: str) -> None:
    """Remove bytes only once the transaction that stopped using them has committed."""
    transaction.on_commit(lambda: storage.delete(key))


def discard_bytes(storage: Storage, key: str) -> None:
    """Remove bytes a failed save wrote, without hiding why the save failed.

    When the storage itself is failing (a bucket that does not answer) the delete may fail too:
    that is logged with the key, for `manage.py verify_files` and staff, and the save's own
    error goes on.
    """
    try:
        storage.delete(key)
    except (OSError, BotoCoreError, ClientError):
        logger.exception("Could not remove the bytes of a failed save at key %s", key)
