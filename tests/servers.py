"""pytest fixtures over the harness (harness/): the project's gunicorn on a free loopback port,
nginx with the deploy/ configuration in front of it, and moto's S3 server.

The servers run the project's own settings and `deploy/gunicorn.conf.py`, sharing the test
database (a file for SQLite, the test database for PostgreSQL) and a media directory with the
test process, so what a test creates is what the server serves.
"""

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import User
from django.db import connection

from harness.dns import LoopbackDNS
from harness.env import app_env, database_url_of
from harness.gunicorn import Gunicorn
from harness.nginx import Nginx
from harness.process import ROOT
from harness.s3 import MotoS3
from harness.storages import local_storage, with_default_storage
from harness.uvicorn import Uvicorn

SECRET_KEY = "tests-only-secret-key-not-for-any-deployment"
# The server keeps Django's default hashers; users made for it get a hash it can check.
SERVER_HASHER = "pbkdf2_sha256"
# Bytes per second of the nginx stack that limits every download.
RATE_LIMIT = 64 * 1024


def database_url() -> str:
    """The test database as a DATABASE_URL, for a server process to open."""
    return database_url_of(connection.settings_dict)


def server_env(media_root: Path, static_root: Path, **extra: str) -> dict[str, str]:
    return app_env(
        secret_key=SECRET_KEY,
        database_url=database_url(),
        media_root=media_root,
        static_root=static_root,
        **{
            "GUNICORN_ACCESSLOG": "",
            # The servers' download log writers report where this test run's do
            # (tests/settings.py), unless the test says otherwise.
            "DOWNLOADS_LOG_STATUS_DIR": django_settings.DOWNLOADS_LOG_STATUS_DIR,
            **extra,
        },
    )


def make_live_user(username: str, password: str, **fields: object) -> User:
    """A user whose password the server (with Django's default hashers) can check."""
    return User.objects.create(
        username=username, password=make_password(password, hasher=SERVER_HASHER), **fields
    )


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


@pytest.fixture(scope="session")
def uvicorn_server(
    django_db_setup: None,
    django_db_blocker: object,
    live_media: Path,
    live_static: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Uvicorn]:
    """The app under uvicorn (project.asgi), one process, for the session."""
    server = Uvicorn(env=server_env(live_media, live_static))
    server.start(tmp_path_factory.mktemp("uvicorn") / "uvicorn.log")
    yield server
    server.stop()


@pytest.fixture
def live_uvicorn(
    uvicorn_server: Uvicorn, transactional_db: None, live_server_media: Path
) -> Uvicorn:
    """The session's uvicorn, with this test's rows committed where the server can read them."""
    return uvicorn_server


@pytest.fixture
def live_server_media(settings: Any, live_media: Path) -> Path:
    """Point this test's storage at the live server's media directory."""
    settings.MEDIA_ROOT = live_media
    settings.STORAGES = with_default_storage(local_storage(live_media))
    return live_media


@pytest.fixture
def live_gunicorn(
    gunicorn_server: Gunicorn, transactional_db: None, live_server_media: Path
) -> Gunicorn:
    """The session's gunicorn, with this test's rows committed where the server can read them."""
    return gunicorn_server


# --- nginx in front of gunicorn, and an S3 bucket (moto's server) -----------------------------


@pytest.fixture(scope="session")
def moto_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoS3]:
    run_dir = tmp_path_factory.mktemp("moto")
    server = MotoS3(recording=run_dir / "recording.jsonl").start(run_dir / "moto.log")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def loopback_dns() -> Iterator[LoopbackDNS]:
    server = LoopbackDNS({"localhost"})
    yield server
    server.close()


@pytest.fixture
def s3_media(settings: Any, moto_s3: MotoS3) -> MotoS3:
    """This test's default storage is the moto bucket the S3 servers use."""
    settings.STORAGES = with_default_storage(moto_s3.storage_settings())
    return moto_s3


@dataclass
class Stack:
    """One way of serving downloads, as deployed: nginx in front of a gunicorn."""

    name: str
    # The app's server: gunicorn, or uvicorn in the "uvicorn*" stacks (StackSpec.server).
    gunicorn: Gunicorn | Uvicorn
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
    server: str = "gunicorn"  # or "uvicorn": the app under ASGI (project.asgi)


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
    "uvicorn": StackSpec("local", {}, server="uvicorn"),
    "uvicorn-nginx": StackSpec("local", {"DOWNLOADS_DELIVERY": "nginx"}, server="uvicorn"),
    "uvicorn-s3": StackSpec("s3", {}, server="uvicorn"),
    "uvicorn-nginx-s3": StackSpec("s3", {"DOWNLOADS_DELIVERY": "nginx"}, server="uvicorn"),
    "uvicorn-s3-mode": StackSpec("s3", {"DOWNLOADS_DELIVERY": "s3"}, server="uvicorn"),
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
    own_servers: list[Gunicorn | Uvicorn] = []

    def get(name: str) -> Stack:
        if name in started:
            return started[name]
        spec = STACKS[name]
        resolver = "127.0.0.1"
        if name == "django":
            server: Gunicorn | Uvicorn = request.getfixturevalue("gunicorn_server")
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
            server = Uvicorn(env=env) if spec.server == "uvicorn" else Gunicorn(env=env)
            own_servers.append(server)
            server.start(tmp_path_factory.mktemp(f"{spec.server}-{name}") / "server.log")
        nginx = Nginx(
            upstream_port=server.port,
            media_root=live_media,
            static_root=live_static,
            run_dir=tmp_path_factory.mktemp(f"nginx-{name}"),
            resolver=resolver,
            signed_media=spec.storage == "local" and spec.env.get("DOWNLOADS_DELIVERY") == "nginx",
        ).start()
        started[name] = Stack(name=name, gunicorn=server, nginx=nginx, storage=spec.storage)
        return started[name]

    yield get
    for stack in started.values():
        stack.nginx.stop()
    for server in own_servers:
        server.stop()
