"""Running wrk and reading its report."""

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

_TIME_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}
_LATENCY = re.compile(r"^\s*(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m|h)\s*$", re.MULTILINE)
_RATE = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
_TOTAL = re.compile(r"^\s*(\d+) requests in ", re.MULTILINE)
_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_SOCKET_ERRORS = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


class WrkError(RuntimeError):
    """wrk failed, or its report could not be read."""


@dataclass(frozen=True)
class WrkResult:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    # Answers other than 2xx/3xx, and connect/read/write/timeout errors: a run with any is void.
    errors: int
    # wrk's whole report, with whatever a Lua script's done() printed after it.
    report: str = ""


def parse(report: str) -> WrkResult:
    latencies = {
        percent: float(value) * _TIME_UNITS[unit]
        for percent, value, unit in _LATENCY.findall(report)
    }
    rate = _RATE.search(report)
    total = _TOTAL.search(report)
    if rate is None or total is None or set(latencies) != {"50", "99"}:
        raise WrkError(f"unreadable wrk report:\n{report}")
    errors = 0
    if non_2xx := _NON_2XX.search(report):
        errors += int(non_2xx[1])
    if socket_errors := _SOCKET_ERRORS.search(report):
        # Read errors are how wrk counts connections the server closes at the run's end.
        errors += int(socket_errors[1]) + int(socket_errors[3]) + int(socket_errors[4])
    return WrkResult(
        requests_per_s=float(rate[1]),
        p50_ms=latencies["50"],
        p99_ms=latencies["99"],
        requests=int(total[1]),
        errors=errors,
        report=report,
    )


def thread_count(threads: int, connections: int) -> int:
    """The threads wrk runs with: never more than connections (wrk refuses that)."""
    return min(threads, connections)


def run(
    url: str,
    *,
    seconds: float,
    connections: int,
    threads: int,
    headers: dict[str, str] | None = None,
    timeout_s: float = 5.0,
    script: Path | None = None,
    script_args: list[str] | None = None,
) -> WrkResult:
    """wrk against `url`; with `script`, a Lua script (its `init` gets `script_args`) decides
    what each request is, and `url` is only where the connections go."""
    command = [
        "wrk",
        f"--threads={thread_count(threads, connections)}",
        f"--connections={connections}",
        f"--duration={max(1, round(seconds))}s",
        f"--timeout={timeout_s:g}s",
        "--latency",
    ]
    for name, value in (headers or {}).items():
        command += ["--header", f"{name}: {value}"]
    if script is not None:
        command += ["--script", str(script)]
    command += ["--", url, *(script_args or [])]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + timeout_s + 30, check=False
    )
    if done.returncode != 0:
        raise WrkError(f"wrk exited with {done.returncode}: {done.stderr or done.stdout}")
    return parse(done.stdout)
