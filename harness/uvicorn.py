"""The project under uvicorn, started as README's "Under ASGI" says: `project.asgi:application`,
project.settings, and only the bind address and the app's environment chosen by the caller."""

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from harness.process import Server

APPLICATION = "project.asgi:application"


def uvicorn_command(host: str, port: int, *extra: str) -> list[str]:
    """The command `make run-asgi` runs too: no lifespan (Django has none), no access log."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        APPLICATION,
        "--host",
        host,
        "--port",
        str(port),
        "--lifespan",
        "off",
        "--no-access-log",
        *extra,
    ]


@dataclass(kw_only=True)
class Uvicorn(Server):
    # Added to this process's environment (harness.env.app_env() makes the app's part).
    env: dict[str, str]
    # 1: the one process serves (the tests watch its memory); more: uvicorn's supervisor starts
    # that many worker processes on one socket, as gunicorn's workers (the benchmark).
    workers: int = 1

    def start(self, log_path: Path) -> "Uvicorn":
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "project.settings", **self.env}
        extra = ["--workers", str(self.workers)] if self.workers > 1 else []
        self.launch(uvicorn_command("127.0.0.1", self.port, *extra), log_path, env)
        return self

    def worker_pids(self) -> list[int]:
        pids = self.pids()
        return pids[1:] if self.workers > 1 else pids[:1]
