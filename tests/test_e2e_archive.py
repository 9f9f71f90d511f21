"""Zips through the real gunicorn, and uvicorn (ASGI), on loopback: a 1 GiB archive with flat
worker memory, whose first bytes leave long before its last member is read, and a deflated one
sent chunked."""

import io
import itertools
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from django.core.files.base import ContentFile

from downloads.models import StoredFile
from harness.gunicorn import Gunicorn
from harness.login import login
from harness.procfs import rss_kib
from harness.storages import local_storage, with_default_storage
from harness.uvicorn import Uvicorn
from tests.servers import make_live_user, server_env
from tests.sparse import ExpectedBytes, fast_sparse_directory, sparse_file
from tests.zipscan import scan_zip

pytestmark = pytest.mark.integration

MiB = 1024 * 1024
PASSWORD = "live-password-1"


@pytest.fixture(scope="module")
def sparse_media() -> Iterator[Path]:
    with fast_sparse_directory("zip-live-") as media:
        yield media


@pytest.fixture(scope="module")
def zip_gunicorn(
    django_db_setup, django_db_blocker, sparse_media, live_static, tmp_path_factory
) -> Iterator[Gunicorn]:
    """A gunicorn of its own, one worker, whose media is on tmpfs (see tests/sparse.py)."""
    server = Gunicorn(env=server_env(sparse_media, live_static, GUNICORN_WORKERS="1"))
    server.start(tmp_path_factory.mktemp("zip-gunicorn") / "gunicorn.log")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def zip_uvicorn(
    django_db_setup, django_db_blocker, sparse_media, live_static, tmp_path_factory
) -> Iterator[Uvicorn]:
    """The app under uvicorn (project.asgi), one process, on the same tmpfs media."""
    server = Uvicorn(env=server_env(sparse_media, live_static))
    server.start(tmp_path_factory.mktemp("zip-uvicorn") / "uvicorn.log")
    yield server
    server.stop()


@pytest.fixture(params=["gunicorn", "uvicorn"])
def zip_live(request, transactional_db, settings, sparse_media) -> Gunicorn | Uvicorn:
    settings.STORAGES = with_default_storage(local_storage(sparse_media))
    server: Gunicorn | Uvicorn = request.getfixturevalue(f"zip_{request.param}")
    return server


# Worker RSS growth for the 1 GiB zip: the ASGI bound is issue 12's.
RSS_BOUND_MIB = {"gunicorn": 50, "uvicorn": 30}


def bytes_read(pid: int) -> int:
    """What the process has read() so far (rchar): here, the members' bytes from storage."""
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError(f"no rchar for {pid}")


def post_zip(server: Gunicorn | Uvicorn, session: requests.Session, files: list[StoredFile]):
    return session.post(
        f"{server.url}/files.zip",
        data={
            "file": [str(stored.pk) for stored in files],
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
        },
        stream=True,
        timeout=120,
    )


def test_a_1_gib_zip_streams_at_once_with_flat_worker_memory(zip_live, sparse_media):
    owner = make_live_user("zoe", PASSWORD)
    sizes = [256 * MiB] * 4
    marks = [{0: f"part {n}".encode(), size - 4: b"END!"} for n, size in enumerate(sizes)]
    warm_up, *files = StoredFile.objects.bulk_create(
        [
            sparse_file(sparse_media, owner, "warm.mp4", 10, {}, content_type="video/mp4"),
            *(
                sparse_file(sparse_media, owner, f"part {n}.mp4", size, mark, "video/mp4")
                for n, (size, mark) in enumerate(zip(sizes, marks, strict=True))
            ),
        ]
    )
    session = login(zip_live.url, "zoe", PASSWORD)
    (worker,) = zip_live.worker_pids()
    # Warm the worker (imports, first queries) so growth measures the big zip alone.
    with post_zip(zip_live, session, [warm_up]) as response:
        assert response.status_code == 200
        assert len(response.content) == int(response.headers["Content-Length"])
    rss_before = peak = rss_kib(worker)
    read_before = bytes_read(worker)

    with post_zip(zip_live, session, files) as response:
        assert response.status_code == 200
        assert response.headers["Accept-Ranges"] == "none"
        assert "Transfer-Encoding" not in response.headers
        length = int(response.headers["Content-Length"])
        assert length > sum(sizes)
        chunks = response.iter_content(chunk_size=MiB)
        first = next(chunks)
        # The first MiB is here, and the worker has read only a sliver of the 1 GiB it zips:
        # it sends while it reads, held back by the socket, instead of building the zip first.
        read_at_first_bytes = bytes_read(worker) - read_before
        assert read_at_first_bytes < 64 * MiB, f"{read_at_first_bytes / MiB:.0f} MiB read"

        received = 0

        def watched() -> Iterator[bytes]:
            nonlocal received, peak
            for chunk in itertools.chain([first], chunks):
                received += len(chunk)
                peak = max(peak, rss_kib(worker))
                yield chunk

        expected = ExpectedBytes(marks)
        scanned = scan_zip(watched(), sizes, on_data=expected)

    assert received == length == scanned.length
    assert expected.position == sizes
    assert scanned.names == ["part 0.mp4", "part 1.mp4", "part 2.mp4", "part 3.mp4"]
    assert bytes_read(worker) - read_before >= sum(sizes)  # rchar did see the members' bytes
    growth_mib = (peak - rss_before) / 1024
    bound = RSS_BOUND_MIB["uvicorn" if isinstance(zip_live, Uvicorn) else "gunicorn"]
    assert growth_mib < bound, f"worker RSS grew by {growth_mib:.1f} MiB"
    print(f"\n1 GiB zip, {type(zip_live).__name__}: worker RSS +{growth_mib:.1f} MiB")


def test_a_deflated_zip_goes_out_chunked_and_opens(zip_live):
    owner = make_live_user("yan", PASSWORD)
    texts = {f"notes {n}.txt": f"line {n} of many\n".encode() * 20_000 for n in range(3)}
    files = []
    for name, text in texts.items():
        stored = StoredFile(owner=owner, name=name)
        stored.file.save(name, ContentFile(text), save=False)
        stored.save()
        files.append(stored)
    session = login(zip_live.url, "yan", PASSWORD)
    with post_zip(zip_live, session, files) as response:
        assert response.status_code == 200
        assert "Content-Length" not in response.headers
        assert response.headers["Transfer-Encoding"] == "chunked"
        data = response.content
    assert len(data) < sum(len(text) for text in texts.values()) / 10
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        assert {name: archive.read(name) for name in archive.namelist()} == texts
