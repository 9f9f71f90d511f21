"""A paginator that does not count ten million rows to draw the admin's page links.

On PostgreSQL, a large result's size is the planner's estimate: `pg_class.reltuples` for a
whole table, the plan's row estimate for a filtered one. Below `EXACT_BELOW` rows (and on
SQLite, which keeps no estimate) it is counted exactly, as Django's paginator does. The estimate
only places page links; every page's rows are the real ones.

SQLite keeps no estimate: there the count stops at EXACT_BELOW + 1 rows, and a larger result
says "more than 100,000" (`capped`), its page links reaching the first 100,000 rows. Without the
cap a search for a common term counted every matching row of the log (1M rows: 0.5-1 s).
"""

import json
from functools import cached_property
from typing import Any

from django.core.paginator import Paginator
from django.db import connections
from django.db.models import QuerySet

# Counting this many rows by index takes a few ms; past it, an estimate is shown instead.
EXACT_BELOW = 100_000


def planner_estimate(rows: QuerySet[Any]) -> int | None:
    """PostgreSQL's estimate of how many rows `rows` holds; None where there is none."""
    connection = connections[rows.db]
    if connection.vendor != "postgresql":
        return None
    query = rows.order_by().query
    with connection.cursor() as cursor:
        if not query.where and not query.combinator and not query.distinct:
            cursor.execute(
                "SELECT reltuples FROM pg_class WHERE oid = %s::regclass",
                [rows.model._meta.db_table],
            )
            found = cursor.fetchone()
            # -1: never vacuumed or analysed; then the plan's estimate below.
            if found and found[0] >= 0:
                return int(found[0])
        sql, params = query.sql_with_params()
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


class EstimatingPaginator(Paginator):
    """Django's paginator, but `count` is PostgreSQL's estimate when that is large."""

    estimated = False
    capped = False

    @cached_property
    def count(self) -> int:
        if isinstance(self.object_list, QuerySet):
            estimate = planner_estimate(self.object_list)
            if estimate is not None and estimate >= EXACT_BELOW:
                self.estimated = True
                return estimate
            if estimate is None:
                return self._count_at_most(self.object_list)
        exact: int = super().count
        return exact

    def _count_at_most(self, rows: QuerySet[Any]) -> int:
        """The count, read no further than EXACT_BELOW + 1 rows (a database with no estimate)."""
        # Only the ids: the rows' joined columns and annotations (a file's download count over
        # a left join) are not selected, so the database can leave their joins out.
        found = rows.order_by().values("pk")[: EXACT_BELOW + 1].count()
        if found > EXACT_BELOW:
            self.capped = True
            return EXACT_BELOW
        return found
