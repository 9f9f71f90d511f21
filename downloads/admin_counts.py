"""The stored-file changelist sorted by downloads, a page read in order from an index.

The list shows each file's count from `DownloadCount` over a left join (a file is listed even
without a counter row), which SQLite and PostgreSQL leave out where nothing needs it: the
count of the page links, the owner filter's choices. Sorted by downloads, though, the order of
`COALESCE(total, 0)` over a left join is held by no index: every file was joined and sorted
for one page. Every file has its counter row (a trigger on the files' insert, migration 0010),
so sorted by downloads the changelist orders by the counter's own columns over an inner join,
`total` and then `file_id` in the same direction (the same value as the file's id: the join is
on it; Django's tie-break `-pk` whatever the direction would need a sort), and reads the page
from `downloadcount (total, file_id)` forwards or backwards, stopping after its rows.
"""

from typing import Any

from django.contrib.admin.views.main import ChangeList
from django.db.models import QuerySet
from django.http import HttpRequest

# The admin's annotation of each file's count (StoredFileAdmin.get_queryset).
COUNT_ORDER = "download_total"
COUNT_COLUMN = "download_counter__total"
TIE_BREAK = "download_counter__file_id"


def count_ordering(ordering: list[Any]) -> list[Any]:
    """`ordering` by the counter's columns when the count is its first key and `-pk` its
    tie-break; any other ordering unchanged."""
    if len(ordering) < 2 or ordering[-1] != "-pk" or not isinstance(ordering[0], str):
        return ordering
    first = ordering[0]
    if first.lstrip("-") != COUNT_ORDER:
        return ordering
    direction = "-" if first.startswith("-") else ""
    return [direction + COUNT_COLUMN, *ordering[1:-1], direction + TIE_BREAK]


def sorted_by_count(rows: QuerySet[Any]) -> bool:
    ordering = rows.query.order_by
    return (
        bool(ordering) and isinstance(ordering[0], str) and ordering[0].lstrip("-") == COUNT_COLUMN
    )


class CountOrderedChangeList(ChangeList):
    def get_ordering(self, request: HttpRequest, queryset: Any) -> list[Any]:
        return count_ordering(super().get_ordering(request, queryset))

    def get_queryset(self, request: HttpRequest, *args: Any, **kwargs: Any) -> QuerySet[Any]:
        rows = super().get_queryset(request, *args, **kwargs)
        # The inner join, which lets the database start from the counts' index.
        return rows.filter(download_counter__isnull=False) if sorted_by_count(rows) else rows
