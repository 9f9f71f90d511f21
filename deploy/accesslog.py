"""gunicorn's access log, written by a thread of its own in each worker.

gunicorn writes each access line in the request's thread, through the handler's lock, with a
write() (and a flush) under it. With a worker's threads all busy, they queued on that lock: at
256 clients against `make run`, threads waiting in the handler's lock were 6-8% of py-spy's
samples (under 1% at 16), and the workers' CPU per request grew by 20% from 16 to 256 clients
with the access log on, 9% without it. Here a request thread only takes its line's fields and
hands them over; one writer thread per worker formats and writes them through the same
handlers, so `accesslog`, `logconfig_dict`, syslog and USR1's reopen work as before.

The hand-over never blocks a request: the queue holds at most `BACKLOG_LINES` lines, and lines
beyond it (a log output that stopped taking them: a paused terminal, a full pipe) are dropped
and counted; the writer then says at ERROR how many it dropped. A stopping worker gives its
writer `FLUSH_SECONDS` to write what is queued (deploy/gunicorn.conf.py, worker_exit).
"""

import os
import queue
import threading
from typing import Any

from gunicorn.glogging import Logger

BACKLOG_LINES = 10_000
FLUSH_SECONDS = 2.0
# A queued line: the format and the fields gunicorn would have passed to access_log.info().
_Line = tuple[str, dict[str, Any]]
_STOP = None
_PLAIN = (str, int, float)


class BackgroundAccessLogger(Logger):
    """gunicorn's Logger, with access lines handed to a writer thread started in each worker."""

    def __init__(self, cfg: Any) -> None:
        self._forget_writer()
        super().__init__(cfg)
        # A worker is a fork of the master: the master's queue and writer (if any) are not its.
        os.register_at_fork(after_in_child=self._forget_writer)

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        if not self.access_log_enabled:
            return
        # The fields are taken now, and only plain values: a queued line must not keep the
        # request's socket, body or file alive (the `{...}e` atoms bring the whole environ).
        atoms = self.atoms_wrapper_class(
            {
                name: value
                for name, value in self.atoms(resp, req, environ, request_time).items()
                if value is None or isinstance(value, _PLAIN)
            }
        )
        if self._writer is None:
            self._start_writer()
        if self._lines.qsize() >= BACKLOG_LINES:
            with self._dropped_lock:
                self._dropped += 1
            return
        self._lines.put((self.cfg.access_log_format, atoms))

    @property
    def backlog(self) -> int:
        """Lines handed over and not yet written."""
        return self._lines.qsize()

    @property
    def dropped(self) -> int:
        """Lines dropped because the backlog was full, and not yet reported."""
        return self._dropped

    def stop_access_log(self) -> None:
        """Ask the writer to write what is queued and stop, without waiting for it."""
        if self._writer is not None:
            self._lines.put(_STOP)

    def flush_access_log(self, timeout: float = FLUSH_SECONDS) -> bool:
        """Write what is queued and stop the writer, waiting `timeout` seconds at most: for a
        stopping worker. True when every line was written (or nothing was ever queued)."""
        writer = self._writer
        if writer is None:
            return True
        self.stop_access_log()
        writer.join(timeout)
        return not writer.is_alive()

    def _forget_writer(self) -> None:
        self._lines: queue.SimpleQueue[_Line | None] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._writer_lock = threading.Lock()
        self._dropped = 0
        self._dropped_lock = threading.Lock()

    def _start_writer(self) -> None:
        with self._writer_lock:
            if self._writer is None:
                writer = threading.Thread(
                    target=self._write_lines, name="gunicorn-access-log", daemon=True
                )
                writer.start()
                self._writer = writer

    def _write_lines(self) -> None:
        while True:
            line = self._lines.get()
            if line is _STOP:
                self._report_dropped()
                return
            access_format, atoms = line
            try:
                self.access_log.info(access_format, atoms)
            except Exception:
                self.exception("Writing an access log line failed")
            if self._dropped and self._lines.empty():
                self._report_dropped()

    def _report_dropped(self) -> None:
        with self._dropped_lock:
            dropped, self._dropped = self._dropped, 0
        if dropped:
            self.error(
                "%d access log lines were dropped: the log's output did not take them as fast "
                "as requests were answered, and %d lines were already waiting",
                dropped,
                BACKLOG_LINES,
            )
