"""Real servers for integration tests: the project's gunicorn on a free loopback port.

The server runs the project's own settings and `deploy/gunicorn.conf.py`, sharing the test
database (a file for SQLite, the test database for PostgreSQL) and a media directory with the
test process, so what a test creates is what the server serves.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import User
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
SECRET_KEY = "tests-only-secret-key-not-for-any-deployment"
# The server keeps Django's default hashers; users made for it get a hash it can check.
SERVER_HASHER = "pbkdf2_sha256"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout}s")


def database_url() -> str:
    """The test database as a DATABASE_URL, for a server process to open."""
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or ""
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    host = db.get("HOST") or "localhost"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{auth}{host}{port}/{db['NAME']}"


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found.extend(int(child) for child in text)
    return found


@dataclass
class Gunicorn:
    """The project's gunicorn, started with deploy/gunicorn.conf.py and an environment."""

    env: dict[str, str]
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, log_path: Path) -> "Gunicorn":
        self.log_path = log_path
        env = {**os.environ, **self.env, "GUNICORN_BIND": f"127.0.0.1:{self.port}"}
        env["DJANGO_SETTINGS_MODULE"] = "project.settings"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "deploy" / "gunicorn.conf.py")],
            cwd=ROOT,
            env=env,
            stdout=log_path.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for_port(self.port, self.process)
        return self

    def worker_pids(self) -> list[int]:
        assert self.process is not None
        return children(self.process.pid)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def server_env(media_root: Path, static_root: Path, **extra: str) -> dict[str, str]:
    return {
        "DJANGO_SECRET_KEY": SECRET_KEY,
        "DATABASE_URL": database_url(),
        "MEDIA_ROOT": str(media_root),
        "STATIC_ROOT": str(static_root),
        "GUNICORN_ACCESSLOG": "",
        **extra,
    }


def make_live_user(username: str, password: str, **fields: object) -> User:
    """A user whose password the server (with Django's default hashers) can check."""
    return User.objects.create(
        username=username, password=make_password(password, hasher=SERVER_HASHER), **fields
    )


def login(base_url: str, username: str, password: str) -> requests.Session:
    """Log in through the login form, as a browser would, and return the cookie-carrying session."""
    session = requests.Session()
    login_url = f"{base_url}/accounts/login/"
    page = session.get(login_url, timeout=10)
    page.raise_for_status()
    response = session.post(
        login_url,
        data={
            "username": username,
            "password": password,
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
        },
        headers={"Referer": login_url},
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 302, f"login failed: {response.status_code}"
    return session


@pytest.fixture(scope="session")
def live_media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("live-media")


@pytest.fixture(scope="session")
def live_static(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """STATIC_ROOT filled by the project's own collectstatic, as a deployer would."""
    static_root = tmp_path_factory.mktemp("live-static")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "project.settings",
        "DJANGO_SECRET_KEY": SECRET_KEY,
        "STATIC_ROOT": str(static_root),
    }
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    return static_root


@pytest.fixture(scope="session")
def gunicorn_server(
    django_db_setup: None,
    django_db_blocker: object,
    live_media: Path,
    live_static: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Gunicorn]:
    """One gunicorn worker for the session: with one worker its RSS is the one to watch."""
    server = Gunicorn(env=server_env(live_media, live_static, GUNICORN_WORKERS="1"))
    server.start(tmp_path_factory.mktemp("gunicorn") / "gunicorn.log")
    yield server
    server.stop()


@pytest.fixture
def live_server_media(settings: object, live_media: Path) -> Path:
    """Point this test's storage at the live server's media directory."""
    settings.MEDIA_ROOT = live_media  # type: ignore[attr-defined]
    settings.STORAGES = {  # type: ignore[attr-defined]
        **settings.STORAGES,  # type: ignore[attr-defined]
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(live_media), "base_url": None},
        },
    }
    return live_media


@pytest.fixture
def live_gunicorn(
    gunicorn_server: Gunicorn, transactional_db: None, live_server_media: Path
) -> Gunicorn:
    """The session's gunicorn, with this test's rows committed where the server can read them."""
    return gunicorn_server
