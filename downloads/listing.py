"""Lists of a user's files (My files, the API, the CSV export) that stay fast with 100,000 files.

The policy (access.py) is one query, "owner, or an unexpired grant to the user or one of their
groups", which the database can only answer by testing every stored file: a correlated EXISTS
per row, then the sort (4.5 s for one page at 100,000 files, README Performance). Here the same
policy runs only over the files that can possibly pass it: those the user owns or that have any
grant to the user or their groups, found through the owner and grant indexes. The policy still
decides every row, so this never lists more than it allows; it would list less only if the
policy gained a way to reach a file that is not an ownership or a grant, which
tests/test_listing.py guards by comparing both for every kind of user.

A paginated page (My files, /api/files/) ran that query twice, for the page and for the
paginator's count, the policy deciding every candidate each time (~15 ms each at 1,000 grants
and 20 groups, SQLite). `decided_files` runs it once, at the call, with the page's search, for
the ids only: their number is the count (`FilesPaginator`, no COUNT query), and the page asks
for its rows among those ids: the same files, decided by the policy at the call. A user who may
see more than MAX_LISTED_IDS files keeps the query. The CSV export, which reads its list once
(and a HEAD request not at all), keeps the lazy `listable_files`.
"""

import json
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import QuerySet
from django.db.models.expressions import RawSQL
from django.utils.functional import cached_property

from downloads.access import downloadable_files
from downloads.models import Grant, StoredFile
from downloads.selection import search_files

# Past this many files the ids stay a subquery, decided again by each query that uses them: a
# longer list costs more to send than that second evaluation saves (and SQLite takes at most
# 32,766 parameters).
MAX_LISTED_IDS = 5_000


def listable_files(user: AbstractBaseUser | AnonymousUser) -> QuerySet[StoredFile]:
    """`downloadable_files(user)`, narrowed first to the ids it could possibly contain."""
    files = downloadable_files(user)
    # Superusers and staff (download_any) may see every file: nothing to narrow by.
    if not user.is_authenticated or getattr(user, "is_superuser", False):
        return files
    if getattr(user, "is_staff", False):
        return files
    # Unordered: SQLite takes no ORDER BY inside a UNION.
    owned: QuerySet[Any] = StoredFile.objects.filter(owner_id=user.pk).order_by().values("pk")
    granted = Grant.objects.filter(user_id=user.pk).order_by().values("file_id")
    via_groups = Grant.objects.filter(group__user__pk=user.pk).order_by().values("file_id")
    return files.filter(pk__in=owned.union(granted, via_groups))


@dataclass(frozen=True)
class DecidedFiles:
    files: QuerySet[StoredFile]
    count: int | None  # known when the policy's ids were listed; None: the database counts


def decided_files(user: AbstractBaseUser | AnonymousUser, query: str = "") -> DecidedFiles:
    """`listable_files(user)` matching the search `query` (selection.search_files), the policy
    deciding their ids now, once, for a page and its count. Superusers and staff (no narrowing,
    every file) keep the query."""
    files = search_files(listable_files(user), query)
    if not user.is_authenticated or getattr(user, "is_staff", False):
        return DecidedFiles(files, None)
    allowed = _decided_ids(files.order_by().values_list("pk")[: MAX_LISTED_IDS + 1])
    if allowed.count > MAX_LISTED_IDS:
        return DecidedFiles(files, None)
    return DecidedFiles(StoredFile.objects.filter(pk__in=allowed.subquery), allowed.count)


class FilesPaginator(Paginator):
    """A Paginator that knows its count when the decided ids gave it: no COUNT query."""

    def __init__(self, files: QuerySet[StoredFile], per_page: int, count: int | None) -> None:
        super().__init__(files, per_page)
        self.known_count = count

    @cached_property
    def count(self) -> int:
        return super().count if self.known_count is None else self.known_count


@dataclass(frozen=True)
class _Ids:
    count: int
    subquery: Any  # for `pk__in`: the ids as one parameter


def _decided_ids(ids: QuerySet[Any]) -> _Ids:
    """Runs `ids` now: their number, and the ids as one parameter of a constant subquery for
    the page's query. They come back as the database gives them and go back as they came:
    `pk IN (%s, %s, ...)` would convert and send each of thousands of ids again."""
    sql, params = ids.query.sql_with_params()
    connection = connections[ids.db]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # The array's text, '{id,id,...}': psycopg made a UUID of each id and dumped each
            # one back into the array parameter (11 ms of My files' 52 at 2,200 ids).
            cursor.execute(
                f"SELECT count(*), array_agg(ids.pk)::text FROM ({sql}) AS ids(pk)",  # noqa: S608
                params,
            )
            count, array = cursor.fetchone()
            return _Ids(count, RawSQL("SELECT unnest(%s::uuid[])", [array or "{}"]))
        cursor.execute(sql, params)
        # SQLite's ids are 32 hex digits, kept so: 2,000 UUIDs made one by one cost more
        # than the query (cProfile of My files).
        found = [row[0] for row in cursor.fetchall()]
    if connection.vendor == "sqlite":
        return _Ids(len(found), RawSQL("SELECT value FROM json_each(%s)", [json.dumps(found)]))
    return _Ids(len(found), found)
