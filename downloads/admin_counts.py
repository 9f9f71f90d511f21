"""The stored-file changelist sorted by downloads, a page read in order from an index.

Django's changelist breaks ties with `-pk` whatever the direction of the first key: sorted by
downloads that is `ORDER BY total, stored_file.id DESC`, which no index holds in order, so
SQLite sorted every file of a tied count (most files have the same few counts) before the
first page. With the tie broken by the counter's own `file_id` (the same value: the join is
on it) in the count's direction, `downloadcount (total, file_id)` (migration 0010) holds the
whole order, read forwards or backwards, and the page stops after its rows.
"""

from typing import Any

from django.contrib.admin.views.main import ChangeList
from django.http import HttpRequest

# The admin's annotation of each file's count (StoredFileAdmin.get_queryset).
COUNT_ORDER = "download_total"
TIE_BREAK = "download_counter__file_id"


def count_ordering(ordering: list[Any]) -> list[Any]:
    """`ordering` with its `-pk` tie-break following the count's direction when the count is
    the first key; any other ordering unchanged."""
    if len(ordering) < 2 or ordering[-1] != "-pk" or not isinstance(ordering[0], str):
        return ordering
    first = ordering[0]
    if first.lstrip("-") != COUNT_ORDER:
        return ordering
    direction = "-" if first.startswith("-") else ""
    return [*ordering[:-1], direction + TIE_BREAK]


class CountOrderedChangeList(ChangeList):
    def get_ordering(self, request: HttpRequest, queryset: Any) -> list[Any]:
        return count_ordering(super().get_ordering(request, queryset))
