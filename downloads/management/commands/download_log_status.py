import json
from datetime import UTC, datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from downloads.logstatus import read_statuses, status_dir


def _when(value: object) -> str:
    if not isinstance(value, int | float):
        return "-"
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S")


class Command(BaseCommand):
    help = (
        "Print each process's download log writer: rows queued, written, overflowed (a request "
        "could not hand its row over in time) and unwritable, the last error and the last write "
        "(from DOWNLOADS_LOG_STATUS_DIR). Lost rows are logged at ERROR with all their fields."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="one JSON list, for scripts")

    def handle(self, *args: Any, **options: Any) -> None:
        statuses = read_statuses()
        if options["json"]:
            self.stdout.write(json.dumps(statuses, indent=2))
            return
        if not statuses:
            self.stdout.write(f"No download log writer has reported in {status_dir()}.")
            return
        header = ("pid", "state", "queued", "written", "overflowed", "unwritable", "last write")
        self.stdout.write("  ".join(f"{name:>10}" for name in header) + "  last error")
        for status in statuses:
            state = "running" if status["alive"] else "exited"
            cells = (
                status["pid"],
                state,
                status.get("queued", 0),
                status.get("written", 0),
                status.get("overflowed", 0),
                status.get("unwritable", 0),
                _when(status.get("last_write_at")),
            )
            line = "  ".join(f"{cell!s:>10}" for cell in cells)
            self.stdout.write(f"{line}  {status.get('last_error') or '-'}")
