"""The download log's writer: a row leaves the request at once and reaches the database in a batch.

Why not one INSERT per download, in the request: the bytes would wait for it, and on SQLite every
INSERT takes the database's one write lock. Sixteen request threads each committing their own row
queue up on that lock, and SQLite's busy handler sleeps 1, 2, 5, 10 ms... between tries: under
`make bench` 1 KiB downloads reached 250 requests/s with a p99 of 1.6 s. Here each process has
one writer thread that commits whatever has queued up since its last write, in one transaction
(one INSERT, executemany): no timer, so a lone download is written within milliseconds and a
busy second becomes a few batches.

Rows are not dropped:
- the queue is bounded (MAX_QUEUED): a stuck database slows requests down rather than fill
  memory;
- a database error is retried with back-off while the process runs;
- at a normal exit (gunicorn's graceful stop, the end of a management command) `atexit` writes
  what is queued; a row that still cannot be written is logged with all its fields at ERROR;
- a row whose file or user was deleted in the meantime is kept without that link, as the
  foreign keys' SET_NULL would have done.
Only a process killed outright (SIGKILL) loses the rows of its last few milliseconds.

A download inside a transaction (ATOMIC_REQUESTS, the test suite) writes its row in that
transaction instead (`log_download`), so the row commits or rolls back with the request.
"""

import atexit
import itertools
import logging
import os
import queue
import threading
import time
from dataclasses import dataclass, field

from django.db import (
    DatabaseError,
    IntegrityError,
    close_old_connections,
    connections,
    router,
    transaction,
)

from downloads.models import DownloadLog, StoredFile

logger = logging.getLogger(__name__)

MAX_QUEUED = 10_000
MAX_BATCH = 1_000
# Waits between tries while the database refuses; the last one repeats.
BACKOFF_SECONDS = (0.05, 0.2, 1.0, 5.0)
# How long the exit waits for a refusing database before it logs the rows instead.
EXIT_DEADLINE_SECONDS = 10.0


@dataclass
class LogWriter:
    max_queued: int = MAX_QUEUED
    max_batch: int = MAX_BATCH
    _queue: "queue.Queue[DownloadLog | None]" = field(init=False)
    _thread: threading.Thread | None = field(default=None, init=False)
    _pid: int | None = field(default=None, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _stopping: bool = field(default=False, init=False)

    def submit(self, row: DownloadLog) -> None:
        """Queue `row` for the writer; blocks only while MAX_QUEUED rows are waiting."""
        self._ensure_started()
        self._queue.put(row)

    def flush(self) -> None:
        """Return once every row submitted so far is written (or logged as unwritable)."""
        if self._running():
            self._queue.join()

    def stop(self) -> None:
        """Write what is queued and end the thread: the exit hook, also for tests."""
        with self._lock:
            if not self._running():
                return
            assert self._thread is not None
            self._stopping = True
            self._queue.put(None)
            self._thread.join()
            self._thread = None
            self._stopping = False

    def _running(self) -> bool:
        return self._thread is not None and self._pid == os.getpid()

    def _ensure_started(self) -> None:
        if self._running():
            return
        with self._lock:
            if self._running():
                return
            # A fresh queue and thread per process: a forked worker (gunicorn --preload) has
            # neither its parent's thread nor a safe copy of its parent's queue locks.
            self._queue = queue.Queue(maxsize=self.max_queued)
            self._pid = os.getpid()
            self._thread = threading.Thread(
                target=self._run, name="download-log-writer", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        try:
            stop = False
            while not stop:
                rows, stop = self._next_batch()
                try:
                    self._write(rows)
                except Exception:
                    # Never let the thread die: requests would wait on a queue nobody empties.
                    logger.exception("Download log: writing %d rows failed", len(rows))
                    for row in rows:
                        _log_unwritten(row)
                for _ in range(len(rows) + stop):
                    self._queue.task_done()
        finally:
            _close_connections()

    def _next_batch(self) -> tuple[list[DownloadLog], bool]:
        """Whatever has queued up, waiting only for the first row; True at the stop mark."""
        first = self._queue.get()
        if first is None:
            return [], True
        rows = [first]
        while len(rows) < self.max_batch:
            try:
                row = self._queue.get_nowait()
            except queue.Empty:
                break
            if row is None:
                return rows, True
            rows.append(row)
        return rows, False

    def _write(self, rows: list[DownloadLog]) -> None:
        waits = itertools.chain(BACKOFF_SECONDS, itertools.repeat(BACKOFF_SECONDS[-1]))
        give_up_at: float | None = None
        while rows:
            close_old_connections()
            try:
                with transaction.atomic(using=_database()):
                    _insert_many(rows)
                return
            except IntegrityError:
                _write_each(rows)
                return
            except DatabaseError:
                logger.warning("Download log: the database refused %d rows; retrying", len(rows))
                _close_connections()
            if self._stopping:
                give_up_at = give_up_at or time.monotonic() + EXIT_DEADLINE_SECONDS
                if time.monotonic() > give_up_at:
                    for row in rows:
                        _log_unwritten(row)
                    return
            time.sleep(next(waits))


def _database() -> str:
    return router.db_for_write(DownloadLog)


def _insert_many(rows: list[DownloadLog]) -> None:
    """One INSERT run for every row (executemany), its values prepared as the ORM prepares them
    (`pre_save`, `get_db_prep_save`). `bulk_create` sends the same, but assembles its SQL anew
    for every batch: 11% of a worker's CPU under `make bench` with 1 KiB downloads."""
    connection = connections[_database()]
    fields = [field for field in DownloadLog._meta.concrete_fields if not field.primary_key]
    columns = [field.column for field in fields]
    quote = connection.ops.quote_name
    # Names from the model's own metadata, quoted by the backend; values are parameters.
    sql = "INSERT INTO {} ({}) VALUES ({})".format(  # noqa: S608
        quote(DownloadLog._meta.db_table),
        ", ".join(quote(column) for column in columns if column),
        ", ".join(["%s"] * len(fields)),
    )
    params = [
        [field.get_db_prep_save(field.pre_save(row, True), connection) for field in fields]
        for row in rows
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def _close_connections() -> None:
    for connection in connections.all(initialized_only=True):
        connection.close()


def _insert(row: DownloadLog) -> bool:
    # A failed save may have handed out an id that its rollback took back.
    row.pk = None
    row._state.adding = True
    try:
        with transaction.atomic(using=_database()):
            row.save(force_insert=True)
    except IntegrityError:
        return False
    return True


def _write_each(rows: list[DownloadLog]) -> None:
    """One row at a time, each without the links that no longer exist."""
    user_model = DownloadLog._meta.get_field("user").related_model
    for row in rows:
        if _insert(row):
            continue
        if row.file_id is not None and not StoredFile.objects.filter(pk=row.file_id).exists():
            row.file = None
        if (
            row.user_id is not None
            and not user_model._default_manager.filter(pk=row.user_id).exists()
        ):
            row.user = None
        if not _insert(row):
            _log_unwritten(row)


def _log_unwritten(row: DownloadLog) -> None:
    logger.error(
        "Download log row not written: at=%s file_id=%s file_name=%r user_id=%s ip=%s "
        "status=%s range=%r bytes_sent=%s delivery=%s",
        row.at.isoformat(),
        row.file_id,
        row.file_name,
        row.user_id,
        row.ip,
        row.status,
        row.range,
        row.bytes_sent,
        row.delivery,
    )


WRITER = LogWriter()
atexit.register(WRITER.stop)
