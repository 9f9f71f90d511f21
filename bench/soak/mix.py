"""The request mix wrk sends (mix.lua sends it), and what wrk says came back.

The weights are requests per cycle of 1,000 on each wrk thread. A login costs a password hash
(Django's PBKDF2: by design the costliest request of the mix by far), so one in a thousand is
already a login a second at 1,000 requests/s: enough to show whether a hash blocks other
requests, without turning the soak into a password-hashing benchmark.
"""

import json
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bench.soak import omission

SCRIPT = Path(__file__).resolve().parent / "mix.lua"
WEIGHTS = {
    "small": 300,
    "big": 80,
    "range": 150,
    "not_modified": 200,
    "missing": 100,
    "list": 169,
    "login": 1,
}
DOWNLOAD_KINDS = ("small", "big", "range", "not_modified")
# One 64 KiB range from the middle of the big file.
RANGE = "bytes=524288-589823"
# Searches the list page is asked for: many matches, one, none.
QUERIES = ("member-", "member-0042", "no-such-file")
MARKER = "SOAK-RESULT "
# Seconds of each run left out of its requests/s: every connection's first request (a 1 MiB
# download, mix.lua) sizes wrk's body buffer for it, and the app's side opens its connections.
# What a run of N connections sustains is what comes after.
WARMUP_S = 2
# Over this long at a run's start its connections send their first requests (mix.lua, delay()):
# users arrive; they do not all ask for a megabyte in the same millisecond.
RAMP_S = 1.0
# The percentiles mix.lua's done() reports wrk's latencies at (and 100, the slowest): finer from
# 80, where wrk's coordinated-omission correction puts what it adds (omission.py).
QUANTILE_PERCENTS = (
    tuple(step / 2 for step in range(1, 161))
    + tuple(80 + step / 10 for step in range(1, 191))
    + tuple(99 + step / 100 for step in range(1, 100))
)


@dataclass(frozen=True)
class Target:
    """What the mix is aimed at in one arrangement: paths, the session and the login form."""

    small_path: str
    big_path: str
    etag: str
    missing_ids: tuple[str, ...]
    cookie: str
    csrf_token: str
    username: str
    password: str
    login_path: str = "/accounts/login/"
    # Where a successful login sends the user (LOGIN_REDIRECT_URL).
    login_redirect: str = "/"

    def script_args(self, connections_per_thread: int = 0, ramp_s: float = 0.0) -> list[str]:
        login_body = urlencode(
            {
                "username": self.username,
                "password": self.password,
                "csrfmiddlewaretoken": self.csrf_token,
            }
        )
        values = {
            "weights": ",".join(f"{kind}:{weight}" for kind, weight in WEIGHTS.items()),
            "small_path": self.small_path,
            "big_path": self.big_path,
            "range": RANGE,
            "etag": self.etag,
            "missing_paths": ",".join(f"/files/{id_}/download" for id_ in self.missing_ids),
            "list_paths": ",".join(f"/?{urlencode({'q': query})}" for query in QUERIES),
            "cookie": self.cookie,
            "csrf_token": self.csrf_token,
            "login_path": self.login_path,
            "login_body": login_body,
            "login_redirect": self.login_redirect,
            "connections_per_thread": str(connections_per_thread),
            "ramp_ms": str(round(ramp_s * 1000)),
        }
        for key, value in values.items():
            if "," in value and key not in ("weights", "missing_paths", "list_paths"):
                raise ValueError(f"{key} may not hold a comma: {value!r}")
        return [f"{key}={value}" for key, value in values.items()]


@dataclass(frozen=True)
class Outcome:
    """What wrk counted in one run (mix.lua's done())."""

    seconds: float
    requests: int
    latency_ms: dict[str, float]  # p50, p90, p99, p999, max, mean
    errors: dict[str, int]  # connect, read, write, status (>= 400), timeout
    sent: dict[str, int]  # requests sent per kind
    received: dict[str, int]  # responses per class: download, not_found, page, login, ...
    statuses: dict[str, int]  # responses per status code
    # The latency at percentiles from 0.5 to 100, finer in the tail, as sorted (percent,
    # microseconds) pairs: what merging slices of one connection count needs.
    latency_quantiles: tuple[tuple[float, int], ...] = ()
    # The same for the requests wrk sent: latency_ms and latency_quantiles are wrk's, with the
    # requests it adds for coordinated omission (bench/soak/omission.py); these are without.
    sent_latency_ms: dict[str, float] = field(default_factory=dict)  # p50, p90, p99, p999, max
    sent_quantiles: tuple[tuple[float, int], ...] = ()
    # Responses in the whole seconds after the warm-up (steady_state()), and how many seconds.
    steady_requests: int = 0
    steady_seconds: int = 0

    @property
    def requests_per_s(self) -> float:
        """The steady state's rate; the whole run's when it was too short to have one."""
        if self.steady_seconds:
            return self.steady_requests / self.steady_seconds
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def server_errors(self) -> int:
        return sum(count for status, count in self.statuses.items() if status.startswith("5"))

    @property
    def unexpected_statuses(self) -> dict[str, int]:
        """Answers other than 2xx and 3xx, by status: the 404s of the mix included."""
        return {s: n for s, n in sorted(self.statuses.items()) if not s.startswith(("2", "3"))}

    @property
    def strays(self) -> int:
        """Answers that are none of the mix's kinds: a redirect to the login page (the session
        was lost), or a status no request of the mix should get."""
        return self.received.get("redirect", 0) + self.received.get("other", 0)

    @property
    def socket_errors(self) -> int:
        return sum(self.errors[name] for name in ("connect", "read", "write", "timeout"))

    @property
    def downloads_sent(self) -> int:
        return sum(self.sent.get(kind, 0) for kind in DOWNLOAD_KINDS)

    @property
    def downloads_answered(self) -> int:
        return self.received.get("download", 0)

    @property
    def downloads_in_flight(self) -> int:
        """Downloads sent whose answer wrk never read: it stops with requests outstanding."""
        return max(0, self.downloads_sent - self.downloads_answered)

    @property
    def missing_answered(self) -> int:
        return self.received.get("not_found", 0)

    @property
    def missing_in_flight(self) -> int:
        return max(0, self.sent.get("missing", 0) - self.missing_answered)


def figures_of(report: str) -> dict[str, Any]:
    """The figures mix.lua's done() printed into wrk's report."""
    for line in report.splitlines():
        if line.startswith(MARKER):
            figures: dict[str, Any] = json.loads(line[len(MARKER) :])
            return figures
    raise ValueError(f"no {MARKER.strip()} line in wrk's report:\n{report}")


def parse(report: str, connections: int) -> Outcome:
    """mix.lua's figures from wrk's report of a run with this many connections (what wrk's
    coordinated-omission correction depends on)."""
    figures = figures_of(report)
    quantiles = _quantiles(figures.get("latency_quantiles", ""))
    interval_us = omission.wrk_interval_us(figures["duration_us"], figures["requests"], connections)
    sent_quantiles = omission.uncorrected(quantiles, interval_us)
    return Outcome(
        seconds=figures["duration_us"] / 1e6,
        requests=figures["requests"],
        latency_ms={name: value / 1000 for name, value in figures["latency_us"].items()},
        errors=figures["errors"],
        sent=figures["sent"],
        received=figures["received"],
        statuses=figures["statuses"],
        latency_quantiles=quantiles,
        sent_latency_ms=(
            _summary(_percentiles([(sent_quantiles, figures["requests"])])) if quantiles else {}
        ),
        sent_quantiles=sent_quantiles,
        **steady_state(answers_per_second(figures)),
    )


def answers_per_second(figures: dict[str, Any]) -> dict[int, int]:
    """Answers by second of the clock (Unix time) they arrived in."""
    pairs = (pair.split(":") for pair in figures.get("per_second", "").split(",") if pair)
    return {int(second): int(count) for second, count in pairs}


def steady_state(per_second: dict[int, int]) -> dict[str, int]:
    """Responses and seconds of the run's steady state: the whole seconds of the clock after
    the warm-up. The first and last seconds with a response are partial; a second without
    any counts as zero."""
    if not per_second:
        return {"steady_requests": 0, "steady_seconds": 0}
    seconds = range(min(per_second) + 1 + WARMUP_S, max(per_second))
    return {
        "steady_requests": sum(per_second.get(second, 0) for second in seconds),
        "steady_seconds": len(seconds),
    }


def _quantiles(text: str) -> tuple[tuple[float, int], ...]:
    pairs = (pair.split(":") for pair in text.split(",") if pair)
    return tuple(sorted((float(percent), int(us)) for percent, us in pairs))


# Merged percentiles may fall short of a rank by float rounding of the summed shares.
_RANK_SLACK = 1e-9
_SUMMARY_POINTS = (("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p999", 99.9))


def _percentiles(
    distributions: Sequence[tuple[Sequence[tuple[float, int]], int]],
) -> Callable[[float], float]:
    """Percentiles (in ms) of several runs' requests together, from each run's (quantiles,
    requests): each run's requests between two of its percentiles count at the higher one's
    latency, so a merged figure is exact at the grid's percentiles and never understated between
    them."""
    weighted: list[tuple[int, float]] = []  # (microseconds, requests)
    for quantiles, requests in distributions:
        below = 0.0
        for percent, us in quantiles:
            weighted.append((us, (percent - below) / 100 * requests))
            below = percent
    weighted.sort()
    total = sum(requests for _, requests in weighted)

    def percentile(percent: float) -> float:
        wanted = percent / 100 * total * (1 - _RANK_SLACK)
        seen = 0.0
        for us, requests in weighted:
            seen += requests
            if seen >= wanted:
                return us / 1000
        return 0.0

    return percentile


def _summary(percentile: Callable[[float], float]) -> dict[str, float]:
    figures = {name: percentile(percent) for name, percent in _SUMMARY_POINTS}
    figures["max"] = percentile(100.0)
    return figures


def _on_grid(
    percentile: Callable[[float], float], grid: Sequence[tuple[float, int]]
) -> tuple[tuple[float, int], ...]:
    return tuple((percent, round(percentile(percent) * 1000)) for percent, _ in grid)


def merge(outcomes: Sequence[Outcome]) -> Outcome:
    """Several runs of the mix as one: counts and durations summed, and latencies from the runs'
    distributions weighted by their requests (_percentiles()), so the p99 is that of every
    request rather than a mean of p99s. One run merged gives wrk's own figures back."""
    if not outcomes:
        raise ValueError("nothing to merge")
    if any(outcome.requests and not outcome.latency_quantiles for outcome in outcomes):
        raise ValueError("a run without its latency distribution cannot be merged")
    wrks = _percentiles([(outcome.latency_quantiles, outcome.requests) for outcome in outcomes])
    sent = _percentiles([(outcome.sent_quantiles, outcome.requests) for outcome in outcomes])
    latency_ms = {name: wrks(percent) for name, percent in _SUMMARY_POINTS}
    latency_ms["max"] = max(outcome.latency_ms["max"] for outcome in outcomes)
    requests = sum(outcome.requests for outcome in outcomes)
    latency_ms["mean"] = (
        sum(outcome.latency_ms["mean"] * outcome.requests for outcome in outcomes) / requests
        if requests
        else 0.0
    )
    grid = outcomes[0].latency_quantiles
    every_sent = all(outcome.sent_quantiles for outcome in outcomes)
    return Outcome(
        seconds=sum(outcome.seconds for outcome in outcomes),
        requests=requests,
        latency_ms=latency_ms,
        errors=_summed(outcome.errors for outcome in outcomes),
        sent=_summed(outcome.sent for outcome in outcomes),
        received=_summed(outcome.received for outcome in outcomes),
        statuses=_summed(outcome.statuses for outcome in outcomes),
        latency_quantiles=_on_grid(wrks, grid),
        sent_latency_ms=_summary(sent) if every_sent else {},
        sent_quantiles=_on_grid(sent, grid) if every_sent else (),
        steady_requests=sum(outcome.steady_requests for outcome in outcomes),
        steady_seconds=sum(outcome.steady_seconds for outcome in outcomes),
    )


def _summed(counts: Iterable[dict[str, int]]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for each in counts:
        total.update(each)
    return dict(total)
