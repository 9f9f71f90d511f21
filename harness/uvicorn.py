"""The project under uvicorn, started as README's "Under ASGI" says: `project.asgi:application`,
project.settings, and only the bind address and the app's environment chosen by the caller."""

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from harness.process import Server

APPLICATION = "project.asgi:application"


def uvicorn_command(host: str, port: int, *extra: str) -> list[str]:
    """The command `make run-asgi` runs too: one process, h11, no lifespan (Django has none)."""
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

    def start(self, log_path: Path) -> "Uvicorn":
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "project.settings", **self.env}
        self.launch(uvicorn_command("127.0.0.1", self.port), log_path, env)
        return self

    def worker_pids(self) -> list[int]:
        # One process serves: the one whose memory the tests watch.
        return self.pids()[:1]
