"""wrk's latency statistics, as wrk 4 computes them (src/stats.c), for tests that need to know
what mix.lua's report says for a set of latencies."""

import math
from collections import Counter

from bench.soak import mix


def wrk_percentile(latencies_us: list[int], percent: float) -> int:
    """wrk's stats_percentile(): the first latency whose running count reaches
    round(p * n + 0.5)."""
    return _percentile_of_sorted(sorted(latencies_us), percent)


def wrk_quantiles(latencies_us: list[int]) -> tuple[tuple[float, int], ...]:
    """What mix.lua's done() reports for these latencies: wrk's percentiles on the soak's
    grid, and the slowest."""
    ordered = sorted(latencies_us)
    return tuple(
        [(p, _percentile_of_sorted(ordered, p)) for p in mix.QUANTILE_PERCENTS]
        + [(100.0, ordered[-1])]
    )


def _percentile_of_sorted(ordered: list[int], percent: float) -> int:
    rank = math.floor(percent / 100 * len(ordered) + 0.5 + 0.5)
    return ordered[min(rank, len(ordered)) - 1]


def wrk_corrected(latencies_us: list[int], interval_us: int) -> list[int]:
    """The latencies wrk reports after its coordinated-omission correction (stats_correct()):
    each latency n >= 2 x interval also counted at n - interval, n - 2 x interval, ... while
    above the interval."""
    counts = Counter(latencies_us)
    added: list[int] = []
    for latency, count in counts.items():
        if latency < 2 * interval_us:
            continue
        copy_at = latency - interval_us
        while copy_at > interval_us:
            added.extend([copy_at] * count)
            copy_at -= interval_us
    return latencies_us + added
