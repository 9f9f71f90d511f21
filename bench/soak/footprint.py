"""Resident memory and open file descriptors of each server worker, before and after a run: a
leak of either under load shows as growth from one to the other."""

from dataclasses import dataclass

from harness.process import Server
from harness.procfs import MIB, open_fds, rss_bytes


@dataclass(frozen=True)
class Worker:
    pid: int
    rss_mib: float
    fds: int


@dataclass(frozen=True)
class Footprint:
    gunicorn: tuple[Worker, ...]
    nginx: tuple[Worker, ...]


def _workers(server: Server | None) -> tuple[Worker, ...]:
    if server is None:
        return ()
    return tuple(
        Worker(pid=pid, rss_mib=rss_bytes(pid) / MIB, fds=open_fds(pid))
        for pid in server.worker_pids()
    )


def take(app: Server, proxy: Server | None) -> Footprint:
    return Footprint(gunicorn=_workers(app), nginx=_workers(proxy))


def total_rss(workers: tuple[Worker, ...]) -> float:
    return sum(worker.rss_mib for worker in workers)


def total_fds(workers: tuple[Worker, ...]) -> int:
    return sum(worker.fds for worker in workers)


def replaced(start: tuple[Worker, ...], end: tuple[Worker, ...]) -> int:
    """Workers at the end that were not there at the start: a worker killed and restarted
    (gunicorn's timeout) during the run."""
    return len({w.pid for w in end} - {w.pid for w in start})
