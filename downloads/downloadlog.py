"""The download log's rows, all built here: a single download, a zip's members, a denied request.

Every row goes to the one writer (logwriter.py). What a row says:

- `bytes_planned`: the body the answer announced (Content-Length; in nginx and s3 modes the
  bytes asked for). `bytes_sent`: what really left (see below). `outcome`: COMPLETE, ABORTED,
  HANDED_OVER or DENIED (models.Outcome).
- django mode (Django sends the body): the row is written when the body ends, from the
  response's close(), which the WSGI server calls after sending it or on failure. `bytes_sent` is
  what the server took: for a file, the position sendfile() leaves or the chunks it asked past
  (storage.ByteSlice.bytes_taken); for a generated body (several ranges, a zip), the chunks
  yielded and followed by a request for the next. "Taken" means handed to the kernel's socket:
  the kernel's buffers (a few MiB on loopback) may still hold some when a client leaves, so
  `bytes_sent` is at most that much above what the client received, and never below it.
  COMPLETE when it equals `bytes_planned`, else ABORTED.
- HEAD, 304, 412 and 416 send no file bytes: COMPLETE with 0 and 0, written at once.
- nginx and s3 modes: another server sends the bytes after Django's answer; Django cannot know
  how many arrive. The row says HANDED_OVER, with `bytes_planned` = `bytes_sent` = the bytes
  asked for (the whole file, or the ranges' total): the bytes handed over, as the outcome says.
- A request for a file that is missing, someone else's or not an id at all: DENIED, status 404,
  no file, `requested_id` when the id is a UUID. Built from what the request already holds: no
  query, and the same work for a missing file as for a forbidden one.
"""

import threading
import uuid
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from django.http import FileResponse, HttpRequest, StreamingHttpResponse
from django.http.response import HttpResponseBase

from downloads.archive import Archive
from downloads.clientip import client_ip
from downloads.conf import app_settings
from downloads.logwriter import WRITER
from downloads.models import DownloadLog, Outcome, StoredFile
from downloads.storage import ByteSlice

ZIP_DELIVERY = "zip"
NOT_FOUND = 404


@dataclass(frozen=True)
class DelegatedAnswer:
    """What the client gets from whoever sends the body on Django's behalf (nginx after an
    X-Accel-Redirect, the bucket after a redirect): Django's own response says neither."""

    status: int
    body_bytes: int


def delegate_answer(response: HttpResponseBase, status: int, body_bytes: int) -> None:
    response.delegated_answer = DelegatedAnswer(status, body_bytes)  # type: ignore[attr-defined]


def _delegated(response: HttpResponseBase) -> DelegatedAnswer | None:
    return getattr(response, "delegated_answer", None)


def answered_status(response: HttpResponseBase) -> int:
    delegated = _delegated(response)
    return delegated.status if delegated else response.status_code


def _announced_length(response: HttpResponseBase) -> int:
    try:
        return int(response.get("Content-Length", "0"))
    except ValueError:
        return 0


class TakenChunks:
    """An iterator over a generated body that counts the bytes the server took: a chunk counts
    once the server asks for the next one (or for the end), so the chunk in hand when the client
    leaves does not."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._in_hand = 0
        self.taken = 0
        self.finished = False

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        self.taken += self._in_hand
        self._in_hand = 0
        try:
            chunk = next(self._chunks)
        except StopIteration:
            self.finished = True
            raise
        self._in_hand = len(chunk)
        return chunk


def _base_row(request: HttpRequest, *, delivery: str = "", **fields: object) -> DownloadLog:
    return DownloadLog(
        user=request.user if request.user.is_authenticated else None,
        ip=client_ip(request),
        range=request.headers.get("Range", "")[:200],
        delivery=delivery or app_settings().delivery,
        **fields,
    )


def log_download(request: HttpRequest, stored: StoredFile, response: HttpResponseBase) -> None:
    """Record the answer: at once when no body is to be sent by Django, else when it ends."""
    row = _base_row(request, file=stored, file_name=stored.name, status=answered_status(response))
    delegated = _delegated(response)
    failed = getattr(response, "download_outcome", "")
    if failed:
        # Whoever answered a failure instead of the delivery says so (faults.py): no file bytes.
        row.outcome = failed
        WRITER.submit(row)
    elif request.method == "HEAD" or response.status_code in (304, 412, 416):
        row.outcome = Outcome.HANDED_OVER if delegated else Outcome.COMPLETE
        WRITER.submit(row)
    elif delegated is not None:
        row.bytes_planned = row.bytes_sent = delegated.body_bytes
        row.outcome = Outcome.HANDED_OVER
        WRITER.submit(row)
    elif isinstance(response, FileResponse) and hasattr(response.file_to_stream, "bytes_taken"):
        row.bytes_planned = _announced_length(response)
        source: ByteSlice = response.file_to_stream  # type: ignore[assignment]
        _when_closed(response, lambda: [_finished(row, source.bytes_taken)])
    elif isinstance(response, StreamingHttpResponse):
        row.bytes_planned = _announced_length(response)
        body = TakenChunks(response.streaming_content)  # type: ignore[arg-type]
        response.streaming_content = body
        _when_closed(response, lambda: [_finished(row, body.taken)])
    else:
        # A body Django holds whole (none of the delivery modes makes one today).
        row.bytes_planned = row.bytes_sent = len(getattr(response, "content", b""))
        row.outcome = Outcome.COMPLETE
        WRITER.submit(row)


def _finished(row: DownloadLog, taken: int) -> DownloadLog:
    row.bytes_sent = taken
    row.outcome = Outcome.COMPLETE if taken >= row.bytes_planned else Outcome.ABORTED
    return row


class _OpenBody:
    """A body being sent, and how to make its rows from what has been taken so far. Its rows
    are handed to the writer once: when the body ends, or when the process exits first."""

    def __init__(self, make_rows: Callable[[], list[DownloadLog]]) -> None:
        self._make_rows: Callable[[], list[DownloadLog]] | None = make_rows
        with _open_lock:
            _open_bodies.add(self)

    def __call__(self) -> None:
        with _open_lock:
            make_rows, self._make_rows = self._make_rows, None
            _open_bodies.discard(self)
        if make_rows is not None:
            WRITER.submit(make_rows())


# Weak: a response dropped without close() (an exception after the view) takes its entry along.
_open_bodies: "weakref.WeakSet[_OpenBody]" = weakref.WeakSet()
_open_lock = threading.Lock()


def _when_closed(response: HttpResponseBase, make_rows: Callable[[], list[DownloadLog]]) -> None:
    # HttpResponseBase.close() runs its closers in order, after the body's own (the file's, the
    # generator's): once the server is done with the body, whether it was sent or cut off.
    response._resource_closers.append(_OpenBody(make_rows))  # type: ignore[attr-defined]


def finish_open_bodies() -> None:
    """Rows for the bodies still being sent, as far as they got (ABORTED unless every byte was
    taken): the process is exiting and their close() may never come. gunicorn's worker_exit.
    A file in the middle of one sendfile() call has not reported its progress yet: its row
    then says the bytes known taken, a lower bound."""
    with _open_lock:
        still_open = list(_open_bodies)
    for body in still_open:
        body()


def log_denied(
    request: HttpRequest, requested: Iterable[uuid.UUID | None], *, delivery: str
) -> None:
    """One DENIED row per id asked for that the policy did not give (None: not an id)."""
    WRITER.submit([_denied_row(request, file_id, delivery) for file_id in requested])


def _denied_row(request: HttpRequest, file_id: uuid.UUID | None, delivery: str) -> DownloadLog:
    return _base_row(
        request,
        delivery=delivery,
        file=None,
        file_name="",
        status=NOT_FOUND,
        outcome=Outcome.DENIED,
        requested_id=file_id,
    )


def parse_file_id(raw: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw)
    except ValueError:
        return None


def log_zip(
    request: HttpRequest,
    files: Sequence[StoredFile],
    archive: Archive,
    response: StreamingHttpResponse,
) -> None:
    """One row per member, all written in one batch when the zip's body ends."""
    body = TakenChunks(response.streaming_content)  # type: ignore[arg-type]
    response.streaming_content = body
    rows = [
        _base_row(
            request,
            delivery=ZIP_DELIVERY,
            file=stored,
            file_name=stored.name,
            status=response.status_code,
            bytes_planned=stored.size,
        )
        for stored in files
    ]

    def finished() -> list[DownloadLog]:
        for index, row in enumerate(rows):
            _finished(row, _member_bytes_taken(archive, index, row.bytes_planned, body))
        return rows

    _when_closed(response, finished)


def _member_bytes_taken(archive: Archive, index: int, size: int, body: TakenChunks) -> int:
    """How many of member `index`'s file bytes lie within the zip bytes the server took.

    A stored member's bytes sit unchanged from its data's start, so the count is exact. A
    deflated member's zip bytes are not its file bytes: it counts whole once the zip was taken
    up to where the next member begins (or to its end), and 0 before that."""
    if body.finished:
        return size
    starts = archive.offsets.data_starts
    start = starts[index]
    if start is None:
        return 0
    if not archive.deflated[index]:
        return min(max(body.taken - start, 0), size)
    following = starts[index + 1] if index + 1 < len(starts) else None
    return size if following is not None and body.taken >= following else 0
