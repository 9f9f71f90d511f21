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
        env = {**os.environ, **self.env, "GUNICORN_BIND": f"127.0.0.1:{self.port}"}
        env["DJANGO_SETTINGS_MODULE"] = "project.settings"
        self.launch([sys.executable, "-m", "gunicorn", "-c", str(CONFIG)], log_path, env)
        return self
