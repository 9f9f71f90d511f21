"""Download-log rows against the downloads wrk saw answered.

Each gunicorn worker writes its rows from a writer thread (downloads/logwriter.py), so rows land
a little after their answers: the count is read again until it stops moving. wrk stops with
requests outstanding, which the server may have answered (and logged) without wrk reading the
answer, so the honest expectation is a range: every answered download has a row, and at most
the ones in flight besides.
"""

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Rows:
    downloads: int  # rows of the soak's files
    denied: int  # rows naming one of the missing ids (only once denied requests are logged)
    # Rows of the soak's files by what became of the request (DownloadLog.outcome; "" before
    # outcomes were recorded), as sorted (outcome, count) pairs.
    outcomes: tuple[tuple[str, int], ...] = ()


def outcomes_between(before: Rows, after: Rows) -> dict[str, int]:
    """Rows added per outcome from `before` to `after`."""
    start = dict(before.outcomes)
    added = {outcome: count - start.get(outcome, 0) for outcome, count in after.outcomes}
    return {outcome: count for outcome, count in added.items() if count}


def count_rows(file_ids: list[str], missing_ids: list[str]) -> Rows:
    """Rows in the database now, read by this process (Django set up on the soak's database)."""
    from django.db import connection
    from django.db.models import Count

    from downloads.models import DownloadLog

    try:
        ours = DownloadLog.objects.filter(file_id__in=_uuids(file_ids))
        outcomes = ours.values_list("outcome").annotate(rows=Count("id")).order_by("outcome")
        return Rows(
            downloads=ours.count(),
            denied=DownloadLog.objects.filter(requested_id__in=_uuids(missing_ids)).count(),
            outcomes=tuple((outcome, rows) for outcome, rows in outcomes),
        )
    finally:
        # No connection left open on the servers' database between reads.
        connection.close()


def _uuids(ids: list[str]) -> list[uuid.UUID]:
    return [uuid.UUID(id_) for id_ in ids]


def settle(
    read: Callable[[], Rows],
    at_least: Rows,
    *,
    quiet_s: float = 1.0,
    give_up_s: float = 5.0,
    deadline_s: float = 60.0,
) -> tuple[Rows, float]:
    """Read until the count holds still for `quiet_s` with at least `at_least` rows, or for
    `give_up_s` short of it, or `deadline_s` passed; the last count and the seconds it took."""
    started = time.monotonic()
    last = read()
    still_since = started
    while True:
        time.sleep(0.2)
        now = time.monotonic()
        current = read()
        if current != last:
            last, still_since = current, now
            continue
        enough = current.downloads >= at_least.downloads and current.denied >= at_least.denied
        if (enough and now - still_since >= quiet_s) or now - still_since >= give_up_s:
            return current, now - started
        if now - started >= deadline_s:
            return current, now - started


@dataclass(frozen=True)
class Verdict:
    rows: int
    answered: int
    in_flight: int

    @property
    def holds(self) -> bool:
        """Every answer has its row and no row is left without a request behind it."""
        return self.answered <= self.rows <= self.answered + self.in_flight

    def describe(self) -> str:
        extra = self.rows - self.answered
        mark = "ok" if self.holds else "MISMATCH"
        if extra == 0:
            return f"{self.rows:,} = {self.answered:,} {mark}"
        return f"{self.rows:,} = {self.answered:,}{extra:+,} ({self.in_flight} in flight) {mark}"
