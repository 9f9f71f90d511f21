"""Interleaved slices: each connection count's run is cut into rounds, in an order that cancels
the machine's drift, and the slices of each count are merged back into one run.

On a shared virtual machine the same CPU work takes 15% more or less time from one minute to the
next (a fixed Python loop, run every two seconds on an idle machine: 163-215 ms). Back-to-back
60-second runs at 16 and then 256 connections compared two moments of the host as much as two
connection counts. Slices in the order 16, 64, 256, 256, 64, 16, ... give every count the same
share of every moment: a drift that is linear over two rounds affects them all alike.
"""

from collections.abc import Sequence
from dataclasses import replace

from bench.soak import accounting, mix
from bench.soak.run import RunResult


def schedule(connection_counts: Sequence[int], rounds: int) -> list[int]:
    """The counts in order for `rounds` rounds, every other round reversed."""
    order: list[int] = []
    for round_number in range(rounds):
        forward = round_number % 2 == 0
        order.extend(connection_counts if forward else reversed(connection_counts))
    return order


def combine(slices: Sequence[RunResult]) -> RunResult:
    """The slices of one arrangement at one connection count as one run: requests, rows and CPU
    summed, latencies merged (mix.merge), the footprint from the first slice's start to the
    last one's end, and shares weighted by each slice's length or CPU time."""
    if not slices:
        raise ValueError("nothing to combine")
    first, last = slices[0], slices[-1]
    if {(s.arrangement, s.connections) for s in slices} != {(first.arrangement, first.connections)}:
        raise ValueError("slices of different runs")
    seconds = [s.outcome.seconds for s in slices]
    cpu = sum(s.worker_cpu_s for s in slices)
    return replace(
        first,
        outcome=mix.merge([s.outcome for s in slices]),
        # Rows are counted per slice: other counts' slices write rows in between.
        rows_before=accounting.Rows(0, 0),
        rows_after=_rows_added(slices),
        settle_s=max(s.settle_s for s in slices),
        end=last.end,
        foreign_cpu_share=_weighted([s.foreign_cpu_share for s in slices], seconds),
        idle_cpu_share=_weighted([s.idle_cpu_share for s in slices], seconds),
        accept_queue_max=max(s.accept_queue_max for s in slices),
        accept_queue_mean=_weighted([s.accept_queue_mean for s in slices], seconds),
        worker_shares=_worker_shares(slices, cpu),
        worker_cpu_s=cpu,
        proxy_cpu_s=sum(s.proxy_cpu_s for s in slices),
        client_cpu_s=sum(s.client_cpu_s for s in slices),
        slices=tuple(slices),
    )


def combine_all(results: Sequence[RunResult]) -> list[RunResult]:
    """One run per arrangement and connection count, in the order each first appears."""
    groups: dict[tuple[str, int], list[RunResult]] = {}
    for result in results:
        groups.setdefault((result.arrangement, result.connections), []).append(result)
    return [combine(group) for group in groups.values()]


def _rows_added(slices: Sequence[RunResult]) -> accounting.Rows:
    outcomes: dict[str, int] = {}
    for s in slices:
        for outcome, rows in s.outcomes.items():
            outcomes[outcome] = outcomes.get(outcome, 0) + rows
    return accounting.Rows(
        downloads=sum(s.downloads.rows for s in slices),
        denied=sum(s.denied.rows for s in slices),
        outcomes=tuple(sorted(outcomes.items())),
    )


def _weighted(values: Sequence[float], weights: Sequence[float]) -> float:
    total = sum(weights)
    if not total:
        return 0.0
    return sum(v * w for v, w in zip(values, weights, strict=True)) / total


def _worker_shares(slices: Sequence[RunResult], cpu: float) -> tuple[float, ...]:
    """Each worker's share of all the slices' worker CPU (workers in the same pid order)."""
    widths = {len(s.worker_shares) for s in slices}
    if cpu <= 0 or len(widths) != 1:
        return ()
    width = widths.pop()
    used = [sum(s.worker_shares[i] * s.worker_cpu_s for s in slices) for i in range(width)]
    return tuple(seconds / cpu for seconds in used)
