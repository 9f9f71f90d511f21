"""Reading a stored file's bytes, and addressing them, whatever storage holds them.

A local file is opened and positioned, so gunicorn can sendfile() it. An S3 object is read with
one ranged GET per slice, streamed in chunks: django-storages' own S3File would first copy the
whole object into a temporary file before the first byte could leave.
"""

import threading
from typing import IO, Any, Protocol
from weakref import WeakKeyDictionary

from django.core.files.storage import Storage
from django.db.models.fields.files import FieldFile
from storages.backends.s3 import S3Storage
from storages.utils import clean_name


class ByteSlice(Protocol):
    def read(self, size: int = -1) -> bytes: ...

    def close(self) -> None: ...

    @property
    def bytes_taken(self) -> int: ...


class _Taken:
    """How many of a slice's bytes the server has taken, for the download log.

    A server that reads (gunicorn without sendfile, S3 slices, wsgiref) asks for the next chunk
    only once it has sent the last one, so a read counts the bytes before it: the chunk in hand
    when the client leaves is not counted. A server that uses sendfile() (gunicorn through
    CPython's socket.sendfile) seeks the file to start + bytes sent when it returns or fails,
    and a seek sets the count exactly."""

    _start: int = 0
    _position: int = 0
    _taken_to: int = 0

    @property
    def bytes_taken(self) -> int:
        return self._taken_to - self._start


class FileSlice(_Taken):
    """`length` bytes of an open file from `start`, readable and sendfile-able."""

    def __init__(self, file: IO[bytes], start: int, length: int) -> None:
        file.seek(start)
        self._file = file
        self._start = self._position = self._taken_to = start
        self._end = start + length

    def read(self, size: int = -1) -> bytes:
        self._taken_to = self._position
        remaining = self._end - self._position
        if remaining <= 0:
            return b""
        if size < 0 or size > remaining:
            size = remaining
        data = self._file.read(size)
        self._position += len(data)
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence != 0:
            raise OSError("a file slice seeks to absolute offsets only")
        offset = min(max(offset, self._start), self._end)
        self._file.seek(offset)
        self._position = self._taken_to = offset
        return offset

    def tell(self) -> int:
        return self._position

    def seekable(self) -> bool:
        # Only the server's seek to where sending stopped is meant: Django's FileResponse must
        # not measure the slice by seeking to the file's end.
        return False

    def fileno(self) -> int:
        return self._file.fileno()

    def close(self) -> None:
        self._file.close()


class S3Slice(_Taken):
    """`length` bytes of an S3 object from `start`, fetched with one ranged GET.

    The GET is sent at once, so a missing object fails before any response header is sent.
    No fileno(): servers read it in chunks instead of trying sendfile().
    """

    def __init__(self, storage: S3Storage, name: str, start: int, length: int) -> None:
        self._remaining = length
        self._start = self._position = self._taken_to = start
        self._body: Any = None
        if length > 0:
            self._body = s3_client(storage).get_object(
                Bucket=storage.bucket_name,
                Key=s3_key(storage, name),
                Range=f"bytes={start}-{start + length - 1}",
            )["Body"]

    def read(self, size: int = -1) -> bytes:
        self._taken_to = self._position
        if self._remaining <= 0:
            return b""
        if size < 0 or size > self._remaining:
            size = self._remaining
        data: bytes = self._body.read(size)
        if not data:
            raise OSError(f"the object ended {self._remaining} bytes early")
        self._remaining -= len(data)
        self._position += len(data)
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


_shared_clients: WeakKeyDictionary[S3Storage, Any] = WeakKeyDictionary()
_shared_clients_lock = threading.Lock()


def s3_client(storage: S3Storage) -> Any:
    """One boto3 client per storage for the whole process, shared by its threads.

    django-storages keeps a boto3 resource per thread (resources are not thread-safe), and each
    brings its own session with its own copy of the service's model: in s3 mode a gunicorn
    worker grew by several MiB for every thread that ever served a download. boto3's clients
    are thread-safe and pool their connections (`AWS_S3_MAX_POOL_CONNECTIONS`), so the
    download path (presigning, the HEAD check, ranged GETs) shares one per storage.
    """
    client = _shared_clients.get(storage)
    if client is None:
        with _shared_clients_lock:
            client = _shared_clients.get(storage)
            if client is None:
                client = _shared_clients[storage] = storage.connection.meta.client
    return client


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
    expires_in: int | None = None,
) -> str:
    """A URL that lets its holder GET (or HEAD) one object for `expires_in` seconds (default:
    the storage's `querystring_expire`).

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
        ExpiresIn=storage.querystring_expire if expires_in is None else expires_in,
        HttpMethod="HEAD" if head else "GET",
    )
    return url
