"""`make run` as a new user types it, in a copy of the project: the README's promises about it."""

import os
import re
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from harness.login import login, login_attempt
from harness.process import ROOT, free_port, wait_for_port

pytestmark = pytest.mark.integration

# What `make run` reads besides the virtualenv, which the copy shares with this checkout.
PROJECT = ["Makefile", "manage.py", "pyproject.toml", "project", "downloads", "deploy"]
PROJECT += ["templates", "static"]
# migrate, collectstatic (WhiteNoise compresses every admin asset) and the demo files: tens of
# seconds when other test suites share the two cores; a bound against a hang, not a benchmark.
STARTUP_SECONDS = 300


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "project"
    copy.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in PROJECT:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, copy / name, ignore=ignore)
        else:
            shutil.copy2(source, copy / name)
    (copy / "media").mkdir(exist_ok=True)
    (copy / ".venv").symlink_to(ROOT / ".venv")
    return copy


def make_run(
    copy: Path, log: Path, target: str = "run", **env: str
) -> tuple[subprocess.Popen, str]:
    """`make run` (or `make run-asgi`) in the copy; the process and its URL once it listens."""
    port = free_port()
    # Nothing of this test run's environment (its database, settings module, storage) leaks in.
    clean = {name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ}
    clean |= {
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "UVICORN_PORT": str(port),
        "GUNICORN_WORKERS": "1",
        "DOWNLOADS_LOG_STATUS_DIR": str(copy / "log-status"),
        **env,
    }
    process = subprocess.Popen(
        # -o: the copy shares this checkout's virtualenv; never reinstall it.
        ["make", "-o", ".venv/.installed", target],
        cwd=copy,
        env=clean,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    wait_for_port(port, process, timeout=STARTUP_SECONDS)
    return process, f"http://127.0.0.1:{port}"


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen]]:
    running: list[subprocess.Popen] = []
    yield running
    for process in running:
        stop(process)


def test_demo_password_sets_the_demo_users_password(project_copy, tmp_path, started):
    log = tmp_path / "make-run.log"
    process, url = make_run(project_copy, log, DEMO_PASSWORD="typed-by-a-new-user")
    started.append(process)
    output = log.read_text()
    assert "with password: typed-by-a-new-user" in output, output
    for username in ("alice", "bob", "admin"):
        login(url, username, "typed-by-a-new-user")
    _, refused = login_attempt(url, "alice", "something-else")
    assert refused.status_code == 200  # the form again, with its error
    assert (project_copy / ".demo_password").read_text() == "typed-by-a-new-user\n"
    # The printed share link downloads alice's video with no login.
    shared = re.search(r"no login needed: (http://\S+/s/\S+)", output)
    assert shared, output
    video = requests.get(shared[1], timeout=30)
    assert video.status_code == 200
    assert video.content == (ROOT / "downloads" / "demo_assets" / "teaser.webm").read_bytes()

    # Run again without the variable: the same password, kept from the first run.
    stop(process)
    log_again = tmp_path / "make-run-again.log"
    again, url = make_run(project_copy, log_again)
    started.append(again)
    assert "with password: typed-by-a-new-user" in log_again.read_text()
    login(url, "admin", "typed-by-a-new-user")


def test_make_run_asgi_serves_the_demo_under_uvicorn(project_copy, tmp_path, started):
    log = tmp_path / "make-run-asgi.log"
    process, url = make_run(project_copy, log, "run-asgi", DEMO_PASSWORD="typed-for-asgi")
    started.append(process)
    assert "under uvicorn" in log.read_text()
    session = login(url, "alice", "typed-for-asgi")
    listed = session.get(f"{url}/api/files/", timeout=30).json()["results"][0]
    download = session.get(listed["download_url"], timeout=30)
    assert download.status_code == 200
    assert len(download.content) == listed["size"] == int(download.headers["Content-Length"])
