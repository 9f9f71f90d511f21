"""The latencies of the requests wrk sent, from the distribution wrk reports.

Before it reports, wrk adds requests it never sent to its latency histogram (wrk 4, src/wrk.c
and stats.c, `stats_correct()`): with `interval` = the run's time / (requests per connection),
every latency n of at least twice the interval also counts at n - interval, n - 2 x interval,
... for as long as that stays above the interval. It models each connection as a user who meant
to send a request every interval, whose unsent requests would have waited behind a stall of the
server. For a server that stalls, that is the honest figure (a closed loop otherwise hides the
stall: "coordinated omission"). The soak's mix is not a stalling server: a login is slow on
purpose (a password hash, ~0.3 s of CPU) and only its own connection waits for it. At 16
connections the interval is ~30 ms, so each login adds some 40 requests nobody sent, and every
list page over 60 ms one or two more: in one 60 s run they were 23% of the histogram, and wrk's
p99 (544 ms) was almost four times that of the requests nginx answered (142 ms). At 256
connections the interval is the mean latency of a long queue and wrk adds almost nothing.

wrk's Lua sees only the corrected histogram, as percentiles (mix.lua), so the correction is
undone here on that grid: from the slowest step down, each step's share counts as sent (less
its own copies, where a step is wider than the interval) and its copies are taken back from the
steps they were added to. A step's requests are taken to lie at its upper latency, as everywhere
in the soak, so the copies are looked for at or below the latencies they were put at, never
above.
"""

from bisect import bisect_left
from collections.abc import Sequence

Quantiles = Sequence[tuple[float, int]]  # sorted (percent, microseconds), ending at 100


def wrk_interval_us(duration_us: int, requests: int, connections: int) -> int:
    """The interval wrk corrects with (0: it corrects nothing), computed as wrk does, in
    integers."""
    per_connection = requests // connections if connections else 0
    return duration_us // per_connection if per_connection else 0


def uncorrected(quantiles: Quantiles, interval_us: int) -> tuple[tuple[float, int], ...]:
    """wrk's percentiles with its added requests taken out, at the same percents."""
    if not quantiles or interval_us <= 0:
        return tuple(quantiles)
    latencies = [us for _, us in quantiles]
    shares: list[float] = []
    below = 0.0
    for percent, _ in quantiles:
        shares.append(percent - below)
        below = percent
    for step in range(len(latencies) - 1, -1, -1):
        latency = latencies[step]
        if latency < 2 * interval_us:
            break
        if shares[step] <= 0:
            continue
        # Where a step is wider than the interval (the slowest few), its requests' first copies
        # were counted in it too.
        floor = max(latencies[step - 1] if step else 0, interval_us)
        own_copies = max(0, (latency - floor - 1) // interval_us)
        sent = shares[step] / (1 + own_copies)
        shares[step] = sent
        copy_at = latency - (own_copies + 1) * interval_us
        while copy_at > interval_us:
            _take_back(latencies, shares, copy_at, sent)
            copy_at -= interval_us
    kept = sum(shares)
    if kept <= 0:
        return tuple(quantiles)
    result = []
    for percent, _ in quantiles:
        result.append((percent, _latency_at(latencies, shares, percent / 100 * kept)))
    return tuple(result)


def _take_back(latencies: list[int], shares: list[float], latency: int, amount: float) -> None:
    """Remove `amount` from the step holding `latency`, and what it lacks from the steps below:
    a copy lies below the step it was counted in whenever its original did not sit at its own
    step's upper latency."""
    step = min(bisect_left(latencies, latency), len(latencies) - 1)
    while amount > 0 and step >= 0:
        taken = min(amount, shares[step])
        shares[step] -= taken
        amount -= taken
        step -= 1


def _latency_at(latencies: list[int], shares: list[float], wanted: float) -> int:
    seen = 0.0
    for latency, share in zip(latencies, shares, strict=True):
        seen += share
        if seen >= wanted * (1 - 1e-9) and share > 0:
            return latency
    return latencies[-1]
