"""CSV exports streamed row by row: the download log (admin) and a user's file list.

Rows come from `QuerySet.iterator(chunk_size=...)`, are written through the csv module into a
small buffer and leave in pieces of about WRITE_SIZE bytes, so a 100,000-row log never sits in
memory as model instances or as text.

The files open as intended in spreadsheet programs: UTF-8 with a byte order mark (without it
Excel reads UTF-8 as the local code page), CRLF line ends, a header row. Any text cell that
starts with `=`, `+`, `-`, `@`, TAB or CR is prefixed with `'` (OWASP "CSV injection"), so a
file named `=HYPERLINK("http://x","y")` is shown as text, never evaluated as a formula.
"""

import csv
import datetime
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from django.db.models import Model, QuerySet
from django.http import HttpRequest, StreamingHttpResponse
from django.utils import timezone

from downloads.delivery.headers import apply_headers, generated_file_headers
from downloads.models import DownloadLog, StoredFile

BOM = "\ufeff"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
ROWS_PER_QUERY = 2000
WRITE_SIZE = 64 * 1024

Cell = str | int | None
RowModel = TypeVar("RowModel", bound=Model)


@dataclass(frozen=True)
class Column(Generic[RowModel]):
    header: str
    value: Callable[[RowModel], Cell]


def neutralise(cell: Cell) -> Cell:
    """A text cell a spreadsheet would run as a formula, made plain text."""
    if isinstance(cell, str) and cell.startswith(FORMULA_STARTS):
        return f"'{cell}"
    return cell


def csv_chunks(header: Sequence[str], rows: Iterable[Sequence[Cell]]) -> Iterator[bytes]:
    """BOM, header and rows as UTF-8 CSV, in pieces of about WRITE_SIZE bytes."""
    buffer = _LineBuffer()
    writer = csv.writer(buffer)  # the "excel" dialect: CRLF, quotes only where needed
    buffer.write(BOM)
    writer.writerow([neutralise(cell) for cell in header])
    for row in rows:
        writer.writerow([neutralise(cell) for cell in row])
        if buffer.size >= WRITE_SIZE:
            yield buffer.take()
    yield buffer.take()


def export_rows(
    queryset: QuerySet[RowModel], columns: Sequence[Column[RowModel]]
) -> Iterator[list[Cell]]:
    for instance in queryset.iterator(chunk_size=ROWS_PER_QUERY):
        yield [column.value(instance) for column in columns]


def csv_response(
    request: HttpRequest,
    filename: str,
    queryset: QuerySet[RowModel],
    columns: Sequence[Column[RowModel]],
) -> StreamingHttpResponse:
    header = [column.header for column in columns]
    if request.method == "HEAD":
        # The server would run the whole export only to drop it: same headers, no rows.
        queryset = queryset.none()
    response = StreamingHttpResponse(
        csv_chunks(header, export_rows(queryset, columns)), content_type="text/csv; charset=utf-8"
    )
    apply_headers(response, generated_file_headers(filename))
    return response


def stamped_name(prefix: str, extension: str) -> str:
    return f"{prefix}-{timezone.localtime():%Y%m%d-%H%M%S}.{extension}"


def utc_text(moment: datetime.datetime | None) -> str:
    """A time spreadsheet programs read as one: "2025-01-31 14:05:09", in UTC."""
    if moment is None:
        return ""
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")


DOWNLOAD_LOG_COLUMNS: tuple[Column[DownloadLog], ...] = (
    Column("at (UTC)", lambda log: utc_text(log.at)),
    Column("file name", lambda log: log.file_name),
    Column("file id", lambda log: str(log.file_id) if log.file_id else ""),
    Column("user", lambda log: log.user.get_username() if log.user else ""),
    Column("client IP", lambda log: log.ip),
    Column("status", lambda log: log.status),
    Column("outcome", lambda log: log.outcome),
    Column("range asked", lambda log: log.range),
    Column("bytes planned", lambda log: log.bytes_planned),
    Column("bytes sent", lambda log: log.bytes_sent),
    Column("delivery", lambda log: log.delivery),
    Column("requested id", lambda log: str(log.requested_id) if log.requested_id else ""),
    # The share link the request came through (its id: the token itself is never stored).
    Column("share link", lambda log: log.share_link_id or ""),
    # A signed media URL issued (outcome "issued"): until when it works.
    Column("URL expires (UTC)", lambda log: utc_text(log.expires_at)),
)


def download_log_csv(
    request: HttpRequest, queryset: QuerySet[DownloadLog]
) -> StreamingHttpResponse:
    return csv_response(
        request,
        stamped_name("download-log", "csv"),
        queryset.select_related("user"),
        DOWNLOAD_LOG_COLUMNS,
    )


def file_list_columns(absolute_url: Callable[[str], str]) -> tuple[Column[StoredFile], ...]:
    return (
        Column("name", lambda stored: stored.name),
        Column("size (bytes)", lambda stored: stored.size),
        Column("type", lambda stored: stored.content_type),
        Column("modified (UTC)", lambda stored: utc_text(stored.updated)),
        Column("owner", lambda stored: stored.owner.get_username()),
        Column("SHA-256", lambda stored: stored.sha256),
        Column("download", lambda stored: absolute_url(stored.get_download_url())),
    )


def file_list_csv(request: HttpRequest, queryset: QuerySet[StoredFile]) -> StreamingHttpResponse:
    return csv_response(
        request,
        stamped_name("my-files", "csv"),
        queryset.select_related("owner"),
        file_list_columns(request.build_absolute_uri),
    )


class _LineBuffer:
    """What csv.writer writes to: text collected until taken as UTF-8 bytes."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self.size = 0

    def write(self, text: str) -> None:
        self._parts.append(text)
        self.size += len(text)

    def take(self) -> bytes:
        data = "".join(self._parts).encode("utf-8")
        self._parts, self.size = [], 0
        return data
