"""Real servers for integration tests: the project's gunicorn on a free loopback port, nginx
with the deploy/ configuration in front of it, and moto's S3 server.

The server runs the project's own settings and `deploy/gunicorn.conf.py`, sharing the test
database (a file for SQLite, the test database for PostgreSQL) and a media directory with the
test process, so what a test creates is what the server serves.
"""

import getpass
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config as BotoConfig
from django.conf import settings as django_settings
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import User
from django.db import connection

from deploy.render_nginx import NginxConfig
from deploy.render_nginx import from_settings as nginx_config_from_settings
from deploy.render_nginx import render as render_nginx

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
        # The servers' download log writers report where this test run's do (tests/settings.py).
        "DOWNLOADS_LOG_STATUS_DIR": django_settings.DOWNLOADS_LOG_STATUS_DIR,
        **extra,
    }


def make_live_user(username: str, password: str, **fields: object) -> User:
    """A user whose password the server (with Django's default hashers) can check."""
    return User.objects.create(
        username=username, password=make_password(password, hasher=SERVER_HASHER), **fields
    )


def login_attempt(
    base_url: str, username: str, password: str, timeout: float = 30
) -> tuple[requests.Session, requests.Response]:
    """Post the login form once, as a browser would (CSRF cookie and token from the page)."""
    session = requests.Session()
    login_url = f"{base_url}/accounts/login/"
    session.get(login_url, timeout=10).raise_for_status()
    response = session.post(
        login_url,
        data={
            "username": username,
            "password": password,
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
        },
        headers={"Referer": login_url},
        allow_redirects=False,
        timeout=timeout,
    )
    return session, response


def login(base_url: str, username: str, password: str) -> requests.Session:
    """Log in through the login form, as a browser would, and return the cookie-carrying session."""
    session, response = login_attempt(base_url, username, password, timeout=10)
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


# --- nginx in front of gunicorn, and an S3 bucket (moto's server) -----------------------------

NGINX = Path(shutil.which("nginx") or "/usr/sbin/nginx")
S3_REGION = "us-east-1"
S3_ACCESS_KEY = "moto-access-key"
S3_SECRET_KEY = "moto-secret-key"
# Presigned URLs made by the servers under test live this long: tests assert X-Amz-Expires.
S3_URL_EXPIRY = 120
# Bytes per second of the nginx stack that limits every download.
RATE_LIMIT = 64 * 1024


@dataclass
class Nginx:
    """nginx started with deploy/nginx.conf.template rendered for loopback ports and temp paths."""

    upstream_port: int
    media_root: Path
    static_root: Path
    run_dir: Path
    resolver: str = "127.0.0.1"
    # Other NginxConfig fields, e.g. shorter timeouts for a test.
    options: dict[str, Any] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def config_path(self) -> Path:
        return self.run_dir / "nginx.conf"

    def config(self) -> NginxConfig:
        # The app's own prefix and upload limit, as a deployer's rendering takes them.
        return nginx_config_from_settings(
            listen=f"127.0.0.1:{self.port}",
            upstream=f"127.0.0.1:{self.upstream_port}",
            static_root=self.static_root,
            media_root=self.media_root,
            run_dir=self.run_dir,
            user=getpass.getuser(),
            worker_processes="1",
            access_log=str(self.run_dir / "access.log"),
            error_log=str(self.run_dir / "error.log"),
            resolver=self.resolver,
            **self.options,
        )

    def start(self) -> "Nginx":
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(render_nginx(self.config()))
        self.process = subprocess.Popen(
            [str(NGINX), "-c", str(self.config_path)],
            stdout=(self.run_dir / "stdout.log").open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for_port(self.port, self.process)
        return self

    def log(self) -> str:
        path = self.run_dir / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


@dataclass
class MotoS3:
    """moto's S3 server over HTTP on a loopback port, with one bucket."""

    recording: Path
    bucket: str = "protected-downloads-test"
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, log_path: Path) -> "MotoS3":
        env = {
            **os.environ,
            # Recording is switched on only by the tests that read it (start_recording()).
            "MOTO_RECORDER_FILEPATH": str(self.recording),
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            env=env,
            stdout=log_path.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for_port(self.port, self.process)
        self.client().create_bucket(Bucket=self.bucket)
        return self

    def client(self) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=S3_REGION,
            aws_access_key_id=S3_ACCESS_KEY,
            aws_secret_access_key=S3_SECRET_KEY,
            config=BotoConfig(signature_version="s3v4", s3={"addressing_style": "path"}),
        )

    def server_env(self) -> dict[str, str]:
        """What a deployer sets to put the files in this bucket (project/settings.py)."""
        return {
            "AWS_STORAGE_BUCKET_NAME": self.bucket,
            "AWS_S3_ENDPOINT_URL": self.endpoint_url,
            "AWS_S3_REGION_NAME": S3_REGION,
            "AWS_S3_ADDRESSING_STYLE": "path",
            "AWS_QUERYSTRING_EXPIRE": str(S3_URL_EXPIRY),
            "AWS_ACCESS_KEY_ID": S3_ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": S3_SECRET_KEY,
        }

    def storage_settings(self) -> dict[str, Any]:
        """The same storage for the test process, for STORAGES["default"]."""
        return {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": self.bucket,
                "endpoint_url": self.endpoint_url,
                "region_name": S3_REGION,
                "signature_version": "s3v4",
                "addressing_style": "path",
                "querystring_expire": S3_URL_EXPIRY,
                "access_key": S3_ACCESS_KEY,
                "secret_key": S3_SECRET_KEY,
            },
        }

    def _recorder(self, action: str) -> requests.Response:
        response = requests.post(f"{self.endpoint_url}/moto-api/recorder/{action}", timeout=10)
        response.raise_for_status()
        return response

    def start_recording(self) -> None:
        self._recorder("reset-recording")
        self._recorder("start-recording")

    def stop_recording(self) -> list[dict[str, Any]]:
        """The requests the bucket received since start_recording(): method, url, headers."""
        self._recorder("stop-recording")
        text = requests.get(
            f"{self.endpoint_url}/moto-api/recorder/download-recording", timeout=10
        ).text
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=10)


@pytest.fixture(scope="session")
def moto_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoS3]:
    run_dir = tmp_path_factory.mktemp("moto")
    server = MotoS3(recording=run_dir / "recording.jsonl").start(run_dir / "moto.log")
    yield server
    server.stop()


class LoopbackDNS:
    """A DNS server on a loopback UDP port: A queries for `names` get 127.0.0.1, others NXDOMAIN.

    It stands in for a deployment's name server, so nginx's `resolver` is exercised for real.
    """

    def __init__(self, names: set[str]) -> None:
        self.names = names
        self.asked: list[str] = []
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind(("127.0.0.1", 0))
        self.port: int = self._socket.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                query, client = self._socket.recvfrom(512)
            except OSError:
                return  # closed
            self._socket.sendto(self._answer(query), client)

    def _answer(self, query: bytes) -> bytes:
        labels: list[str] = []
        position = 12
        while query[position]:
            length = query[position]
            labels.append(query[position + 1 : position + 1 + length].decode("ascii"))
            position += 1 + length
        question = query[12 : position + 5]
        name = ".".join(labels).lower()
        qtype = int.from_bytes(query[position + 1 : position + 3], "big")
        self.asked.append(name)
        known = name in self.names
        answers = 1 if known and qtype == 1 else 0
        flags = 0x8180 if known else 0x8183  # a response; recursion available; NXDOMAIN
        header = query[:2] + struct.pack(">HHHHH", flags, 1, answers, 0, 0)
        record = b""
        if answers:
            # A pointer to the question's name, type A, class IN, TTL 60, 4 bytes: 127.0.0.1.
            record = struct.pack(">HHHIH", 0xC00C, 1, 1, 60, 4) + bytes([127, 0, 0, 1])
        return header + question + record

    def close(self) -> None:
        self._socket.close()


@pytest.fixture(scope="session")
def loopback_dns() -> Iterator[LoopbackDNS]:
    server = LoopbackDNS({"localhost"})
    yield server
    server.close()


@pytest.fixture
def s3_media(settings: Any, moto_s3: MotoS3) -> MotoS3:
    """This test's default storage is the moto bucket the S3 servers use."""
    settings.STORAGES = {**settings.STORAGES, "default": moto_s3.storage_settings()}
    return moto_s3


@dataclass
class Stack:
    """One way of serving downloads, as deployed: nginx in front of a gunicorn."""

    name: str
    gunicorn: Gunicorn
    nginx: Nginx
    storage: str  # "local" (live_media) or "s3" (the moto bucket)

    @property
    def url(self) -> str:
        return self.nginx.url


@dataclass(frozen=True)
class StackSpec:
    storage: str  # "local" or "s3"
    env: dict[str, str]  # added to server_env() for the stack's gunicorn
    # The bucket is named by a host name that nginx must look up with its `resolver`.
    bucket_by_name: bool = False


STACKS: dict[str, StackSpec] = {
    "django": StackSpec("local", {}),
    "nginx": StackSpec("local", {"DOWNLOADS_DELIVERY": "nginx"}),
    "django-s3": StackSpec("s3", {}),
    "nginx-s3": StackSpec("s3", {"DOWNLOADS_DELIVERY": "nginx"}),
    "s3": StackSpec("s3", {"DOWNLOADS_DELIVERY": "s3"}),
    "nginx-rate-limited": StackSpec(
        "local", {"DOWNLOADS_DELIVERY": "nginx", "DOWNLOADS_NGINX_RATE_LIMIT": str(RATE_LIMIT)}
    ),
    "nginx-s3-by-name": StackSpec("s3", {"DOWNLOADS_DELIVERY": "nginx"}, bucket_by_name=True),
}


@pytest.fixture(scope="session")
def live_stack(
    request: pytest.FixtureRequest,
    django_db_setup: None,
    live_media: Path,
    live_static: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[[str], Stack]]:
    """Starts a stack of STACKS by name on first use; all run until the session ends.

    Each stack's gunicorn has one worker and shares the test database and media with the test
    process (see live_gunicorn); "django" puts nginx in front of the session's gunicorn_server.
    """
    started: dict[str, Stack] = {}
    own_servers: list[Gunicorn] = []

    def get(name: str) -> Stack:
        if name in started:
            return started[name]
        spec = STACKS[name]
        resolver = "127.0.0.1"
        if name == "django":
            server: Gunicorn = request.getfixturevalue("gunicorn_server")
        else:
            extra = dict(spec.env)
            if spec.storage == "s3":
                moto: MotoS3 = request.getfixturevalue("moto_s3")
                extra = {**moto.server_env(), **extra}
            if spec.bucket_by_name:
                # "localhost": the test process and gunicorn find it in /etc/hosts, while
                # nginx, which never reads that file, must ask its resolver.
                extra["AWS_S3_ENDPOINT_URL"] = f"http://localhost:{moto.port}"
                resolver = f"127.0.0.1:{request.getfixturevalue('loopback_dns').port}"
            env = server_env(live_media, live_static, GUNICORN_WORKERS="1", **extra)
            server = Gunicorn(env=env)
            own_servers.append(server)
            server.start(tmp_path_factory.mktemp(f"gunicorn-{name}") / "gunicorn.log")
        nginx = Nginx(
            upstream_port=server.port,
            media_root=live_media,
            static_root=live_static,
            run_dir=tmp_path_factory.mktemp(f"nginx-{name}"),
            resolver=resolver,
        ).start()
        started[name] = Stack(name=name, gunicorn=server, nginx=nginx, storage=spec.storage)
        return started[name]

    yield get
    for stack in started.values():
        stack.nginx.stop()
    for server in own_servers:
        server.stop()
