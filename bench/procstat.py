"""What the server processes cost while a block runs: CPU time, peak memory, and the share of the
machine other processes took meanwhile. The readings themselves are harness.procfs's."""

import os
import resource
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Self

from harness.procfs import MIB, cpu_seconds, machine_busy_seconds, rss_bytes


def rusage_seconds(who: int) -> float:
    """User plus system CPU seconds of resource.RUSAGE_SELF or RUSAGE_CHILDREN."""
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def own_seconds() -> float:
    """CPU seconds of this process and of the children it has waited for (wrk, curl)."""
    return rusage_seconds(resource.RUSAGE_SELF) + rusage_seconds(resource.RUSAGE_CHILDREN)


class Sampler:
    """Calls `sample()` every `interval` seconds on a thread of its own while a block runs."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def sample(self) -> None:
        raise NotImplementedError

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()


class RssWatch(Sampler):
    """Samples the resident memory of some processes while a block runs.

    `before` is each process's RSS on entry, `peak` the highest seen; `growth` is the largest
    rise of any one process, the figure that says whether a download is buffered in memory.
    """

    def __init__(self, pids: list[int], interval: float = 0.01) -> None:
        super().__init__(interval)
        self.pids = pids
        self.before = {pid: rss_bytes(pid) for pid in pids}
        self.peak = dict(self.before)

    def sample(self) -> None:
        for pid in self.pids:
            self.peak[pid] = max(self.peak[pid], rss_bytes(pid))

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        super().__exit__(exc_type, exc, traceback)
        self.sample()

    @property
    def before_mib(self) -> float:
        return max(self.before.values(), default=0) / MIB

    @property
    def peak_mib(self) -> float:
        return max(self.peak.values(), default=0) / MIB

    @property
    def growth_mib(self) -> float:
        return max((self.peak[pid] - self.before[pid] for pid in self.pids), default=0) / MIB


class CpuWatch:
    """CPU seconds the processes spend while a block runs, and the wall time it takes."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.seconds = 0.0
        self.wall = 0.0

    def used(self) -> float:
        return cpu_seconds(self.pids)

    def __enter__(self) -> Self:
        self._start = self.used()
        self._wall = time.monotonic()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.wall = time.monotonic() - self._wall
        self.seconds = self.used() - self._start


class ChildrenCpu(CpuWatch):
    """CPU seconds of the child processes this process waits for while a block runs (wrk)."""

    def __init__(self) -> None:
        super().__init__([])

    def used(self) -> float:
        return rusage_seconds(resource.RUSAGE_CHILDREN)


class ForeignLoad:
    """How much of the machine other processes used while the benchmark ran: the servers under
    test, wrk, curl and the benchmark itself subtracted from all CPU time the kernel counted.
    On a shared machine this is what makes one run's figures differ from another's."""

    def __init__(self, our_pids: Callable[[], list[int]]) -> None:
        self.our_pids = our_pids
        self.share = 0.0
        # Share of the machine's CPUs nobody used: a server held back by something other than
        # CPU (locks, hand-offs between threads) leaves it idle while clients wait.
        self.idle_share = 0.0

    def __enter__(self) -> "ForeignLoad":
        self._wall = time.monotonic()
        self._busy = machine_busy_seconds()
        self._own = own_seconds()
        self._servers = cpu_seconds(self.our_pids())
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        wall = time.monotonic() - self._wall
        ours = (own_seconds() - self._own) + (cpu_seconds(self.our_pids()) - self._servers)
        busy = machine_busy_seconds() - self._busy
        capacity = wall * (os.cpu_count() or 1)
        self.share = max(0.0, (busy - ours) / capacity)
        self.idle_share = max(0.0, 1 - busy / capacity)
