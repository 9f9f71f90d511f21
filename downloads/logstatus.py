"""The download log writer's backlog, visible to an operator across processes.

Each process's writer (logwriter.py) writes its counters every few seconds, and when it stops, to
`<DOWNLOADS_LOG_STATUS_DIR>/<pid>.json`; `manage.py download_log_status` reads them all. Why
files, and not a table or a cache: the status matters most when the database is what is failing,
and the app needs nothing but its database and storage. Each file is replaced atomically
(written beside it, then renamed), so a reader never sees half of one.
"""

import json
import logging
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from downloads.conf import app_settings

logger = logging.getLogger(__name__)


@dataclass
class WriterStatus:
    pid: int = field(default_factory=os.getpid)
    # Rows waiting in the queue when the status was written (zip members count per request).
    queued: int = 0
    written: int = 0
    # Rows a request could not hand over within DOWNLOADS_LOG_SUBMIT_TIMEOUT_MS (logged at ERROR).
    overflowed: int = 0
    # Rows the database refused for good, or that stayed unwritten past the retry bound.
    unwritable: int = 0
    last_error: str = ""
    last_error_at: float | None = None
    last_write_at: float | None = None
    started_at: float = field(default_factory=time.time)
    updated_at: float = 0.0
    # True once the writer has stopped (the process is exiting).
    stopped: bool = False


def status_dir() -> Path:
    return Path(app_settings().log_status_dir)


def publish_status(status: WriterStatus) -> None:
    """Write `status` as this process's file; a failure is logged, never raised."""
    status.updated_at = time.time()
    try:
        # Read each time (tests move it); a DOWNLOADS_* value made bad after start (only
        # override_settings can) must not end the writer's thread.
        directory = status_dir()
    except ImproperlyConfigured as error:
        logger.warning("Download log: cannot write the writer's status: %s", error)
        return
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=directory, prefix=".status-", suffix=".tmp")
        with os.fdopen(fd, "w") as out:
            json.dump(asdict(status), out)
        os.replace(temporary, directory / f"{status.pid}.json")
    except OSError as error:
        logger.warning("Download log: cannot write the writer's status in %s: %s", directory, error)


# The file of a process that has exited is kept this long (its last counters), then removed by
# the next writer to start, so restarted workers do not pile up files.
KEEP_EXITED_SECONDS = 7 * 24 * 3600


def prune_exited(directory: Path | None = None) -> None:
    cutoff = time.time() - KEEP_EXITED_SECONDS
    for status in read_statuses(directory):
        updated = status.get("updated_at")
        if not status["alive"] and isinstance(updated, int | float) and updated < cutoff:
            (directory or status_dir()).joinpath(f"{status['pid']}.json").unlink(missing_ok=True)


def read_statuses(directory: Path | None = None) -> list[dict[str, object]]:
    """Every process's last status, by process id, each with `alive` added."""
    found: list[dict[str, object]] = []
    for path in sorted((directory or status_dir()).glob("*.json")):
        try:
            status = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(status, dict) and isinstance(status.get("pid"), int):
            status["alive"] = _alive(status["pid"]) and not status.get("stopped")
            found.append(status)
    return sorted(found, key=lambda status: str(status.get("pid")).zfill(12))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
