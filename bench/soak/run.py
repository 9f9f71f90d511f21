"""One soak run: the mix at one number of connections against one arrangement, with the
workers' footprint before and after and the download log counted once its writers have caught up.
"""

from collections.abc import Callable
from dataclasses import dataclass

from bench import procstat, wrk
from bench.soak import footprint, mix
from bench.soak.accounting import Rows, Verdict, outcomes_between, settle
from bench.soak.arrangements import Arrangement
from bench.soak.backlog import QueueWatch
from bench.soak.balance import WorkerShares

# Longer than any answer should take (nginx gives up on the app at 60 s): wrk records no latency
# for a request past its timeout, and the slowest answers are what the soak is about.
WRK_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class RunResult:
    arrangement: str
    connections: int
    outcome: mix.Outcome
    rows_before: Rows
    rows_after: Rows
    settle_s: float
    start: footprint.Footprint
    end: footprint.Footprint
    # Share of the machine's CPUs other processes used meanwhile (a shared machine's noise).
    foreign_cpu_share: float
    # Connections waiting to be accepted by gunicorn, sampled during the run: longest, mean.
    accept_queue_max: int = 0
    accept_queue_mean: float = 0.0
    # Each gunicorn worker's share of the CPU time the workers used during the run.
    worker_shares: tuple[float, ...] = ()
    # CPU seconds the gunicorn workers used during the run: per request, the app's own cost,
    # which other processes on a shared machine slow down but do not change.
    worker_cpu_s: float = 0.0
    # Share of the machine's CPUs left idle during the run.
    idle_cpu_share: float = 0.0
    # CPU seconds nginx's workers and wrk itself used during the run: on a machine the clients
    # share with the servers, what they take is not there for the app.
    proxy_cpu_s: float = 0.0
    client_cpu_s: float = 0.0
    # The interleaved slices this run was combined from (bench/soak/rounds.py); () for a slice.
    slices: tuple["RunResult", ...] = ()

    @property
    def cpu_ms_per_request(self) -> float | None:
        return self._per_request(self.worker_cpu_s)

    @property
    def proxy_ms_per_request(self) -> float | None:
        return self._per_request(self.proxy_cpu_s)

    @property
    def client_ms_per_request(self) -> float | None:
        return self._per_request(self.client_cpu_s)

    def _per_request(self, cpu_s: float) -> float | None:
        requests = self.outcome.requests
        return 1000 * cpu_s / requests if requests and cpu_s else None

    @property
    def downloads(self) -> Verdict:
        return Verdict(
            rows=self.rows_after.downloads - self.rows_before.downloads,
            answered=self.outcome.downloads_answered,
            in_flight=self.outcome.downloads_in_flight,
        )

    @property
    def denied(self) -> Verdict:
        return Verdict(
            rows=self.rows_after.denied - self.rows_before.denied,
            answered=self.outcome.missing_answered,
            in_flight=self.outcome.missing_in_flight,
        )

    @property
    def rows_hold(self) -> bool:
        """Every answered download has its row and no row is invented, in each slice: a
        surplus in one slice may not hide a shortfall in another."""
        return all(part.downloads.holds for part in self.slices or (self,))

    @property
    def denied_rows_hold(self) -> bool:
        """The same for the denied requests' rows (the mix's 404s)."""
        return all(part.denied.holds for part in self.slices or (self,))

    @property
    def outcomes(self) -> dict[str, int]:
        """The run's download rows by outcome: complete, aborted, handed_over..."""
        return outcomes_between(self.rows_before, self.rows_after)

    @property
    def denied_logged(self) -> bool:
        return self.denied.rows > 0


def soak(
    arrangement: Arrangement,
    target: mix.Target,
    *,
    connections: int,
    seconds: float,
    threads: int,
    count: Callable[[], Rows],
) -> RunResult:
    before, _ = settle(count, Rows(0, 0))
    start = footprint.take(arrangement.app, arrangement.proxy)
    ours = arrangement.started
    with (
        procstat.ForeignLoad(lambda: [pid for s in ours for pid in s.pids()]) as foreign,
        QueueWatch(arrangement.app.port) as queue,
        WorkerShares(arrangement.app) as shares,
        procstat.CpuWatch(arrangement.proxy.worker_pids() if arrangement.proxy else []) as proxy,
        procstat.ChildrenCpu() as client,
    ):
        result = wrk.run(
            arrangement.entry.url + "/",
            seconds=seconds,
            connections=connections,
            threads=threads,
            timeout_s=WRK_TIMEOUT_S,
            script=mix.SCRIPT,
            script_args=target.script_args(
                connections // wrk.thread_count(threads, connections), ramp_s=mix.RAMP_S
            ),
        )
    outcome = mix.parse(result.report, connections)
    expected = Rows(downloads=before.downloads + outcome.downloads_answered, denied=before.denied)
    after, settle_s = settle(count, expected)
    return RunResult(
        arrangement=arrangement.key,
        connections=connections,
        outcome=outcome,
        rows_before=before,
        rows_after=after,
        settle_s=settle_s,
        start=start,
        end=footprint.take(arrangement.app, arrangement.proxy),
        foreign_cpu_share=foreign.share,
        idle_cpu_share=foreign.idle_share,
        accept_queue_max=queue.longest,
        accept_queue_mean=queue.mean,
        worker_shares=shares.shares,
        worker_cpu_s=shares.seconds,
        proxy_cpu_s=proxy.seconds,
        client_cpu_s=client.seconds,
    )
