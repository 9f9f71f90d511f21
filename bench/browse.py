"""What a browser does that wrk does not: a gallery page and its images over a few connections,
and a video player's seeks, one range after another on one kept-alive connection.

Both are timed here, in Python (http.client, one thread per connection): the client's own cost
is in every row alike, reference rows included, so the ratios are fair, if a little flattered.
"""

import http.client
import math
import queue
import random
import statistics
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

# What browsers open per origin over HTTP/1.1.
BROWSER_CONNECTIONS = 6
SEEKS = 20
TIMEOUT_S = 30.0


class BrowseError(RuntimeError):
    """An answer that was not the one a working page or player gets: the run is void."""


@dataclass(frozen=True)
class Gallery:
    """A page, then its images (all at one origin, as a page's own images are)."""

    page: str
    images: tuple[str, ...]
    image_bytes: int

    def __post_init__(self) -> None:
        origins = {urlsplit(url).netloc for url in (self.page, *self.images)}
        if len(origins) != 1:
            raise ValueError(f"a gallery at one origin, not {sorted(origins)}")


def _connect(url: str) -> http.client.HTTPConnection:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=TIMEOUT_S)
    connection.connect()
    return connection


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _get(
    connection: http.client.HTTPConnection,
    url: str,
    headers: dict[str, str],
    status: int,
    size: int | None,
) -> None:
    connection.request("GET", _path(url), headers=headers)
    answer = connection.getresponse()
    body = answer.read()
    if answer.status != status or (size is not None and len(body) != size):
        raise BrowseError(f"{url}: {answer.status}, {len(body)} bytes (expected {status}, {size})")


def status_of(url: str, headers: dict[str, str]) -> int:
    """The status a GET gets, its body left unread (a whole GiB, for a range refused)."""
    connection = _connect(url)
    try:
        connection.request("GET", _path(url), headers=headers)
        return connection.getresponse().status
    finally:
        connection.close()


def load_gallery(gallery: Gallery, headers: dict[str, str]) -> tuple[float, float]:
    """Seconds from asking for the page to the last image's last byte, on fresh connections
    (the page on one, then every image over BROWSER_CONNECTIONS at once), and of that the
    page's own seconds."""
    started = time.perf_counter()
    connections = [_connect(gallery.page) for _ in range(BROWSER_CONNECTIONS)]
    try:
        _get(connections[0], gallery.page, headers, 200, None)
        page = time.perf_counter() - started
        waiting: queue.SimpleQueue[str] = queue.SimpleQueue()
        for image in gallery.images:
            waiting.put(image)
        failures: list[BaseException] = []

        def fetch_images(connection: http.client.HTTPConnection) -> None:
            while not failures:
                try:
                    image = waiting.get_nowait()
                except queue.Empty:
                    return
                try:
                    _get(connection, image, headers, 200, gallery.image_bytes)
                except (OSError, http.client.HTTPException, BrowseError) as error:
                    failures.append(error)

        threads = [threading.Thread(target=fetch_images, args=(c,)) for c in connections]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(TIMEOUT_S * len(gallery.images))
        elapsed = time.perf_counter() - started
    finally:
        for connection in connections:
            connection.close()
    if failures:
        raise BrowseError(f"gallery {gallery.page}: {failures[0]}")
    if any(thread.is_alive() for thread in threads):
        raise BrowseError(f"gallery {gallery.page}: an image did not arrive")
    return elapsed, page


def gallery_ms(gallery: Gallery, headers: dict[str, str], loads: int) -> dict[str, float]:
    """The median and the slowest of `loads` gallery loads, and the page's median, in ms."""
    loaded = [load_gallery(gallery, headers) for _ in range(loads)]
    times = [whole * 1000 for whole, _ in loaded]
    return {
        "wall_ms": statistics.median(times),
        "max_ms": max(times),
        "page_ms": statistics.median(page * 1000 for _, page in loaded),
    }


def seek_offsets(file_size: int, length: int, seed: int, count: int = SEEKS) -> list[int]:
    """Where `count` ranges of `length` bytes start: random, the same for every row in a round."""
    chooser = random.Random(seed)
    return [chooser.randrange(0, file_size - length + 1) for _ in range(count)]


def seek_ms(url: str, headers: dict[str, str], offsets: Sequence[int], length: int) -> list[float]:
    """Each range in turn on one kept-alive connection (opened first, as a player's is): the ms
    from asking to its last byte."""
    connection = _connect(url)
    times = []
    try:
        for start in offsets:
            asked = {**headers, "Range": f"bytes={start}-{start + length - 1}"}
            began = time.perf_counter()
            _get(connection, url, asked, 206, length)
            times.append((time.perf_counter() - began) * 1000)
    finally:
        connection.close()
    return times


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest rank: of 20 seeks, p50 is the 10th fastest and p99 the slowest."""
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]
