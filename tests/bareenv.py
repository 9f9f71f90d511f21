"""manage.py in a fresh process whose environment holds only what a test gives it: how the
project starts when a deployer has set nothing else."""

import os
import subprocess
import sys

from harness.process import ROOT


def manage(
    *args: str, settings: str = "project.settings", **env: str
) -> subprocess.CompletedProcess[str]:
    clean = {"PATH": os.environ["PATH"], "DJANGO_SETTINGS_MODULE": settings, **env}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
