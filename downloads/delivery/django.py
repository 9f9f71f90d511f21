"""Delivery mode "django": this process sends the bytes.

Whole files and single ranges leave as a FileResponse whose file object the WSGI server's
`wsgi.file_wrapper` turns into one sendfile() call (gunicorn sends exactly Content-Length bytes
from the file's current position). Servers without sendfile read the same object, which stops
at the range's end.
"""

import secrets
from collections.abc import Iterator
from typing import IO

from django.conf import settings
from django.http import FileResponse, HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase

from downloads.delivery.headers import file_headers, validator_headers
from downloads.http.conditional import precondition_status
from downloads.http.ranges import ByteRange, RangeNotSatisfiable, if_range_allows, parse_range
from downloads.models import StoredFile

CHUNK_SIZE = 256 * 1024


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


def deliver(request: HttpRequest, stored: StoredFile, *, inline: bool) -> HttpResponseBase:
    status = precondition_status(
        request.method or "GET", request.headers, stored.etag, stored.last_modified
    )
    if status is not None:
        return _bodiless(status, validator_headers(stored))

    headers = file_headers(stored, inline=inline)
    ranges: list[ByteRange] | None = None
    if request.method == "GET" and if_range_allows(
        request.headers.get("If-Range"), stored.etag, stored.last_modified
    ):
        try:
            ranges = parse_range(
                request.headers.get("Range"), stored.size, settings.DOWNLOADS_MAX_RANGES
            )
        except RangeNotSatisfiable:
            return _not_satisfiable(stored)

    if request.method == "HEAD":
        return _head(headers, stored.size)
    if not ranges:
        return _whole(stored, headers)
    if len(ranges) == 1:
        return _single_range(stored, headers, ranges[0])
    return _multipart(stored, headers, ranges)


def _open(stored: StoredFile) -> IO[bytes]:
    # A fresh handle per response: the model's FieldFile caches one that others may move.
    return stored.file.storage.open(stored.file.name, "rb")


def _whole(stored: StoredFile, headers: dict[str, str]) -> FileResponse:
    response = FileResponse(_open(stored), content_type=headers["Content-Type"])
    response.block_size = CHUNK_SIZE
    _apply(response, headers)
    response["Content-Length"] = str(stored.size)
    return response


def _single_range(
    stored: StoredFile, headers: dict[str, str], byte_range: ByteRange
) -> FileResponse:
    start, end = byte_range
    length = end - start + 1
    response = FileResponse(
        FileSlice(_open(stored), start, length), status=206, content_type=headers["Content-Type"]
    )
    response.block_size = CHUNK_SIZE
    _apply(response, headers)
    response["Content-Length"] = str(length)
    response["Content-Range"] = f"bytes {start}-{end}/{stored.size}"
    return response


def _multipart(
    stored: StoredFile, headers: dict[str, str], ranges: list[ByteRange]
) -> StreamingHttpResponse:
    boundary = secrets.token_hex(16)
    part_heads = [
        (
            f"--{boundary}\r\nContent-Type: {stored.content_type}\r\n"
            f"Content-Range: bytes {start}-{end}/{stored.size}\r\n\r\n"
        ).encode("latin-1")
        for start, end in ranges
    ]
    closing = f"--{boundary}--\r\n".encode("latin-1")
    length = sum(
        len(head) + (end - start + 1) + 2
        for head, (start, end) in zip(part_heads, ranges, strict=True)
    )
    length += len(closing)

    def body() -> Iterator[bytes]:
        with _open(stored) as file:
            for head, (start, end) in zip(part_heads, ranges, strict=True):
                yield head
                part = FileSlice(file, start, end - start + 1)
                while chunk := part.read(CHUNK_SIZE):
                    yield chunk
                yield b"\r\n"
        yield closing

    response = StreamingHttpResponse(body(), status=206)
    _apply(response, headers)
    response["Content-Type"] = f"multipart/byteranges; boundary={boundary}"
    response["Content-Length"] = str(length)
    return response


def _head(headers: dict[str, str], size: int) -> HttpResponse:
    response = HttpResponse(b"", content_type=headers["Content-Type"])
    _apply(response, headers)
    response["Content-Length"] = str(size)
    return response


def _not_satisfiable(stored: StoredFile) -> HttpResponse:
    response = HttpResponse(
        b"Range Not Satisfiable\n", status=416, content_type="text/plain; charset=utf-8"
    )
    _apply(response, validator_headers(stored))
    response["Content-Range"] = f"bytes */{stored.size}"
    return response


def _bodiless(status: int, headers: dict[str, str]) -> HttpResponse:
    response = HttpResponse(status=status)
    del response["Content-Type"]
    _apply(response, headers)
    return response


def _apply(response: HttpResponseBase, headers: dict[str, str]) -> None:
    for name, value in headers.items():
        response[name] = value
