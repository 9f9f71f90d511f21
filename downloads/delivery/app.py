"""Delivery mode "django": the app sends the bytes itself.

Whole files and single ranges leave as a FileResponse whose file object the WSGI server's
`wsgi.file_wrapper` turns into one sendfile() call (gunicorn sends exactly Content-Length bytes
from the file's current position). Servers without sendfile read the same object, which stops
at the range's end. Files in S3 are streamed from one ranged GET per slice (downloads/storage.py).
Every response says what counts the bytes the server takes, for the download log.
"""

import secrets
from collections.abc import Iterator

from django.http import FileResponse, HttpRequest, HttpResponse, StreamingHttpResponse

from downloads.delivery.decision import Decision
from downloads.delivery.headers import apply_headers
from downloads.delivery.sending import Delivery, Mover, Sending, TakenChunks
from downloads.http.ranges import ByteRange
from downloads.models import StoredFile
from downloads.storage import ByteSlice, open_slice, stored_key

CHUNK_SIZE = 256 * 1024


def send(request: HttpRequest, decision: Decision) -> Delivery:
    if decision.head:
        return _head(decision)
    if decision.ranges is None:
        return _whole(decision)
    if len(decision.ranges) == 1:
        return _single_range(decision, decision.ranges[0])
    return _multipart(decision, decision.ranges)


def _open(stored: StoredFile, start: int, length: int) -> ByteSlice:
    return open_slice(stored.file.storage, stored_key(stored.file), start, length)


def _whole(decision: Decision) -> Delivery:
    stored = decision.stored
    source = _open(stored, 0, stored.size)
    response = FileResponse(source, content_type=decision.headers["Content-Type"])
    response.block_size = CHUNK_SIZE
    apply_headers(response, decision.headers)
    response["Content-Length"] = str(stored.size)
    return Delivery(response, Sending(200, stored.size, Mover.APP, counter=source))


def _single_range(decision: Decision, byte_range: ByteRange) -> Delivery:
    stored = decision.stored
    start, end = byte_range
    length = end - start + 1
    source = _open(stored, start, length)
    response = FileResponse(source, status=206, content_type=decision.headers["Content-Type"])
    response.block_size = CHUNK_SIZE
    apply_headers(response, decision.headers)
    response["Content-Length"] = str(length)
    response["Content-Range"] = f"bytes {start}-{end}/{stored.size}"
    return Delivery(response, Sending(206, length, Mover.APP, counter=source))


def _multipart(decision: Decision, ranges: tuple[ByteRange, ...]) -> Delivery:
    stored = decision.stored
    boundary = secrets.token_hex(16)
    part_heads = [
        (
            f"--{boundary}\r\nContent-Type: {decision.headers['Content-Type']}\r\n"
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

    # The framing counts too: the body announced and sent is the whole multipart body.
    counted = TakenChunks(body())
    response = StreamingHttpResponse(counted, status=206)
    apply_headers(response, decision.headers)
    response["Content-Type"] = f"multipart/byteranges; boundary={boundary}"
    response["Content-Length"] = str(length)
    return Delivery(response, Sending(206, length, Mover.APP, counter=counted))


def _head(decision: Decision) -> Delivery:
    response = HttpResponse(b"", content_type=decision.headers["Content-Type"])
    apply_headers(response, decision.headers)
    response["Content-Length"] = str(decision.stored.size)
    return Delivery(response, Sending(200, 0, Mover.APP))
