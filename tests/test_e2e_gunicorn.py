"""End to end through the real gunicorn: log in over HTTP, download big files, watch the worker."""

import hashlib
import os
from pathlib import Path

import pytest
from django.core.files import File

from downloads.models import StoredFile
from harness.gunicorn import Gunicorn
from harness.login import login
from harness.procfs import rss_kib
from tests.servers import make_live_user

pytestmark = pytest.mark.integration

MiB = 1024 * 1024


@pytest.fixture
def big_file(live_gunicorn: Gunicorn, tmp_path: Path) -> tuple[StoredFile, Path]:
    owner = make_live_user("alice", "live-password-1")
    source = tmp_path / "big.bin"
    with source.open("wb") as out:
        for _ in range(200):
            out.write(os.urandom(MiB))
    stored = StoredFile(owner=owner, name="big video.bin")
    with source.open("rb") as handle:
        stored.file.save("big.bin", File(handle), save=False)
    stored.save()
    return stored, source


def sha256_of(path: Path, start: int = 0, length: int | None = None) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        handle.seek(start)
        remaining = length if length is not None else os.path.getsize(path) - start
        while remaining > 0:
            chunk = handle.read(min(MiB, remaining))
            digest.update(chunk)
            remaining -= len(chunk)
    return digest.hexdigest()


def test_200_mib_download_and_a_range_with_flat_worker_memory(live_gunicorn, big_file):
    stored, source = big_file
    session = login(live_gunicorn.url, "alice", "live-password-1")
    url = f"{live_gunicorn.url}{stored.get_download_url()}"
    (worker,) = live_gunicorn.worker_pids()
    # Warm the worker (imports, first query) so growth measures the download alone.
    assert session.head(url, timeout=10).status_code == 200
    before = rss_kib(worker)

    peak = before
    digest = hashlib.sha256()
    received = 0
    with session.get(url, stream=True, timeout=60) as response:
        assert response.status_code == 200
        assert int(response.headers["Content-Length"]) == stored.size
        for chunk in response.iter_content(chunk_size=MiB):
            digest.update(chunk)
            received += len(chunk)
            peak = max(peak, rss_kib(worker))
    assert received == stored.size
    assert digest.hexdigest() == stored.sha256 == sha256_of(source)

    start = 100 * MiB
    ranged = session.get(url, headers={"Range": f"bytes={start}-{start + MiB - 1}"}, timeout=30)
    peak = max(peak, rss_kib(worker))
    assert ranged.status_code == 206
    assert ranged.headers["Content-Range"] == f"bytes {start}-{start + MiB - 1}/{stored.size}"
    assert len(ranged.content) == MiB
    assert hashlib.sha256(ranged.content).hexdigest() == sha256_of(source, start, MiB)

    growth_mib = (peak - before) / 1024
    assert growth_mib < 30, f"worker RSS grew by {growth_mib:.1f} MiB"
