"""A server process we started: its own process group on a free loopback port, with a log.

Every wait has a deadline: a server that exits or does not listen in time is stopped and the
error carries the end of its log, which is where the reason is.
"""

import os
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness.procfs import process_tree

ROOT = Path(__file__).resolve().parent.parent
# Long enough for a gunicorn to import Django on a machine busy with other test runs.
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
LOG_TAIL_LINES = 30


class ServerFailed(RuntimeError):
    """A server did not start: it exited, or nothing listened on its port before the deadline."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def log_tail(path: Path | None, lines: int = LOG_TAIL_LINES) -> str:
    if path is None or not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) or "(empty log)"


def wait_for_port(
    port: int,
    process: subprocess.Popen[bytes],
    timeout: float = START_TIMEOUT,
    log_path: Path | None = None,
) -> None:
    """Returns once something accepts connections on the loopback `port`; raises ServerFailed
    if `process` exits first or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerFailed(
                f"{process.args!r} exited with {process.returncode} before listening on "
                f"{port}; its log ends:\n{log_tail(log_path)}"
            )
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise ServerFailed(
        f"nothing listens on port {port} after {timeout:g} s ({process.args!r}); "
        f"its log ends:\n{log_tail(log_path)}"
    )


@dataclass(kw_only=True)
class Server:
    """A process group we started: a command, its port, its log. Stopped by its own id."""

    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    start_timeout: float = START_TIMEOUT

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def launch(
        self, command: Sequence[str], log_path: Path, env: dict[str, str] | None = None
    ) -> None:
        """Start `command` in a process group of its own and wait until it listens on `port`."""
        self.log_path = log_path
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                list(command),
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.wait_for(self.port)

    def wait_for(self, port: int) -> None:
        """Wait for this server to listen on `port` too; on failure it is stopped."""
        assert self.process is not None
        try:
            wait_for_port(port, self.process, self.start_timeout, self.log_path)
        except BaseException:  # a deadline, or Ctrl-C: nobody else knows of it yet to stop it
            self.stop()
            raise

    def pids(self) -> list[int]:
        """The main process and its descendants (a master and its workers)."""
        assert self.process is not None
        return process_tree(self.process.pid)

    def worker_pids(self) -> list[int]:
        return self.pids()[1:]

    def log(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM to the group; SIGKILL if it has not exited after `timeout` seconds."""
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=timeout)
        except ProcessLookupError:  # the group ended between poll() and killpg()
            self.process.wait(timeout=timeout)
