"""One measurement of one column for one row; each returns plain figures for the JSON."""

import statistics
from dataclasses import dataclass
from pathlib import Path

from bench import browse, client, wrk
from bench.files import GIB, MIB, SIZES, ZIP_MEMBER_SIZE, ZIP_MEMBERS
from bench.procstat import CpuWatch, RssWatch
from bench.rows import Row

# The mid-file range: 1 MiB from the middle of the 1 GiB file.
RANGE_START = SIZES["1GiB"] // 2
RANGE_HEADER = f"bytes={RANGE_START}-{RANGE_START + MIB - 1}"
Figures = dict[str, float]


@dataclass(frozen=True)
class Load:
    """How hard wrk pushes: the same for every row."""

    seconds: float
    connections: int
    threads: int
    range_seconds: float


def _headers(row: Row, cookie: str) -> dict[str, str]:
    return {"Cookie": cookie} if row.cookie else {}


def throughput(row: Row, size: str, load: Load, cookie: str) -> Figures:
    """Many requests for a small file at once: requests/s, MiB/s, p50 and p99 latency."""
    with CpuWatch([pid for server in row.cost for pid in server.pids()]) as cpu:
        result = wrk.run(
            row.urls[size],
            seconds=load.seconds,
            connections=load.connections,
            threads=load.threads,
            headers=_headers(row, cookie),
        )
    if result.errors:
        raise RuntimeError(f"{row.key} {size}: {result.errors} failed requests under wrk")
    # Redirects carry no file bytes.
    body_rate = 0.0 if row.key == "s3-redirect" else result.requests_per_s * SIZES[size] / MIB
    return {
        "rps": result.requests_per_s,
        "mib_s": body_rate,
        "p50_ms": result.p50_ms,
        "p99_ms": result.p99_ms,
        # Every server process the request passes through, per request.
        "cpu_ms": cpu.seconds * 1000 / max(result.requests, 1),
    }


def big_download(row: Row, cookie: str, repeat: int = 3) -> Figures:
    """1 GiB downloads, one after another: MiB/s, server CPU seconds per GiB, worker memory.

    One loopback transfer of 1 GiB varies widely from one try to the next (which cores the
    client and the server land on), so each round takes the median of `repeat` of them."""
    pids = [pid for server in row.cost for pid in server.pids()]
    workers = row.app.worker_pids() if row.app else []
    speeds: list[float] = []
    cpu_per_gib: list[float] = []
    with RssWatch(workers) as rss:
        for _ in range(repeat):
            with CpuWatch(pids) as cpu:
                transfer = client.fetch(row.urls["1GiB"], headers=_headers(row, cookie))
            expected = 302 if row.key == "s3-redirect" else 200
            if transfer.status != expected:
                raise RuntimeError(f"{row.key} 1GiB: status {transfer.status}")
            if transfer.status == 200 and transfer.body_bytes != GIB:
                raise RuntimeError(f"{row.key} 1GiB: {transfer.body_bytes} bytes")
            speeds.append(transfer.mib_per_s)
            cpu_per_gib.append(cpu.seconds)
    figures: Figures = {"status": transfer.status}
    if transfer.status == 200:
        figures["mib_s"] = statistics.median(speeds)
        figures["cpu_s_per_gib"] = statistics.median(cpu_per_gib)
    if workers:
        figures |= {
            "rss_before_mib": rss.before_mib,
            "rss_peak_mib": rss.peak_mib,
            "rss_growth_mib": rss.growth_mib,
        }
    return figures


def mid_range(row: Row, load: Load, cookie: str) -> Figures:
    """1 MiB from the middle of the 1 GiB file: the status once, then latency with one client."""
    headers = {**_headers(row, cookie), "Range": RANGE_HEADER}
    if not row.ranges:
        # The whole file comes back: nothing to time but a GiB (the 1 GiB column has that).
        return {"status": browse.status_of(row.urls["1GiB"], headers)}
    transfer = client.fetch(row.urls["1GiB"], headers=headers)
    expected_bytes = 0 if transfer.status == 302 else MIB
    if transfer.status not in (206, 302) or transfer.body_bytes != expected_bytes:
        raise RuntimeError(f"{row.key} range: {transfer.status}, {transfer.body_bytes} bytes")
    figures: Figures = {"status": transfer.status, "single_ms": transfer.seconds * 1000}
    if row.key == "s3-fetch":
        # moto answers a range by reading the whole object: a few timed fetches, not wrk.
        times = [client.fetch(row.urls["1GiB"], headers=headers).seconds for _ in range(3)]
        figures["p50_ms"] = sorted(times)[1] * 1000
        return figures
    result = wrk.run(
        row.urls["1GiB"], seconds=load.range_seconds, connections=1, threads=1, headers=headers
    )
    if result.errors:
        raise RuntimeError(f"{row.key} range: {result.errors} failed requests under wrk")
    figures |= {"p50_ms": result.p50_ms, "p99_ms": result.p99_ms}
    return figures


def zip_download(row: Row, cookie: str, form: Path) -> Figures:
    """The streamed zip of many files (a POST, as the file list's form sends it)."""
    assert row.zip_url is not None
    assert row.app is not None
    workers = row.app.worker_pids()
    with RssWatch(workers) as rss, CpuWatch([p for s in row.cost for p in s.pids()]) as cpu:
        transfer = client.fetch(row.zip_url, headers={"Cookie": cookie}, form_file=form)
    if transfer.status != 200 or transfer.body_bytes < ZIP_MEMBERS * ZIP_MEMBER_SIZE:
        raise RuntimeError(f"{row.key} zip: {transfer.status}, {transfer.body_bytes} bytes")
    return {
        "mib_s": transfer.mib_per_s,
        "bytes": transfer.body_bytes,
        "seconds": transfer.seconds,
        "cpu_s": cpu.seconds,
        "rss_before_mib": rss.before_mib,
        "rss_peak_mib": rss.peak_mib,
        "rss_growth_mib": rss.growth_mib,
    }


def seeks(row: Row, cookie: str, offsets: list[int]) -> Figures:
    """A video that seeks: 1 MiB ranges of the 1 GiB file at `offsets`, one after another."""
    times = browse.seek_ms(row.urls["1GiB"], _headers(row, cookie), offsets, MIB)
    return {"p50_ms": browse.percentile(times, 0.5), "p99_ms": browse.percentile(times, 0.99)}


# Loads of the gallery per round; the round's figure is their median.
GALLERY_LOADS = 10


def gallery(row: Row, cookie: str) -> Figures:
    """The row's gallery page and its images, as a browser fetches them (bench/browse.py)."""
    assert row.gallery is not None
    browse.load_gallery(row.gallery, _headers(row, cookie))  # warm: connections, caches
    return browse.gallery_ms(row.gallery, _headers(row, cookie), GALLERY_LOADS)
