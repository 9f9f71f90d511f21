"""The download log's rows, all built here: a single download, a zip's members, a denied request.

Every row goes to the one writer (logwriter.py). A download's row is built from what its delivery
says it sends (delivery/sending.py: the status, the bytes planned, who moves them, what counts
them), never from guesses about the response. What a row says:

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
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from django.http import HttpRequest, StreamingHttpResponse
from django.http.response import HttpResponseBase

from downloads.archive import Archive
from downloads.clientip import client_ip
from downloads.conf import app_settings
from downloads.delivery.sending import BytesTaken, Delivery, Mover, TakenChunks
from downloads.logwriter import WRITER
from downloads.models import DownloadLog, Outcome, ShareLink, StoredFile

ZIP_DELIVERY = "zip"
# A signed media URL (/m/...) issued for a file (downloads/mediaurls.py).
SIGNED_DELIVERY = "signed"
NOT_FOUND = 404


def _base_row(request: HttpRequest, *, delivery: str = "", **fields: object) -> DownloadLog:
    return DownloadLog(
        user=request.user if request.user.is_authenticated else None,
        ip=client_ip(request),
        range=request.headers.get("Range", "")[:200],
        delivery=delivery or app_settings().delivery,
        **fields,
    )


def log_download(
    request: HttpRequest,
    stored: StoredFile,
    delivery: Delivery,
    *,
    share_link: ShareLink | None = None,
) -> None:
    """Record the answer from what its delivery says it sends: at once when Django sends no body
    of file bytes, else when the body ends. `share_link`: the link the request came through."""
    sending = delivery.sending
    row = _base_row(
        request, file=stored, file_name=stored.name, status=sending.status, share_link=share_link
    )
    if sending.failed:
        # The storage could not give the bytes: an error page, no file bytes (faults.py).
        row.outcome = Outcome.FAILED
        WRITER.submit(row)
    elif sending.mover is not Mover.APP:
        row.bytes_planned = row.bytes_sent = sending.bytes_planned
        row.outcome = Outcome.HANDED_OVER
        WRITER.submit(row)
    elif sending.counter is None:
        # HEAD, 304, 412, 416: no file bytes to send.
        row.bytes_planned = row.bytes_sent = sending.bytes_planned
        row.outcome = Outcome.COMPLETE
        WRITER.submit(row)
    else:
        row.bytes_planned = sending.bytes_planned
        counter: BytesTaken = sending.counter
        _when_closed(delivery.response, lambda: [_finished(row, counter.bytes_taken)])


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
    request: HttpRequest,
    requested: Iterable[uuid.UUID | None],
    *,
    delivery: str,
    status: int = NOT_FOUND,
    share_link: ShareLink | None = None,
) -> None:
    """One DENIED row per id asked for that the policy did not give (None: not an id). A share
    link refused (410, 404) names the link, when there is one."""
    WRITER.submit(
        [
            _base_row(
                request,
                delivery=delivery,
                file=None,
                file_name="",
                status=status,
                outcome=Outcome.DENIED,
                requested_id=file_id,
                share_link=share_link,
            )
            for file_id in requested
        ]
    )


def log_issued(request: HttpRequest, issued: Iterable[tuple[StoredFile, datetime, str]]) -> None:
    """One ISSUED row per signed media URL a page embeds: (the file, the URL's expiry, what
    serves it), handed to the writer together, so a page of 50 images adds one batch, not 50
    writes."""
    rows = [
        _base_row(
            request,
            delivery=delivery,
            file=stored,
            file_name=stored.name,
            status=0,
            outcome=Outcome.ISSUED,
            expires_at=expires_at,
        )
        for stored, expires_at, delivery in issued
    ]
    if rows:
        WRITER.submit(rows)


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
    *,
    share_link: ShareLink | None = None,
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
            share_link=share_link,
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
        return min(max(body.bytes_taken - start, 0), size)
    following = starts[index + 1] if index + 1 < len(starts) else None
    return size if following is not None and body.bytes_taken >= following else 0
