"""Downloads under uvicorn (project.asgi) with flat memory: a 1 GiB file, its ranges, and 20
of them at once, through one real uvicorn process whose RSS is watched from /proc.

Django's own ASGIHandler would read each body whole first (issue 12: a 200 MiB download grew
the process by 206 MiB); downloads.asgi pulls it a chunk at a time instead. The files are sparse
on tmpfs (tests/sparse.py), so 1 GiB costs neither disk nor time to write.
"""

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from django.db import connection

from downloads.models import DownloadLog, Outcome, StoredFile
from harness.login import login
from harness.procfs import rss_kib
from harness.storages import local_storage, with_default_storage
from harness.uvicorn import Uvicorn
from tests.contract_cases import parse_multipart
from tests.servers import make_live_user, server_env
from tests.sparse import ExpectedBytes, fast_sparse_directory, sparse_file

pytestmark = pytest.mark.integration

MiB = 1024 * 1024
GiB = 1024 * MiB
PASSWORD = "asgi-password-1"
MARKS = {0: b"first", 512 * MiB: b"middle", GiB - 4: b"END!"}
# Issue 12's bounds for worker RSS growth.
ONE_BOUND_MIB = 30
TWENTY_BOUND_MIB = 100
AT_ONCE = 20
# Each of the 20 reads this much while all are open: enough for every connection's buffers
# (uvicorn's, the kernel's) to fill and the server to settle into its steady state, without
# pushing 20 GiB through a shared 2-core machine in a test.
EACH_READS = 64 * MiB


@pytest.fixture(scope="module")
def sparse_media() -> Iterator[Path]:
    with fast_sparse_directory("asgi-live-") as media:
        yield media


@pytest.fixture(scope="module")
def uvicorn_sparse(
    django_db_setup, django_db_blocker, sparse_media, live_static, tmp_path_factory
) -> Iterator[Uvicorn]:
    server = Uvicorn(env=server_env(sparse_media, live_static))
    server.start(tmp_path_factory.mktemp("asgi-uvicorn") / "uvicorn.log")
    yield server
    server.stop()


@pytest.fixture
def asgi(uvicorn_sparse, transactional_db, settings, sparse_media) -> Uvicorn:
    settings.STORAGES = with_default_storage(local_storage(sparse_media))
    return uvicorn_sparse


@pytest.fixture
def big(asgi: Uvicorn, sparse_media: Path) -> StoredFile:
    owner = make_live_user("asgi-alice", PASSWORD)
    stored = sparse_file(sparse_media, owner, "big video.bin", GiB, MARKS)
    stored.save()
    return stored


def test_a_1_gib_download_and_its_ranges_with_flat_memory(asgi, big):
    session = login(asgi.url, "asgi-alice", PASSWORD)
    url = asgi.url + big.get_download_url()
    (worker,) = asgi.worker_pids()
    # Warm the process (imports, first queries) so growth measures the download alone.
    assert session.get(url, headers={"Range": "bytes=0-9"}, timeout=10).status_code == 206
    before = peak = rss_kib(worker)

    expected = ExpectedBytes([MARKS])
    with session.get(url, stream=True, timeout=60) as response:
        assert response.status_code == 200
        assert int(response.headers["Content-Length"]) == GiB
        assert response.headers["Accept-Ranges"] == "bytes"
        for chunk in response.iter_content(chunk_size=MiB):
            expected(0, chunk)
            peak = max(peak, rss_kib(worker))
    assert expected.position == [GiB]

    middle = 512 * MiB
    ranged = session.get(url, headers={"Range": f"bytes={middle}-{middle + MiB - 1}"}, timeout=30)
    assert ranged.status_code == 206
    assert ranged.headers["Content-Range"] == f"bytes {middle}-{middle + MiB - 1}/{GiB}"
    assert ranged.content == b"middle" + bytes(MiB - 6)

    # Several ranges, one of them 256 MiB: the multipart body streams too.
    header = f"bytes=0-4, {middle}-{middle + 256 * MiB - 1}, -4"
    with session.get(url, headers={"Range": header}, stream=True, timeout=60) as multipart:
        raw = b"".join(multipart.iter_content(chunk_size=MiB))
        peak = max(peak, rss_kib(worker))
    parts = parse_multipart(
        multipart.headers["Content-Type"], multipart.headers["Content-Length"], raw
    )
    assert [(head, len(body)) for head, body in parts] == [
        (f"bytes 0-4/{GiB}", 5),
        (f"bytes {middle}-{middle + 256 * MiB - 1}/{GiB}", 256 * MiB),
        (f"bytes {GiB - 4}-{GiB - 1}/{GiB}", 4),
    ]
    assert parts[0][1] == b"first"
    assert parts[2][1] == b"END!"

    growth_mib = (peak - before) / 1024
    print(f"\n1 GiB download under uvicorn: RSS {before // 1024} MiB +{growth_mib:.1f} MiB")
    assert growth_mib < ONE_BOUND_MIB, f"uvicorn's RSS grew by {growth_mib:.1f} MiB"
    # Django's warning when it reads a synchronous body whole: never, every body is async.
    assert "must consume synchronous iterators" not in asgi.log()


def test_twenty_1_gib_downloads_at_once_with_flat_memory(asgi, big):
    session = login(asgi.url, "asgi-alice", PASSWORD)
    url = asgi.url + big.get_download_url()
    (worker,) = asgi.worker_pids()
    assert session.get(url, headers={"Range": "bytes=0-9"}, timeout=10).status_code == 206
    before = peak = rss_kib(worker)
    all_reading = threading.Barrier(AT_ONCE + 1, timeout=60)
    done_watching = threading.Event()
    received = [0] * AT_ONCE
    errors: list[BaseException] = []

    def download(index: int) -> None:
        try:
            with requests.get(url, cookies=session.cookies, stream=True, timeout=60) as response:
                assert response.status_code == 200
                chunks = response.iter_content(chunk_size=MiB)
                received[index] += len(next(chunks))
                all_reading.wait()
                for chunk in chunks:
                    received[index] += len(chunk)
                    if received[index] >= EACH_READS:
                        break
                # Hold the connection open, its body unfinished, until the peak is taken.
                done_watching.wait(60)
        except BaseException as error:  # reported by the test's thread
            errors.append(error)
            all_reading.abort()

    threads = [threading.Thread(target=download, args=(n,)) for n in range(AT_ONCE)]
    for thread in threads:
        thread.start()
    try:
        all_reading.wait()
        while any(count < EACH_READS for count in received) and not errors:
            peak = max(peak, rss_kib(worker))
            threading.Event().wait(0.05)
        peak = max(peak, rss_kib(worker))
    finally:
        done_watching.set()
        for thread in threads:
            thread.join(60)
    assert not errors, errors
    assert all(count >= EACH_READS for count in received)
    # The clients left midway: each row says so, with at least the bytes its client got.
    rows = _download_rows(big, 1 + AT_ONCE)
    aborted = [row for row in rows if row.status == 200]
    assert len(aborted) == AT_ONCE
    assert all(row.outcome == Outcome.ABORTED for row in aborted)
    assert all(EACH_READS <= row.bytes_sent < GiB for row in aborted)
    growth_mib = (peak - before) / 1024
    print(f"\n{AT_ONCE} x 1 GiB under uvicorn: RSS {before // 1024} MiB +{growth_mib:.1f} MiB")
    assert growth_mib < TWENTY_BOUND_MIB, f"uvicorn's RSS grew by {growth_mib:.1f} MiB"


def _download_rows(stored: StoredFile, count: int, within: float = 30.0) -> list[DownloadLog]:
    """The file's log rows once the server has written `count` (a row is written when its body
    ends; waiting also keeps those writes from racing the test database's flush)."""
    deadline = time.monotonic() + within
    while len(rows := list(DownloadLog.objects.filter(file=stored))) < count:
        if time.monotonic() > deadline:
            break
        time.sleep(0.2)
    return rows


def test_requests_do_not_leave_database_connections_open(asgi, big):
    """Each ASGI request's view runs in a thread of its own: with persistent connections every
    request would leave one open (project/asgi.py turns them off, as Django's docs advise)."""
    session = login(asgi.url, "asgi-alice", PASSWORD)
    (worker,) = asgi.worker_pids()
    before = _database_connections(worker)
    for _ in range(40):
        assert session.get(asgi.url + "/", timeout=10).status_code == 200
    after = _database_connections(worker)
    assert after - before <= 4, f"{after - before} more database connections after 40 requests"


def _database_connections(pid: int) -> int:
    """SQLite: the server's open handles on the database file; PostgreSQL: its sessions."""
    if connection.vendor == "sqlite":
        database = Path(connection.settings_dict["NAME"]).name
        return sum(1 for fd in Path(f"/proc/{pid}/fd").iterdir() if _points_to(fd, database))
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
        (count,) = cursor.fetchone()
    return int(count)


def _points_to(fd: Path, name: str) -> bool:
    try:
        return fd.readlink().name == name
    except OSError:
        return False


def test_a_csv_export_streams_from_the_database_under_uvicorn(asgi, big):
    """The export reads its rows with QuerySet.iterator(), several queries on one connection:
    under ASGI its chunks are pulled in the request's own thread, where that connection lives."""
    owner = big.owner
    StoredFile.objects.bulk_create(
        StoredFile(
            owner=owner,
            name=f"row {n}.txt",
            file=f"files/none/{n}",
            size=n,
            sha256="0" * 64,
            content_type="text/plain",
            updated=big.updated,
        )
        for n in range(2500)
    )
    session = login(asgi.url, "asgi-alice", PASSWORD)
    with session.get(asgi.url + "/files.csv", stream=True, timeout=60) as response:
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
        lines = b"".join(response.iter_content(chunk_size=65536)).decode("utf-8-sig").split("\r\n")
    assert lines[-1] == ""
    assert len(lines) - 2 == 2501  # the header, 2,500 rows and the big file
    assert sum(1 for line in lines if line.startswith("row ")) == 2500
