"""A throwaway PostgreSQL cluster of a test's own (scripts/postgres.sh), whatever database the
suite runs on, for tests that stop, restart or lock the database under a real gunicorn; and the
app on it: migrated, one user owning one file."""

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
import requests

from harness.gunicorn import Gunicorn
from harness.login import login
from harness.process import ROOT
from tests.servers import SECRET_KEY

PASSWORD = "cluster-pw-1234"
SETUP = """
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from downloads.models import StoredFile
user = User.objects.create_user({username!r}, password={password!r})
stored = StoredFile(owner=user, name="kept.txt")
stored.file.save("kept.txt", ContentFile(b"still here\\n" + bytes({size})), save=False)
stored.save()
print(stored.pk)
"""


def as_postgres(args: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.getuid() == 0 else args


@dataclass(frozen=True)
class Cluster:
    url: str
    directory: Path

    def pg_ctl(self, action: str) -> None:
        """`start`, `stop` or `restart` the server (fast shutdown), waiting until it is done."""
        subprocess.run(
            as_postgres(
                [
                    str(next(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))),
                    f"--pgdata={self.directory / 'data'}",
                    # The new server logs to a file: an inherited pipe would never close.
                    f"--log={self.directory / 'server.log'}",
                    "--mode=fast",
                    "--wait",
                    # `start` does not reuse the first start's options as `restart` does.
                    f"--options=-c listen_addresses=127.0.0.1 -p {urlsplit(self.url).port}"
                    f" -k {self.directory}",
                    action,
                ]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=120,
        )

    def connect(self) -> psycopg.Connection:
        """A connection of the test's own, not the app's."""
        return psycopg.connect(self.url, connect_timeout=10)

    def app_connections(self) -> int:
        """Client connections open on the app's database, besides the one asking."""
        with self.connect() as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
            ).fetchone()
        assert row is not None
        return int(row[0])


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    directory = Path(f"/tmp/pd-cluster-{os.getpid()}")
    url = subprocess.run(
        ["bash", str(ROOT / "scripts" / "postgres.sh"), "start", str(directory)],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout.strip()
    try:
        yield Cluster(url, directory)
    finally:
        subprocess.run(
            ["bash", str(ROOT / "scripts" / "postgres.sh"), "stop", str(directory)],
            check=False,
            timeout=120,
        )


@dataclass(frozen=True)
class ClusterApp:
    server: Gunicorn
    file_id: str
    # Logged in as the user who owns the file.
    session: requests.Session

    def get(self, path: str) -> tuple[int, float]:
        """GET `path` in the session: the status and the seconds it took."""
        started = time.monotonic()
        status = self.session.get(self.server.url + path, timeout=60).status_code
        return status, time.monotonic() - started


@contextmanager
def app_on(
    cluster: Cluster,
    username: str,
    workdir: Path,
    static_root: Path,
    extra_env: dict[str, str] | None = None,
    file_size: int = 0,
) -> Iterator[ClusterApp]:
    """Migrate the cluster's database, give `username` one file (a line, then `file_size`
    zeros), run gunicorn (one worker) on it, with `username` logged in."""
    media = workdir / "cluster-media"
    media.mkdir()
    env = {
        "DJANGO_SECRET_KEY": SECRET_KEY,
        "DATABASE_URL": cluster.url,
        "MEDIA_ROOT": str(media),
        "STATIC_ROOT": str(static_root),
    }
    manage_env = {**os.environ, "DJANGO_SETTINGS_MODULE": "project.settings", **env}
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=manage_env, check=True, timeout=300)
    setup = SETUP.format(username=username, password=PASSWORD, size=file_size)
    file_id = subprocess.run(
        [*manage, "shell", "-c", setup],
        cwd=ROOT,
        env=manage_env,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout.split()[-1]  # shell may print a banner first
    server = Gunicorn(
        env={**env, "GUNICORN_WORKERS": "1", "GUNICORN_ACCESSLOG": "", **(extra_env or {})}
    ).start(workdir / "gunicorn.log")
    try:
        yield ClusterApp(server, file_id, login(server.url, username, PASSWORD))
    finally:
        server.stop()
