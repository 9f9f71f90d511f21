"""A live-server module run alone uses a test database, never the configured one.

pytest-django makes test databases only for tests that ask through its own fixtures; the live
tests ask through the servers (tests/conftest.py's `django_db_setup` covers them). Without it,
this run would create its rows in, and flush, the database `DATABASE_URL` names.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.process import ROOT

pytestmark = pytest.mark.integration

ONE_LIVE_TEST = "tests/test_signed_media_live.py::test_the_checked_download_stays_checked"


def test_a_live_module_alone_leaves_the_configured_database_alone(tmp_path: Path) -> None:
    configured = tmp_path / "configured.sqlite3"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": f"sqlite:///{configured}",
    }
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", ONE_LIVE_TEST],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "passed" in run.stdout
    assert not configured.exists()
