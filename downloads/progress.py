"""A progress bar for long management commands, on stderr.

On a terminal the bar is redrawn in place; otherwise (a log file, a systemd journal) a plain line
is written now and then, so a long run shows it is alive without flooding the log.
"""

import time

from django.core.management.base import OutputWrapper

# Without a terminal, a progress line at most this often.
PLAIN_PROGRESS_SECONDS = 5.0
BAR_WIDTH = 30


class Progress:
    def __init__(
        self, stream: OutputWrapper, *, enabled: bool = True, plain_prefix: str = ""
    ) -> None:
        self.stream = stream
        self.enabled = enabled
        self.tty = stream.isatty()
        self.plain_prefix = plain_prefix
        self.last_line = 0.0

    def update(self, share: float, text: str, *, final: bool = False) -> None:
        """Show `text` with a bar `share` (0 to 1) full; `final` ends the bar's line."""
        if not self.enabled:
            return
        now = time.monotonic()
        if self.tty:
            bar = "#" * int(min(max(share, 0.0), 1.0) * BAR_WIDTH)
            self.stream.write(f"\r[{bar:<{BAR_WIDTH}}] {text}", ending="\n" if final else "")
            self.stream.flush()
        elif final or now - self.last_line >= PLAIN_PROGRESS_SECONDS:
            self.stream.write(f"{self.plain_prefix}{text}")
            self.stream.flush()
            self.last_line = now


def size_text(size: int) -> str:
    """A byte count for people: bytes, then KiB, MiB, GiB with one decimal."""
    value = float(size)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{size} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")
