"""Reading a stored file's bytes, and addressing them, whatever storage holds them.

A local file is opened and positioned, so gunicorn can sendfile() it. An S3 object is read with
one ranged GET per slice, streamed in chunks: django-storages' own S3File would first copy the
whole object into a temporary file before the first byte could leave.
"""

from typing import IO, Any, Protocol

from django.core.files.storage import Storage
from django.db.models.fields.files import FieldFile
from storages.backends.s3 import S3Storage
from storages.utils import clean_name


class ByteSlice(Protocol):
    def read(self, size: int = -1) -> bytes: ...

    def close(self) -> None: ...


class FileSlice:
    """`length` bytes of an open file from `start`, readable and sendfile-able."""

    def __init__(self, file: IO[bytes], start: int, length: int) -> None:
        file.seek(start)
        self._file = file
        self._remaining = length

    def read(self, size: int = -1) -> bytes:
        if self._remaining <= 0:
            return b""
        if size < 0 or size > self._remaining:
            size = self._remaining
        data = self._file.read(size)
        self._remaining -= len(data)
        return data

    def fileno(self) -> int:
        return self._file.fileno()

    def close(self) -> None:
        self._file.close()


class S3Slice:
    """`length` bytes of an S3 object from `start`, fetched with one ranged GET.

    The GET is sent at once, so a missing object fails before any response header is sent.
    No fileno(): servers read it in chunks instead of trying sendfile().
    """

    def __init__(self, storage: S3Storage, name: str, start: int, length: int) -> None:
        self._remaining = length
        self._body: Any = None
        if length > 0:
            self._body = s3_client(storage).get_object(
                Bucket=storage.bucket_name,
                Key=s3_key(storage, name),
                Range=f"bytes={start}-{start + length - 1}",
            )["Body"]

    def read(self, size: int = -1) -> bytes:
        if self._remaining <= 0:
            return b""
        if size < 0 or size > self._remaining:
            size = self._remaining
        data: bytes = self._body.read(size)
        if not data:
            raise OSError(f"the object ended {self._remaining} bytes early")
        self._remaining -= len(data)
        return data

    def close(self) -> None:
        if self._body is not None:
            self._body.close()


def stored_key(file: FieldFile) -> str:
    """The storage key of a saved file; a stored file without one is a broken row."""
    if not file.name:
        raise ValueError("the stored file has no storage key")
    return file.name


def is_s3(storage: Storage) -> bool:
    return isinstance(storage, S3Storage)


def open_slice(storage: Storage, name: str, start: int, length: int) -> ByteSlice:
    """A reader of exactly `length` bytes of the stored file `name`, from byte `start`."""
    if isinstance(storage, S3Storage):
        return S3Slice(storage, name, start, length)
    # A fresh handle per response: the model's FieldFile caches one that others may move.
    return FileSlice(storage.open(name, "rb"), start, length)


def s3_client(storage: S3Storage) -> Any:
    # The storage keeps one boto3 resource per thread; presigning with its client is local
    # computation, no request to the bucket.
    return storage.connection.meta.client


def s3_key(storage: S3Storage, name: str) -> str:
    # The object key exactly as django-storages derives it (its `location` prefix included).
    key: str = storage._normalize_name(clean_name(name))
    return key


def presigned_url(
    storage: S3Storage,
    name: str,
    *,
    head: bool = False,
    response_headers: dict[str, str] | None = None,
) -> str:
    """A URL that lets its holder GET (or HEAD) one object until `querystring_expire` runs out.

    `response_headers` ({"ResponseContentType": ..., ...}) are signed into the URL: the bucket
    answers with those values instead of the object's stored ones.
    """
    params = {
        "Bucket": storage.bucket_name,
        "Key": s3_key(storage, name),
        **(response_headers or {}),
    }
    url: str = s3_client(storage).generate_presigned_url(
        "head_object" if head else "get_object",
        Params=params,
        ExpiresIn=storage.querystring_expire,
        HttpMethod="HEAD" if head else "GET",
    )
    return url
