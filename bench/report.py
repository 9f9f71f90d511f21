"""Medians of the rounds, ratios to the reference rows, the targets, the table and the JSON."""

import json
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.rows import DIRECT, PEERS, SIGNED_DJANGO, SIGNED_NGINX, WHITENOISE, Row

# raw[row][column][metric] = one value per round
Raw = dict[str, dict[str, dict[str, list[float]]]]
Medians = dict[str, dict[str, dict[str, float]]]

PROTECTED_LOCAL = ("django-gunicorn", "django-nginx", "nginx-mode")


def medians(raw: Raw) -> Medians:
    return {
        row: {
            column: {metric: statistics.median(values) for metric, values in metrics.items()}
            for column, metrics in columns.items()
        }
        for row, columns in raw.items()
    }


def _get(m: Medians, row: str, column: str, metric: str) -> float | None:
    return m.get(row, {}).get(column, {}).get(metric)


def ratio(m: Medians, row: str, column: str, metric: str, reference: str) -> float | None:
    value, base = _get(m, row, column, metric), _get(m, reference, column, metric)
    if value is None or not base:
        return None
    return value / base


@dataclass(frozen=True)
class Target:
    what: str
    value: float | None
    goal: str
    met: bool
    # Why a target holds with nothing to measure (a peer that answers no range).
    note: str = ""


def targets(m: Medians) -> list[Target]:
    found: list[Target] = []

    def at_least(what: str, value: float | None, goal: float) -> None:
        met = value is not None and value >= goal
        found.append(Target(what, value, f">= {goal:g}x", met))

    for row in PROTECTED_LOCAL:
        at_least(f"1 KiB {row} / WhiteNoise", ratio(m, row, "1KiB", "rps", WHITENOISE), 0.5)
    at_least("1 MiB nginx-mode / direct", ratio(m, "nginx-mode", "1MiB", "rps", DIRECT), 0.4)
    for row in ("django-gunicorn", "django-nginx"):
        at_least(f"1 MiB {row} / direct", ratio(m, row, "1MiB", "rps", DIRECT), 0.3)
    for row in PROTECTED_LOCAL:
        at_least(f"1 GiB {row} / direct", ratio(m, row, "1GiB", "mib_s", DIRECT), 0.9)
        growth = _get(m, row, "1GiB", "rss_growth_mib")
        met = growth is not None and growth < 30
        found.append(Target(f"1 GiB {row} worker RSS growth MiB", growth, "< 30", met))
    for row in (*PROTECTED_LOCAL, "s3-fetch"):
        status = _get(m, row, "range", "status")
        latency = ratio(m, row, "range", "p50_ms", DIRECT)
        met = status == 206 and latency is not None and latency <= 2
        found.append(Target(f"range {row}: 206, p50 / direct", latency, "<= 2x", met))
    found += signed_targets(m) + peer_targets(m)
    return found


def signed_targets(m: Medians) -> list[Target]:
    """Issue 11: what signed media URLs must give, as ratios within the run."""
    found: list[Target] = []
    gallery = "gallery (page + 50 images)"
    for row, goal in ((SIGNED_NGINX, 1.3), (SIGNED_DJANGO, 2.0)):
        value = ratio(m, row, "gallery", "wall_ms", DIRECT)
        found.append(
            Target(f"{gallery} {row} / public static", value, f"<= {goal:g}x", _le(value, goal))
        )
    value = ratio(m, SIGNED_NGINX, "seek", "p50_ms", DIRECT)
    found.append(Target(f"seek p50 {SIGNED_NGINX} / direct", value, "<= 1.5x", _le(value, 1.5)))
    value = ratio(m, SIGNED_NGINX, "1KiB", "rps", DIRECT)
    found.append(Target(f"1 KiB {SIGNED_NGINX} / direct", value, ">= 0.8x", _ge(value, 0.8)))
    value = ratio(m, SIGNED_DJANGO, "1KiB", "rps", "django-nginx")
    found.append(
        Target(f"1 KiB {SIGNED_DJANGO} / django-nginx (checked)", value, ">= 2x", _ge(value, 2))
    )
    return found


def peer_targets(m: Medians) -> list[Target]:
    """Issue 11: the checked download ahead of every peer. The app's X-Accel row (nginx-mode)
    against each peer, and django mode against the one peer that also sends bytes from Python."""
    found: list[Target] = []
    pairs = [("nginx-mode", peer) for peer in PEERS] + [("django-nginx", "peer-handwritten")]
    for ours, peer in pairs:
        if peer not in m:
            continue
        for column, metric, name in (
            ("1KiB", "rps", "1 KiB req/s"),
            ("1MiB", "rps", "1 MiB req/s"),
            ("1GiB", "mib_s", "1 GiB MiB/s"),
        ):
            value = ratio(m, ours, column, metric, peer)
            found.append(Target(f"{name} {ours} / {peer}", value, ">= 1x", _ge(value, 1)))
        what = f"range p50 {peer} / {ours}"
        if _get(m, peer, "range", "status") not in (None, 206):
            found.append(Target(what, None, ">= 1x", True, note=f"{peer} answers no range"))
            continue
        value = ratio(m, peer, "range", "p50_ms", ours)
        found.append(Target(what, value, ">= 1x", _ge(value, 1)))
    return found


def _ge(value: float | None, goal: float) -> bool:
    return value is not None and value >= goal


def _le(value: float | None, goal: float) -> bool:
    return value is not None and value <= goal


def _num(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "—"
    return f"{value:,.{digits}f}"


def _ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}x"


def _ms(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.2f}" if value < 10 else f"{value:,.0f}"


HEADER = [
    "row",
    "1K req/s",
    "1K x WN",
    "1K p50 ms",
    "1K p99 ms",
    "1K CPU ms",
    "1M req/s",
    "1M MiB/s",
    "1M x direct",
    "1M p50 ms",
    "1M p99 ms",
    "1G MiB/s",
    "1G x direct",
    "1G CPU s/GiB",
    "1G RSS MiB",
    "range",
    "range p50 ms",
    "range x direct",
    "zip MiB/s",
    "zip RSS MiB",
]


def table_rows(m: Medians, rows: list[Row]) -> list[list[str]]:
    lines = []
    for row in rows:
        k = row.key

        def g(column: str, metric: str, key: str = k) -> float | None:
            return _get(m, key, column, metric)

        rss = "—"
        if g("1GiB", "rss_before_mib") is not None:
            rss = f"{g('1GiB', 'rss_before_mib'):.0f}->{g('1GiB', 'rss_peak_mib'):.0f}"
        zip_rss = "—"
        if g("zip", "rss_before_mib") is not None:
            zip_rss = f"{g('zip', 'rss_before_mib'):.0f}->{g('zip', 'rss_peak_mib'):.0f}"
        status = g("range", "status")
        lines.append(
            [
                row.label,
                _num(g("1KiB", "rps")),
                _ratio(ratio(m, k, "1KiB", "rps", WHITENOISE)),
                _ms(g("1KiB", "p50_ms")),
                _ms(g("1KiB", "p99_ms")),
                _num(g("1KiB", "cpu_ms"), 2),
                _num(g("1MiB", "rps")),
                _num(g("1MiB", "mib_s")) if k != "s3-redirect" else "—",
                _ratio(ratio(m, k, "1MiB", "rps", DIRECT)),
                _ms(g("1MiB", "p50_ms")),
                _ms(g("1MiB", "p99_ms")),
                _num(g("1GiB", "mib_s")),
                _ratio(ratio(m, k, "1GiB", "mib_s", DIRECT)),
                _num(g("1GiB", "cpu_s_per_gib"), 2),
                rss,
                "—" if status is None else f"{status:.0f}",
                _ms(g("range", "p50_ms")),
                _ratio(ratio(m, k, "range", "p50_ms", DIRECT)),
                _num(g("zip", "mib_s")),
                zip_rss,
            ]
        )
    return lines


def markdown_table(header: list[str], lines: list[list[str]]) -> str:
    widths = [max(len(cell) for cell in column) for column in zip(header, *lines, strict=True)]

    def line(cells: list[str]) -> str:
        padded = [
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "| " + " | ".join(padded) + " |"

    rule = (
        "|"
        + "|".join("-" * (w + 1) + ":" if i else ":" + "-" * (w + 1) for i, w in enumerate(widths))
        + "|"
    )
    return "\n".join([line(header), rule, *(line(cells) for cells in lines)])


BROWSER_HEADER = [
    "row",
    "seek p50 ms",
    "seek p99 ms",
    "seek x direct",
    "gallery ms",
    "of which page ms",
    "gallery x static",
    "images x static",
]


def browser_rows(m: Medians, rows: list[Row]) -> list[list[str]]:
    """Seeks (20 random 1 MiB ranges in turn; p99 of 20 is the slowest) and the gallery (its
    page, then 50 images of 30 KiB over 6 connections; the reference is a static page and the
    same images as static files through nginx)."""
    lines = []
    for row in rows:
        k = row.key
        if k not in m or not ({"seek", "gallery"} & set(m[k])):
            continue
        lines.append(
            [
                row.label,
                _ms(_get(m, k, "seek", "p50_ms")),
                _ms(_get(m, k, "seek", "p99_ms")),
                _ratio(ratio(m, k, "seek", "p50_ms", DIRECT)),
                _ms(_get(m, k, "gallery", "wall_ms")),
                _ms(_get(m, k, "gallery", "page_ms")),
                _ratio(ratio(m, k, "gallery", "wall_ms", DIRECT)),
                _ratio(_images_ratio(m, k)),
            ]
        )
    return lines


def _images_ratio(m: Medians, row: str) -> float | None:
    """The gallery without its page (what signed URLs change), to the static images'."""

    def images(key: str) -> float | None:
        wall, page = _get(m, key, "gallery", "wall_ms"), _get(m, key, "gallery", "page_ms")
        return None if wall is None or page is None else wall - page

    value, base = images(row), images(DIRECT)
    return None if value is None or not base else value / base


def render(m: Medians, rows: list[Row], found: list[Target], notes: list[str]) -> str:
    text = [markdown_table(HEADER, table_rows(m, rows)), ""]
    if browser := browser_rows(m, rows):
        text += [markdown_table(BROWSER_HEADER, browser), ""]
    text += [*notes, "", "Targets:"]
    for target in found:
        if target.note:
            text.append(f"  [{'met' if target.met else 'NOT met'}] {target.what}: {target.note}")
            continue
        if target.value is None:
            text.append(f"  [not measured] {target.what}")
            continue
        verdict = "met" if target.met else "NOT met"
        text.append(f"  [{verdict}] {target.what}: {target.value:.2f} ({target.goal})")
    return "\n".join(text)


def write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
