"""Whole small objects (the download log's archives) written to and read from the app's storage.

A write is all or nothing: an object under its final name is always complete. S3 gets one
PutObject (an object appears only once it is whole); a local file is written under a temporary
name beside the final one, flushed to disk and renamed over it. Rewriting a name replaces it.
"""

import os
import uuid
from pathlib import Path

from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, Storage

from downloads.storage import is_s3, s3_client, s3_key

PARTIAL_SUFFIX = ".partial"


def write_whole(storage: Storage, name: str, data: bytes, content_type: str) -> None:
    if is_s3(storage):
        params = storage.get_object_parameters(name)  # type: ignore[attr-defined]
        s3_client(storage).put_object(  # type: ignore[arg-type]
            Bucket=storage.bucket_name,  # type: ignore[attr-defined]
            Key=s3_key(storage, name),  # type: ignore[arg-type]
            Body=data,
            ContentType=content_type,
            **params,
        )
    elif isinstance(storage, FileSystemStorage):
        _write_local(storage, Path(storage.path(name)), data)
    else:
        # Another backend: no atomic replace in the Storage API. A torn write is caught when
        # the archive is read back (it does not parse), before any row is deleted.
        if storage.exists(name):
            storage.delete(name)
        saved = storage.save(name, ContentFile(data))
        if saved != name:
            raise OSError(f"the storage saved {name} as {saved}")


def _write_local(storage: FileSystemStorage, path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}{PARTIAL_SUFFIX}")
    try:
        with partial.open("xb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        if storage.file_permissions_mode is not None:
            partial.chmod(storage.file_permissions_mode)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    # The rename itself reaches the disk only with the directory's entry.
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def read_whole(storage: Storage, name: str) -> bytes:
    with storage.open(name, "rb") as stored:
        data: bytes = stored.read()
    return data


def list_names(storage: Storage, folder: str) -> list[str]:
    """Names of the objects directly in `folder` (without it), none for a missing folder."""
    try:
        _, names = storage.listdir(folder)
    except FileNotFoundError:
        return []
    return sorted(names)
