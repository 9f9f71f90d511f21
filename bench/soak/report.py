"""The soak's table, its targets (issue 8: fair under many clients) and its JSON."""

import math
import statistics
from dataclasses import asdict
from typing import Any

from bench.report import Target, markdown_table
from bench.soak import balance, footprint
from bench.soak.accounting import Verdict
from bench.soak.run import RunResult

# Each arrangement's first run is its baseline (16 connections unless asked otherwise, the figure
# issue 8 compares with). At more connections: wrk's p99 at most this many times the baseline's,
# and at least the baseline's throughput.
MAX_P99_RATIO = 4.0
MIN_RPS_RATIO = 1.0
# "At least" is judged to within the soak's own error: the rounds' ratios scatter by +-10% on
# this shared machine (the host's speed drifts; bench/soak/rounds.py), so a merged 0.99x is as
# likely a fast 16-connection slice as a slower app. A shortfall counts once it exceeds the
# standard error of the rounds' mean ratio; never one above this, however noisy the rounds.
MAX_RPS_SHORTFALL = 0.05

HEADER = [
    "arrangement",
    "conns",
    "req/s",
    "x base",
    "x base per round",
    "p50 ms",
    "p99 ms",
    "p99 x base",
    "sent p50 / p99 ms",
    "sent p99 x base",
    "sent p99 / mean",
    "max ms",
    "5xx",
    "non-2xx/3xx",
    "sock err",
    "accept queue",
    "workers' CPU split",
    "app CPU ms/req",
    "nginx / wrk CPU ms/req",
    "gunicorn RSS MiB",
    "gunicorn fds",
    "nginx RSS MiB",
    "nginx fds",
    "log rows = downloads",
    "denied rows = 404s",
    "others' CPU",
    "idle CPU",
]


def baseline(results: list[RunResult], arrangement: str) -> RunResult | None:
    for result in results:
        if result.arrangement == arrangement:
            return result
    return None


def p99_ratio(result: RunResult, base: RunResult | None) -> float | None:
    """wrk's p99 over the baseline's: with the requests wrk adds for coordinated omission."""
    if base is None or not base.outcome.latency_ms["p99"]:
        return None
    return result.outcome.latency_ms["p99"] / base.outcome.latency_ms["p99"]


def sent_p99_ratio(result: RunResult, base: RunResult | None) -> float | None:
    """The same for the requests wrk sent (bench/soak/omission.py)."""
    if base is None or not base.outcome.sent_latency_ms.get("p99"):
        return None
    return result.outcome.sent_latency_ms.get("p99", 0.0) / base.outcome.sent_latency_ms["p99"]


def mean_wait_ms(result: RunResult) -> float | None:
    """The mean latency of the requests sent, by Little's law: wrk keeps every connection busy,
    so `connections` requests are always in flight."""
    outcome = result.outcome
    if not outcome.requests:
        return None
    return 1000 * result.connections * outcome.seconds / outcome.requests


def sent_p99_over_mean(result: RunResult) -> float | None:
    """How much longer the slowest 1% waited than the average: near 1, everyone waited alike
    (what a long first-come-first-served queue does); far above, a few waited for the rest."""
    mean = mean_wait_ms(result)
    p99 = result.outcome.sent_latency_ms.get("p99")
    if not mean or not p99:
        return None
    return p99 / mean


def rps_ratio(result: RunResult, base: RunResult | None) -> float | None:
    if base is None or not base.outcome.requests_per_s:
        return None
    return result.outcome.requests_per_s / base.outcome.requests_per_s


def rps_ratios_per_round(result: RunResult, base: RunResult | None) -> list[float]:
    """Throughput over the baseline's, round by round (bench/soak/rounds.py): slices of one
    round ran minutes apart at most, so their spread shows how far the merged ratio can be
    trusted on this machine."""
    if base is None or base is result or len(result.slices) != len(base.slices):
        return []
    return [
        mine.outcome.requests_per_s / theirs.outcome.requests_per_s
        for mine, theirs in zip(result.slices, base.slices, strict=True)
        if theirs.outcome.requests_per_s
    ]


def rps_tolerance(per_round: list[float]) -> float:
    """How far below MIN_RPS_RATIO a merged ratio may be and still be within the soak's error:
    the standard error of the rounds' mean ratio, at most MAX_RPS_SHORTFALL; none without two
    rounds to tell it from."""
    if len(per_round) < 2:
        return 0.0
    error = statistics.stdev(per_round) / math.sqrt(len(per_round))
    return min(error, MAX_RPS_SHORTFALL)


def _allowed_over_mean(result: RunResult, base: RunResult) -> str:
    """What the latency target asks of this run, put against its mean wait: at a throughput
    near the baseline's the mean wait grows with the connections (Little's law), so 4x the
    baseline's p99 may leave the slowest 1% less than the average; no server can do that."""
    mean = mean_wait_ms(result)
    if not mean:
        return ""
    allowed = MAX_P99_RATIO * base.outcome.latency_ms["p99"] / mean
    return f"; asks p99 <= {allowed:.2f}x this run's mean wait, {mean:,.0f} ms"


def _spread(ratios: list[float]) -> str:
    if not ratios:
        return "—"
    return f"{min(ratios):.2f} to {max(ratios):.2f}x"


def targets(results: list[RunResult]) -> list[Target]:
    found: list[Target] = []
    for result in results:
        name = f"{result.arrangement} at {result.connections}"
        outcome = result.outcome
        for what, value in (
            ("5xx", outcome.server_errors),
            ("socket errors", outcome.socket_errors),
            ("answers of no kind in the mix", outcome.strays),
        ):
            found.append(Target(f"{name}: {what}", value, "= 0", value == 0))
        verdict = result.downloads
        found.append(
            Target(
                f"{name}: log rows - downloads answered",
                verdict.rows - verdict.answered,
                f"0..{verdict.in_flight} (in flight)",
                result.rows_hold,
            )
        )
        base = baseline(results, result.arrangement)
        if base is None or base is result:
            continue
        latency = p99_ratio(result, base)
        found.append(
            Target(
                f"{name}: wrk's p99 / the same at {base.connections}",
                latency,
                f"<= {MAX_P99_RATIO:g}x" + _allowed_over_mean(result, base),
                latency is not None and latency <= MAX_P99_RATIO,
            )
        )
        rate = rps_ratio(result, base)
        per_round = rps_ratios_per_round(result, base)
        tolerance = rps_tolerance(per_round)
        goal = f">= {MIN_RPS_RATIO:g}x"
        if per_round:
            goal += f" less the rounds' standard error ({tolerance:.2f}, at most "
            goal += f"{MAX_RPS_SHORTFALL:g}); per round {_spread(per_round)}"
        found.append(
            Target(
                f"{name}: req/s / req/s at {base.connections}",
                rate,
                goal,
                rate is not None and rate >= MIN_RPS_RATIO - tolerance,
            )
        )
    return found


def _ms(value: float) -> str:
    return f"{value:.1f}" if value < 10 else f"{value:,.0f}"


def _ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}x"


def _change(start: float, end: float, digits: int = 0) -> str:
    if start == end == 0:
        return "—"
    return f"{start:,.{digits}f}->{end:,.{digits}f}"


def _statuses(counts: dict[str, int]) -> str:
    return " ".join(f"{status}:{count:,}" for status, count in counts.items()) or "0"


def _accounting(verdict: Verdict, holds_in_every_slice: bool) -> str:
    text = verdict.describe()
    if verdict.holds and not holds_in_every_slice:
        text += " (MISMATCH in a slice)"
    return text


def _log_rows(result: RunResult) -> str:
    """The accounting, and what the rows say became of the requests once they say it."""
    text = _accounting(result.downloads, result.rows_hold)
    told = {outcome: rows for outcome, rows in result.outcomes.items() if outcome}
    if told:
        text += "; " + ", ".join(f"{outcome} {rows:,}" for outcome, rows in sorted(told.items()))
    return text


def table_rows(results: list[RunResult], labels: dict[str, str]) -> list[list[str]]:
    lines = []
    for result in results:
        outcome = result.outcome
        base = baseline(results, result.arrangement)
        latency = outcome.latency_ms
        start, end = result.start, result.end
        restarted = footprint.replaced(start.gunicorn, end.gunicorn)
        gunicorn_rss = _change(
            footprint.total_rss(start.gunicorn), footprint.total_rss(end.gunicorn)
        )
        if restarted:
            gunicorn_rss += f" ({restarted} restarted)"
        denied = result.denied
        lines.append(
            [
                labels.get(result.arrangement, result.arrangement),
                str(result.connections),
                f"{outcome.requests_per_s:,.0f}",
                _ratio(rps_ratio(result, base)),
                _spread(rps_ratios_per_round(result, base)),
                _ms(latency["p50"]),
                _ms(latency["p99"]),
                _ratio(p99_ratio(result, base)),
                _sent(outcome.sent_latency_ms),
                _ratio(sent_p99_ratio(result, base)),
                _ratio(sent_p99_over_mean(result)),
                _ms(latency["max"]),
                str(outcome.server_errors),
                _statuses(outcome.unexpected_statuses),
                str(outcome.socket_errors),
                f"{result.accept_queue_mean:.0f} / {result.accept_queue_max}",
                balance.describe(result.worker_shares),
                _cpu_ms(result.cpu_ms_per_request),
                f"{_cpu_ms(result.proxy_ms_per_request)} / {_cpu_ms(result.client_ms_per_request)}",
                gunicorn_rss,
                _change(footprint.total_fds(start.gunicorn), footprint.total_fds(end.gunicorn)),
                _change(footprint.total_rss(start.nginx), footprint.total_rss(end.nginx)),
                _change(footprint.total_fds(start.nginx), footprint.total_fds(end.nginx)),
                _log_rows(result),
                _accounting(denied, result.denied_rows_hold)
                if result.denied_logged
                else f"not logged ({denied.answered:,})",
                f"{result.foreign_cpu_share:.0%}",
                f"{result.idle_cpu_share:.0%}",
            ]
        )
    return lines


def _sent(latency: dict[str, float]) -> str:
    if not latency:
        return "—"
    return f"{_ms(latency['p50'])} / {_ms(latency['p99'])}"


def _cpu_ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def render(
    results: list[RunResult], labels: dict[str, str], found: list[Target], notes: list[str]
) -> str:
    text = [markdown_table(HEADER, table_rows(results, labels)), "", *notes, "", "Targets:"]
    for target in found:
        verdict = "met" if target.met else "NOT met"
        value = "—" if target.value is None else f"{target.value:,.2f}"
        text.append(f"  [{verdict}] {target.what}: {value} ({target.goal})")
    return "\n".join(text)


def as_json(result: RunResult) -> dict[str, Any]:
    """Every figure of one run, with the derived ones the table shows."""
    outcome = result.outcome
    return {
        **asdict(result),
        "requests_per_s": outcome.requests_per_s,
        "server_errors": outcome.server_errors,
        "unexpected_statuses": outcome.unexpected_statuses,
        "socket_errors": outcome.socket_errors,
        "downloads": {
            **asdict(result.downloads),
            "holds": result.rows_hold,
            "by_outcome": result.outcomes,
        },
        "denied": {
            **asdict(result.denied),
            "logged": result.denied_logged,
            "holds": result.denied_rows_hold,
        },
    }
