"""How the load split between gunicorn's workers during a run: each worker's share of the CPU
time all of them used. Two workers on two cores should each take about half; one taking nearly
all means its connections wait on one core while the other idles (what gunicorn.conf.py's
comment on `reuse_port` is about)."""

from types import TracebackType

from harness.process import Server
from harness.procfs import cpu_seconds


class WorkerShares:
    """Each worker's CPU seconds while a block runs, as shares of their sum (by pid order), and
    the sum itself."""

    def __init__(self, app: Server) -> None:
        self.app = app
        self.shares: tuple[float, ...] = ()
        self.seconds = 0.0

    def __enter__(self) -> "WorkerShares":
        self._pids = sorted(self.app.worker_pids())
        self._start = [cpu_seconds([pid]) for pid in self._pids]
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        used = [
            cpu_seconds([pid]) - start for pid, start in zip(self._pids, self._start, strict=True)
        ]
        self.shares = split(used)
        self.seconds = sum(max(0.0, seconds) for seconds in used)


def split(used: list[float]) -> tuple[float, ...]:
    total = sum(used)
    if total <= 0:
        return ()
    return tuple(max(0.0, seconds) / total for seconds in used)


def describe(shares: tuple[float, ...]) -> str:
    """ "51/49%": the workers' shares, largest first."""
    if not shares:
        return "—"
    return "/".join(f"{share:.0%}".rstrip("%") for share in sorted(shares, reverse=True)) + "%"
