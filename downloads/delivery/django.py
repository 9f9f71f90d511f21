"""Delivery mode "django": this process sends the bytes.

Whole files and single ranges leave as a FileResponse whose file object the WSGI server's
`wsgi.file_wrapper` turns into one sendfile() call (gunicorn sends exactly Content-Length bytes
from the file's current position). Servers without sendfile read the same object, which stops
at the range's end. Files in S3 are streamed from one ranged GET per slice (downloads/storage.py).
"""

import secrets
from collections.abc import Iterator

from django.http import FileResponse, HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase

from downloads.delivery.headers import file_headers
from downloads.delivery.preflight import apply_headers, preflight
from downloads.http.ranges import ByteRange
from downloads.models import StoredFile
from downloads.storage import ByteSlice, open_slice, stored_key

CHUNK_SIZE = 256 * 1024


def deliver(request: HttpRequest, stored: StoredFile, *, inline: bool) -> HttpResponseBase:
    answer, ranges = preflight(request, stored)
    if answer is not None:
        return answer

    headers = file_headers(stored, inline=inline)
    if request.method == "HEAD":
        return _head(headers, stored.size)
    if not ranges:
        return _whole(stored, headers)
    if len(ranges) == 1:
        return _single_range(stored, headers, ranges[0])
    return _multipart(stored, headers, ranges)


def _open(stored: StoredFile, start: int, length: int) -> ByteSlice:
    return open_slice(stored.file.storage, stored_key(stored.file), start, length)


def _whole(stored: StoredFile, headers: dict[str, str]) -> FileResponse:
    response = FileResponse(_open(stored, 0, stored.size), content_type=headers["Content-Type"])
    response.block_size = CHUNK_SIZE
    apply_headers(response, headers)
    response["Content-Length"] = str(stored.size)
    return response


def _single_range(
    stored: StoredFile, headers: dict[str, str], byte_range: ByteRange
) -> FileResponse:
    start, end = byte_range
    length = end - start + 1
    response = FileResponse(
        _open(stored, start, length), status=206, content_type=headers["Content-Type"]
    )
    response.block_size = CHUNK_SIZE
    apply_headers(response, headers)
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

    # The first part is opened now, so missing bytes fail before the status line is sent.
    first_start, first_end = ranges[0]
    first_part = _open(stored, first_start, first_end - first_start + 1)

    def body() -> Iterator[bytes]:
        for index, (head, (start, end)) in enumerate(zip(part_heads, ranges, strict=True)):
            yield head
            part = first_part if index == 0 else _open(stored, start, end - start + 1)
            try:
                while chunk := part.read(CHUNK_SIZE):
                    yield chunk
            finally:
                part.close()
            yield b"\r\n"
        yield closing

    response = StreamingHttpResponse(body(), status=206)
    apply_headers(response, headers)
    response["Content-Type"] = f"multipart/byteranges; boundary={boundary}"
    response["Content-Length"] = str(length)
    return response


def _head(headers: dict[str, str], size: int) -> HttpResponse:
    response = HttpResponse(b"", content_type=headers["Content-Type"])
    apply_headers(response, headers)
    response["Content-Length"] = str(size)
    return response
