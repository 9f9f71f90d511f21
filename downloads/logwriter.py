"""The download log's writer: a row leaves the request at once and reaches the database in a batch.

Why not one INSERT per download, in the request: the bytes would wait for it, and on SQLite every
INSERT takes the database's one write lock. Sixteen request threads each committing their own row
queue up on that lock, and SQLite's busy handler sleeps longer after each failed try, so the
slowest downloads waited on the log, not on their bytes (README, Performance). Here each process
has one writer thread that commits whatever has queued up since its last write, in one transaction
(one INSERT, executemany): no timer, so a lone download is written within milliseconds and a
busy second becomes a few batches.

What it promises, and what it never does:
- A request waits for the log at most DOWNLOADS_LOG_SUBMIT_TIMEOUT_MS (the queue is bounded by
  MAX_QUEUED). A row that finds the queue full is logged at ERROR with all its fields and
  counted as overflowed: a stuck database slows nothing down and fills no memory.
- A row the database refuses for good (DataError, IntegrityError, ProgrammingError: a bad value,
  a broken constraint) is never retried: the batch is written row by row, so only the bad rows
  are lost, each logged at ERROR with all its fields and counted as unwritable. A row whose file
  or user was deleted meanwhile is kept without that link, as SET_NULL would have done.
- A database that is down, restarting or locked (OperationalError) is retried with back-off for
  at most DOWNLOADS_LOG_RETRY_SECONDS per batch (less once stopping); then the
  batch is logged at ERROR and counted. Never forever.
- Every STATUS_INTERVAL_SECONDS, and at stop, the writer writes its counters to
  `<DOWNLOADS_LOG_STATUS_DIR>/<pid>.json` (logstatus.py); `manage.py download_log_status`
  prints every process's.
- `stop()` writes what is queued within a deadline: gunicorn's worker_exit hook calls it
  (deploy/gunicorn.conf.py), `atexit` too. Only a process killed outright loses what it queued.

Rows handed over inside a transaction (the test suite) go through the same code in that
transaction, in savepoints, once, without retries: they commit or roll back with it. A
download's row comes from the response's close(), after the request has ended, and the
download views are exempt from ATOMIC_REQUESTS, so a denied request's row never rolls back with
its 404.
"""

import atexit
import itertools
import logging
import os
import queue
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.db import (
    DatabaseError,
    IntegrityError,
    OperationalError,
    close_old_connections,
    connections,
    router,
    transaction,
)

from downloads.conf import app_settings
from downloads.logstatus import WriterStatus, prune_exited, publish_status
from downloads.models import DownloadLog, StoredFile

logger = logging.getLogger(__name__)

MAX_QUEUED = 10_000
MAX_BATCH = 1_000
# Waits between tries while the database is unavailable; the last one repeats until the bound.
BACKOFF_SECONDS = (0.05, 0.2, 1.0, 5.0)
# How long a stopping writer may take in all: past it, what is still queued is logged at ERROR
# instead of written. Short enough that gunicorn's worker_exit hook ends before graceful_timeout's
# SIGKILL (30 s) even when one last database call hangs until its own timeout.
EXIT_DEADLINE_SECONDS = 10.0
STATUS_INTERVAL_SECONDS = 5.0
# A PostgreSQL statement (a lock wait included) that takes longer is cancelled and retried, so a
# locked table cannot hold the writer without a deadline.
PG_STATEMENT_TIMEOUT_MS = 10_000

# Errors that say "not now": the server is down, restarting, or the table is locked.
TRANSIENT = (OperationalError,)


@dataclass
class LogWriter:
    max_queued: int = MAX_QUEUED
    max_batch: int = MAX_BATCH
    # None: the settings' values, read when used (tests override them).
    submit_timeout: float | None = None
    retry_seconds: float | None = None
    _queue: "queue.Queue[list[DownloadLog] | None]" = field(init=False)
    _thread: threading.Thread | None = field(default=None, init=False)
    _pid: int | None = field(default=None, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _stopping: bool = field(default=False, init=False)
    _stop_by: float = field(default=0.0, init=False)
    _count_lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    status: WriterStatus = field(default_factory=WriterStatus, init=False)
    _next_publish: float = field(default=0.0, init=False)

    def submit(self, rows: DownloadLog | Sequence[DownloadLog]) -> None:
        """Hand `rows` to the writer; waits at most the submit timeout, never fails the request."""
        batch = [rows] if isinstance(rows, DownloadLog) else list(rows)
        if not batch:
            return
        if _in_callers_transaction():
            self._write_in_transaction(batch)
            return
        self._ensure_started()
        try:
            self._queue.put(batch, timeout=self._submit_timeout())
        except queue.Full:
            with self._count_lock:
                self.status.overflowed += len(batch)
            for row in batch:
                _log_unwritten(row, "the writer's queue is full")

    def flush(self) -> None:
        """Return once every row submitted so far is written (or logged as unwritable)."""
        if self._running():
            self._queue.join()

    def stop(self, deadline_seconds: float = EXIT_DEADLINE_SECONDS) -> None:
        """Write what is queued within `deadline_seconds` and end the thread; rows still unwritten
        then are logged at ERROR. gunicorn's worker_exit hook and `atexit`; also for tests."""
        with self._lock:
            if not self._running():
                return
            assert self._thread is not None
            self._stop_by = time.monotonic() + deadline_seconds
            self._stopping = True
            self._queue.put(None)
            # One database call may outlive the deadline (SQLite's busy timeout, PostgreSQL's
            # statement timeout); a thread stuck past that is left behind, its queue logged.
            self._thread.join(timeout=deadline_seconds + PG_STATEMENT_TIMEOUT_MS / 1000)
            if self._thread.is_alive():
                self._give_up_queued()
            self._thread = None
            self._stopping = False

    def _give_up_queued(self) -> None:
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is not None:
                self._unwritable(item, "the writer did not finish before the process exits")

    def queued(self) -> int:
        return self._queue.qsize() if self._running() else 0

    def _submit_timeout(self) -> float:
        if self.submit_timeout is not None:
            return self.submit_timeout
        return float(app_settings().log_submit_timeout_ms) / 1000

    def _give_up_at(self, started: float) -> float:
        """When a batch first refused at `started` stops being retried."""
        retry = self.retry_seconds
        if retry is None:
            retry = float(app_settings().log_retry_seconds)
        if self._stopping:
            return min(started + retry, self._stop_by)
        return started + retry

    def _running(self) -> bool:
        return self._thread is not None and self._pid == os.getpid()

    def _ensure_started(self) -> None:
        if self._running():
            return
        with self._lock:
            if self._running():
                return
            # A fresh queue, thread and counters per process: a forked worker (gunicorn
            # --preload) has neither its parent's thread nor a safe copy of its queue's locks.
            self._queue = queue.Queue(maxsize=self.max_queued)
            self._pid = os.getpid()
            self.status = WriterStatus(pid=self._pid)
            _open_pools()
            self._thread = threading.Thread(
                target=self._run, name="download-log-writer", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        prune_exited()
        try:
            stop = False
            while not stop:
                items, stop = self._next_batch()
                rows = [row for item in items for row in item]
                try:
                    self._write(rows)
                except Exception as error:
                    # Never let the thread die: requests would wait on a queue nobody empties.
                    logger.exception("Download log: writing %d rows failed", len(rows))
                    self._unwritable(rows, repr(error))
                for _ in range(len(items) + stop):
                    self._queue.task_done()
                self._publish(force=stop)
        finally:
            _close_connections()

    def _next_batch(self) -> tuple[list[list[DownloadLog]], bool]:
        """Whatever has queued up, waiting only for the first item; True at the stop mark."""
        while True:
            try:
                first = self._queue.get(timeout=STATUS_INTERVAL_SECONDS)
                break
            except queue.Empty:
                self._publish()
        if first is None:
            return [], True
        items = [first]
        count = len(first)
        while count < self.max_batch:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                return items, True
            items.append(item)
            count += len(item)
        return items, False

    def _write(self, rows: list[DownloadLog]) -> None:
        """Write `rows`, isolating the ones refused for good; retry the database's "not now"
        for a bounded time, then give the rest up as unwritable."""
        waits = itertools.chain(BACKOFF_SECONDS, itertools.repeat(BACKOFF_SECONDS[-1]))
        pending = list(rows)
        started = time.monotonic()
        while pending:
            if self._stopping and time.monotonic() >= self._stop_by:
                self._unwritable(pending, "the process is exiting and its deadline has passed")
                return
            close_old_connections()
            try:
                self._write_now(pending)
                # With a pool (project/database.py), the connection goes back between batches
                # instead of staying with this thread; a persistent one stays open.
                close_old_connections()
                return
            except TRANSIENT as error:
                self._note_error(error)
                logger.warning(
                    "Download log: the database cannot take %d rows now (%s); retrying",
                    len(pending),
                    error,
                )
                _close_connections()
            wait = next(waits)
            if time.monotonic() + wait > self._give_up_at(started):
                self._unwritable(pending, self.status.last_error)
                return
            self._publish()
            time.sleep(wait)

    def _write_now(self, pending: list[DownloadLog], *, own_transaction: bool = True) -> None:
        """One INSERT for all; if the database refuses it for good, one row at a time. Rows
        written (or given up) leave `pending`; a transient error leaves the rest in it."""
        try:
            with transaction.atomic(using=_database()):
                if own_transaction:
                    # Not in the caller's: SET LOCAL would outlive the savepoint.
                    _limit_statement_time()
                _insert_many(pending)
        except TRANSIENT:
            raise
        except Exception as error:  # any refusal of the batch: find the bad rows
            self._note_error(error)
            while pending:
                self._write_one(pending[0])
                pending.pop(0)
            return
        self._written(len(pending))
        pending.clear()

    def _write_one(self, row: DownloadLog) -> None:
        try:
            if _insert(row):
                self._written(1)
                return
            _drop_missing_links(row)
            if _insert(row):
                self._written(1)
                return
            reason = "the database refused it (integrity)"
        except TRANSIENT:
            raise
        except Exception as error:  # DataError, ProgrammingError, a bad value
            self._note_error(error)
            reason = f"the database refused it: {error}"
        self._unwritable([row], reason)

    def _write_in_transaction(self, rows: list[DownloadLog]) -> None:
        pending = list(rows)
        try:
            self._write_now(pending, own_transaction=False)
        except DatabaseError as error:
            # No retry: the caller's transaction cannot wait for the database to come back.
            self._note_error(error)
            self._unwritable(pending, str(error))

    def _written(self, count: int) -> None:
        self.status.written += count
        self.status.last_write_at = time.time()

    def _unwritable(self, rows: Iterable[DownloadLog], reason: str) -> None:
        for row in rows:
            self.status.unwritable += 1
            _log_unwritten(row, reason)

    def _note_error(self, error: BaseException) -> None:
        self.status.last_error = f"{type(error).__name__}: {error}"[:500]
        self.status.last_error_at = time.time()

    def _publish(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now < self._next_publish:
            return
        self._next_publish = now + STATUS_INTERVAL_SECONDS
        self.status.queued = self.queued()
        self.status.stopped = force and self._stopping
        publish_status(self.status)


def _in_callers_transaction() -> bool:
    return transaction.get_connection(_database()).in_atomic_block


def _database() -> str:
    return router.db_for_write(DownloadLog)


def _limit_statement_time() -> None:
    connection = connections[_database()]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL statement_timeout = {PG_STATEMENT_TIMEOUT_MS}")


def _insert_many(rows: list[DownloadLog]) -> None:
    """One INSERT run for every row (executemany), its values prepared as the ORM prepares them
    (`pre_save`, `get_db_prep_save`). `bulk_create` sends the same, but assembles its SQL anew
    for every batch, which showed in profiles of a busy worker (README, Performance)."""
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
        for row in in_lock_order(rows)
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def in_lock_order(rows: Iterable[DownloadLog]) -> list[DownloadLog]:
    """`rows` in the order deleting files locks them: by file id (Django's deletion sorts
    instances by primary key; downloads/signals.py locks each file's counter there). Each
    insert locks its file's counter row (a trigger) until the batch commits; in any other order,
    a batch holding one file's counter and waiting for another's could meet a delete of both
    holding the second and waiting for the first, and PostgreSQL would fail one of the two."""
    return sorted(rows, key=lambda row: (row.file_id is not None, _uuid_int(row.file_id)))


def _uuid_int(value: object) -> int:
    # PostgreSQL orders uuids by their bytes, as this number does.
    return 0 if value is None else uuid.UUID(str(value)).int


def _open_pools() -> None:
    """Open the database's connection pool (project/database.py) now, while threads may still
    start: a pool opens by starting its worker threads, which Python 3.12+ refuses once the
    interpreter is exiting, and the rows still queued at exit are written from `atexit`."""
    database = connections[_database()]
    pool = getattr(database, "pool", None)
    if pool is not None:
        pool.open()


def _close_connections() -> None:
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close()


def _insert(row: DownloadLog) -> bool:
    """True once written; False if the database refused it as an integrity error."""
    # A failed save may have handed out an id that its rollback took back.
    row.pk = None
    row._state.adding = True
    own_transaction = not connections[_database()].in_atomic_block
    try:
        with transaction.atomic(using=_database()):
            if own_transaction:
                _limit_statement_time()
            row.save(force_insert=True)
    except IntegrityError:
        return False
    return True


def _drop_missing_links(row: DownloadLog) -> None:
    """The file or user a row names may have been deleted since: keep the row without them."""
    user_model = DownloadLog._meta.get_field("user").related_model
    if row.file_id is not None and not StoredFile.objects.filter(pk=row.file_id).exists():
        row.file = None
    if row.user_id is not None and not user_model._default_manager.filter(pk=row.user_id).exists():
        row.user = None


def _log_unwritten(row: DownloadLog, reason: str) -> None:
    logger.error(
        "Download log row not written (%s): at=%s file_id=%s file_name=%r user_id=%s ip=%s "
        "status=%s range=%r bytes_sent=%s bytes_planned=%s outcome=%s requested_id=%s "
        "delivery=%s",
        reason,
        row.at.isoformat() if row.at else None,
        row.file_id,
        row.file_name,
        row.user_id,
        row.ip,
        row.status,
        row.range,
        row.bytes_sent,
        row.bytes_planned,
        row.outcome,
        row.requested_id,
        row.delivery,
    )


WRITER = LogWriter()
atexit.register(WRITER.stop)
