"""The download log's retention: old rows archived to storage as compressed CSV, then deleted.

A run works in batches of consecutive ids. Each batch (at most `batch_size` rows older than the
cutoff, in id order) is:

1. written to storage as `log-archive/downloadlog-<first id>-<last id>.csv.gz`, all or nothing
   (archivestore.py), and read back: the bytes must be the ones written and parse to exactly
   the batch's ids;
2. only then deleted from the table, by id, in one short transaction.

Interrupted anywhere (killed, storage or database down), a run leaves every row either still in
the table or in a verified archive, possibly both: killed between 1 and 2. The next run first
finishes such archives — for each archive whose id range still has rows, the rows named in it
are deleted — so a row is never archived twice, and no archived row is deleted before its
archive was read back whole. First and last ids are rows of the archive, and an id is never
reused, so a new batch can never take the name of an existing archive.

Archives are kept under ARCHIVE_FOLDER in the app's storage (MEDIA_ROOT or the bucket), which
no URL serves; nothing here ever deletes or overwrites one. CSV without a byte order mark, a
header row, times in UTC (ISO 8601), cells exactly as stored (no spreadsheet escaping: this is
the record).
"""

import csv
import gzip
import hashlib
import io
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.core.files.storage import Storage
from django.db import transaction
from django.utils import timezone

from downloads.archivestore import PARTIAL_SUFFIX, list_names, read_whole, write_whole
from downloads.models import DownloadLog

ARCHIVE_FOLDER = "log-archive"
_ARCHIVE_NAME = re.compile(r"downloadlog-(\d{12})-(\d{12})\.csv\.gz")
DEFAULT_BATCH_SIZE = 5000
IDS_PER_STATEMENT = 900
# A temporary file of a local write older than this was left by a run that was killed.
_STALE_PARTIAL = timedelta(hours=1)

# (CSV header, DownloadLog.values() field): the row as stored, plus the user's name, which a
# user_id alone no longer tells once the user is deleted.
COLUMNS: list[tuple[str, str]] = [
    ("id", "pk"),
    ("at", "at"),
    ("file_id", "file_id"),
    ("file_name", "file_name"),
    ("user_id", "user_id"),
    ("username", "user__username"),
    ("ip", "ip"),
    ("status", "status"),
    ("range", "range"),
    ("bytes_sent", "bytes_sent"),
    ("bytes_planned", "bytes_planned"),
    ("outcome", "outcome"),
    ("requested_id", "requested_id"),
    ("delivery", "delivery"),
]


class DamagedArchive(Exception):
    """An archive under its final name that cannot be read: never overwritten, never guessed."""


def archive_name(first_id: int, last_id: int) -> str:
    return f"{ARCHIVE_FOLDER}/downloadlog-{first_id:012d}-{last_id:012d}.csv.gz"


@dataclass(frozen=True)
class ArchivedRange:
    name: str
    first_id: int
    last_id: int


def existing_archives(storage: Storage) -> list[ArchivedRange]:
    found = []
    for name in list_names(storage, ARCHIVE_FOLDER):
        match = _ARCHIVE_NAME.fullmatch(name)
        if match:
            first, last = int(match[1]), int(match[2])
            found.append(ArchivedRange(f"{ARCHIVE_FOLDER}/{name}", first, last))
    return sorted(found, key=lambda archive: archive.first_id)


def remove_stale_partials(storage: Storage) -> None:
    """Temporary files of local writes killed more than an hour ago (never a running one's)."""
    limit = timezone.now() - _STALE_PARTIAL
    for name in list_names(storage, ARCHIVE_FOLDER):
        if name.startswith(".") and name.endswith(PARTIAL_SUFFIX):
            path = f"{ARCHIVE_FOLDER}/{name}"
            if storage.get_modified_time(path) < limit:
                storage.delete(path)


# --- one archive's bytes ---------------------------------------------------------------------


def _cell(value: object) -> object:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return "" if value is None else value


def archive_bytes(rows: Iterable[dict[str, object]]) -> bytes:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow([header for header, _ in COLUMNS])
    for row in rows:
        writer.writerow([_cell(row[field]) for _, field in COLUMNS])
    # mtime 0: the same rows always make the same bytes.
    return gzip.compress(text.getvalue().encode("utf-8"), compresslevel=6, mtime=0)


def archived_ids(data: bytes) -> list[int]:
    """The ids in an archive's bytes; DamagedArchive when they do not parse as one."""
    try:
        lines = io.StringIO(gzip.decompress(data).decode("utf-8"))
        reader = csv.reader(lines)
        header = next(reader)
        if header != [name for name, _ in COLUMNS]:
            raise DamagedArchive("unexpected header")
        return [int(row[0]) for row in reader]
    except (OSError, EOFError, UnicodeDecodeError, ValueError, IndexError, StopIteration) as error:
        raise DamagedArchive(str(error) or type(error).__name__) from error


# --- a run -------------------------------------------------------------------------------------


@dataclass
class LogPruneResult:
    rows_archived: int = 0
    rows_deleted: int = 0
    archives_written: int = 0
    # Rows found in an archive of an interrupted run and deleted now.
    rows_finished: int = 0


# Called after each batch with the result so far.
OnBatch = Callable[[LogPruneResult], None]


def rows_older_than(cutoff: datetime) -> int:
    return DownloadLog.objects.filter(at__lt=cutoff).count()


def finish_interrupted(storage: Storage, result: LogPruneResult) -> None:
    """Delete the rows still in the table that an earlier run archived but did not delete."""
    first_row = DownloadLog.objects.order_by("pk").values_list("pk", flat=True).first()
    if first_row is None:
        return
    for archive in existing_archives(storage):
        if archive.last_id < first_row:
            continue  # every row of it is gone: the usual case, no query
        in_range = DownloadLog.objects.filter(pk__range=(archive.first_id, archive.last_id))
        if not in_range.exists():
            continue
        try:
            ids = archived_ids(read_whole(storage, archive.name))
        except DamagedArchive as error:
            raise DamagedArchive(
                f"{archive.name} cannot be read ({error}); rows {archive.first_id}-"
                f"{archive.last_id} still in the table may be in it. Nothing was deleted. Move "
                "the archive aside (keep it) and run again to archive those rows anew."
            ) from error
        result.rows_finished += delete_archived_rows(ids)


def prune_log(
    storage: Storage,
    cutoff: datetime,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_batch: OnBatch | None = None,
) -> LogPruneResult:
    """Archive, then delete, every row older than `cutoff`; see the module's docstring."""
    result = LogPruneResult()
    remove_stale_partials(storage)
    finish_interrupted(storage, result)
    after = 0
    while rows := next_batch(cutoff, after, batch_size):
        ids = [int(row["pk"]) for row in rows]  # type: ignore[call-overload]
        write_archive(storage, ids, archive_bytes(rows))
        result.archives_written += 1
        result.rows_archived += len(ids)
        result.rows_deleted += delete_archived_rows(ids)
        after = ids[-1]
        if on_batch:
            on_batch(result)
    return result


def next_batch(cutoff: datetime, after: int, batch_size: int) -> list[dict[str, object]]:
    """The next rows older than `cutoff` with ids above `after`, in id order."""
    rows = DownloadLog.objects.filter(at__lt=cutoff, pk__gt=after).order_by("pk")
    return list(rows.values(*(field for _, field in COLUMNS))[:batch_size])


def write_archive(storage: Storage, ids: list[int], data: bytes) -> str:
    """Write one batch's archive and read it back; raise unless it is whole."""
    name = archive_name(ids[0], ids[-1])
    if storage.exists(name):
        # Never after finish_interrupted() in one run at a time: the ids were reused (a
        # database restored or flushed) or another prune is running. Nothing replaces a record.
        raise DamagedArchive(
            f"{name} exists already, for rows still in the table that it does not hold "
            "(another prune running, or ids reused). Nothing was deleted."
        )
    write_whole(storage, name, data, content_type="application/gzip")
    back = read_whole(storage, name)
    if hashlib.sha256(back).digest() != hashlib.sha256(data).digest():
        raise DamagedArchive(f"{name} read back differs from what was written")
    if archived_ids(back) != ids:
        raise DamagedArchive(f"{name} read back does not hold the batch's rows")
    return name


def delete_archived_rows(ids: list[int]) -> int:
    """Delete rows whose archive was read back whole: one short transaction per batch."""
    deleted = 0
    with transaction.atomic():
        # In statements of at most IDS_PER_STATEMENT ids: SQLite before 3.32 takes 999
        # parameters at most. One transaction still: the batch goes whole or not at all.
        for start in range(0, len(ids), IDS_PER_STATEMENT):
            chunk = ids[start : start + IDS_PER_STATEMENT]
            deleted += DownloadLog.objects.filter(pk__in=chunk).delete()[0]
    return deleted
