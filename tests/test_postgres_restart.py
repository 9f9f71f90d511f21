"""PostgreSQL restarted under the real gunicorn: the requests after the restart succeed.

A throwaway cluster of this test's own (scripts/postgres.sh), whatever database the suite runs
on. Persistent connections (DATABASE_CONN_MAX_AGE) with conn_health_checks=True: the first query
of a request finds the dead connection and reconnects. The compiled queries of
downloads/prepared.py hold only SQL text and parameter positions, no server-side state (Django's
psycopg backend binds on the client), so they run unchanged on the new connection.
"""

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.gunicorn import Gunicorn
from harness.login import login
from harness.process import ROOT
from tests.servers import SECRET_KEY

pytestmark = pytest.mark.integration

PASSWORD = "restart-pw-1234"
SETUP = f"""
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from downloads.models import StoredFile
user = User.objects.create_user("restarter", password="{PASSWORD}")
stored = StoredFile(owner=user, name="kept.txt")
stored.file.save("kept.txt", ContentFile(b"still here\\n"), save=False)
stored.save()
print(stored.pk)
"""


def as_postgres(args: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.getuid() == 0 else args


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    directory = Path(f"/tmp/pd-restart-{os.getpid()}")
    url = subprocess.run(
        ["bash", str(ROOT / "scripts" / "postgres.sh"), "start", str(directory)],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout.strip()
    try:
        yield url, directory
    finally:
        subprocess.run(
            ["bash", str(ROOT / "scripts" / "postgres.sh"), "stop", str(directory)],
            check=False,
            timeout=120,
        )


def test_requests_after_a_postgres_restart_succeed(cluster, live_static, tmp_path):
    url, directory = cluster
    media = tmp_path / "restart-media"
    media.mkdir()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "project.settings",
        "DJANGO_SECRET_KEY": SECRET_KEY,
        "DATABASE_URL": url,
        "MEDIA_ROOT": str(media),
    }
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=300)
    file_id = subprocess.run(
        [*manage, "shell", "-c", SETUP],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout.split()[-1]  # shell may print a banner first
    server = Gunicorn(
        env={
            "DJANGO_SECRET_KEY": SECRET_KEY,
            "DATABASE_URL": url,
            "MEDIA_ROOT": str(media),
            "STATIC_ROOT": str(live_static),
            "GUNICORN_WORKERS": "1",
            "GUNICORN_ACCESSLOG": "",
        }
    ).start(tmp_path / "gunicorn.log")
    try:
        session = login(server.url, "restarter", PASSWORD)
        targets = ["/", f"/files/{file_id}/download", "/api/files/"]

        def load() -> list[tuple[str, int]]:
            return [
                (target, session.get(server.url + target, timeout=30).status_code)
                for _ in range(5)
                for target in targets
            ]

        # Every thread's connection is open and persistent before the restart.
        before = load()
        assert {status for _, status in before} == {200}, before
        subprocess.run(
            as_postgres(
                [
                    str(next(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))),
                    f"--pgdata={directory / 'data'}",
                    # The new server logs to a file: an inherited pipe would never close.
                    f"--log={directory / 'server.log'}",
                    "--mode=fast",
                    "--wait",
                    "restart",
                ]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=120,
        )
        after = load()
        assert {status for _, status in after} == {200}, (after, server.log()[-3000:])
    finally:
        server.stop()
