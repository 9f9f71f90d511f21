"""The project's gunicorn, started as deployed: deploy/gunicorn.conf.py, project.settings, and
only the bind address and the app's environment chosen by the caller."""

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from harness.process import ROOT, Server

CONFIG = ROOT / "deploy" / "gunicorn.conf.py"


@dataclass(kw_only=True)
class Gunicorn(Server):
    # Added to this process's environment (harness.env.app_env() makes the app's part).
    env: dict[str, str]

    def start(self, log_path: Path) -> "Gunicorn":
        # The project's settings unless `env` names others (a benchmark's variant): never the
        # calling process's own (the tests run on tests.settings).
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "project.settings",
            **self.env,
            "GUNICORN_BIND": f"127.0.0.1:{self.port}",
        }
        self.launch([sys.executable, "-m", "gunicorn", "-c", str(CONFIG)], log_path, env)
        return self
