"""The download log's admin search, with the rows Django's own search finds, through indexes.

Django's search over `file_name`, `user__username` and `ip` joins the users table and ORs a
condition on it with conditions on the log: no index can answer that, so every search read the
whole log. Here each term's user names are looked up first, in the (small) users table, and the
log is asked for `file_name`, `ip` or `user_id IN (those ids)`: three conditions on the log's own
columns. On PostgreSQL each has an index (trigram GIN indexes on the same `UPPER(...)`
expressions Django's `icontains` compares, migration 0006, and `(user, at)`), so a rare term is a
bitmap scan of the rows it names; a common one reads the log newest first and stops after a page,
as before. On SQLite a term of three characters or more is first looked up in the log's FTS5
trigram table (downloads/logfts.py, migration 0008): if it names up to 50,000 rows, their ids
narrow the rows Django's own condition is then applied to; a commoner term reads the log newest
first and stops after a page; a term shorter than three characters has no trigram and reads the
log as before. A search made only of such short terms (no trigram on either database: pg_trgm
cannot narrow them either) is bounded instead: it looks at the newest SHORT_SEARCH_ROWS rows of
the log only, and the admin says so.

The terms are split and unquoted as Django's `ModelAdmin.get_search_results` does, and each is
compared with the same `icontains` lookups: the same rows, as tests/test_log_search.py checks
against Django's own search.
"""

from typing import Any

from django.db import connections
from django.db.models import Q, QuerySet
from django.db.models.expressions import RawSQL
from django.utils.text import smart_split, unescape_string_literal

from downloads import logfts
from downloads.models import DownloadLog

# Past this many matching users, a term's users stay a subquery instead of a list of ids: such a
# term matches most of the log anyway, which is read newest first and stops after a page.
MAX_USER_IDS = 1_000

# The admin's search_fields, which this module answers for: the log's own columns, and the
# user's name, reached through `user_id`.
SEARCH_FIELDS = ("file_name", "user__username", "ip")
LOG_FIELDS = ("file_name", "ip")

# A search of only 1- or 2-character terms reads no further back than this many rows: any such
# term is in most rows, and one that is not would read the whole log (1M rows, SQLite: 1.3 s for
# the page, 0.5 s to count).
SHORT_SEARCH_ROWS = 100_000


def short_search_message() -> str:
    return (
        f"Terms shorter than 3 characters are looked for in the newest {SHORT_SEARCH_ROWS:,} "
        "log entries only: add a longer term to search the whole log."
    )


def search_terms(search_term: str) -> list[str]:
    """The terms of a search, split and unquoted as the admin's own search does."""
    terms = []
    for bit in smart_split(search_term):
        if bit.startswith(('"', "'")) and bit[0] == bit[-1]:
            bit = unescape_string_literal(bit)
        terms.append(bit)
    return terms


def users_named(rows: QuerySet[Any], term: str) -> Any:
    """Ids of the users whose name contains `term`: a list when short, else a subquery (on
    the database of `rows`; the stored files' search asks it for their owners too)."""
    users = DownloadLog._meta.get_field("user").related_model
    named = users._default_manager.using(rows.db).filter(username__icontains=term).order_by()
    ids = list(named.values_list("pk", flat=True)[: MAX_USER_IDS + 1])
    return ids if len(ids) <= MAX_USER_IDS else named.values("pk")


def only_short_terms(search_term: str) -> bool:
    """Whether no term of the search is long enough for a trigram index (and some term is)."""
    terms = search_terms(search_term)
    return bool(terms) and all(len(term) < logfts.MIN_TERM for term in terms)


def newest_rows(rows: QuerySet[DownloadLog]) -> QuerySet[DownloadLog]:
    """`rows` among the log's newest SHORT_SEARCH_ROWS rows (by `at`, through its index: the
    changelist then reads that index's newest entries only; rows of the same moment as the
    last one stay in)."""
    log = DownloadLog._default_manager.using(rows.db).order_by("-at")
    oldest = log.values_list("at", flat=True)[SHORT_SEARCH_ROWS - 1 : SHORT_SEARCH_ROWS].first()
    return rows if oldest is None else rows.filter(at__gte=oldest)


def search_log(rows: QuerySet[DownloadLog], search_term: str) -> QuerySet[DownloadLog]:
    """`rows` narrowed to those every term of `search_term` finds (in a name, a user, an IP);
    a search of only short terms, among the newest SHORT_SEARCH_ROWS rows of the log."""
    if only_short_terms(search_term):
        rows = newest_rows(rows)
    found = []
    connection = connections[rows.db]
    indexed = None
    for term in search_terms(search_term):
        if "\x00" in term:
            # No name, user name or IP holds a NUL (names are cleaned of control characters),
            # and PostgreSQL refuses one in any text: such a term finds nothing, on both.
            return rows.none()
        on_the_log = Q.create([(f"{name}__icontains", term) for name in LOG_FIELDS], connector=Q.OR)
        if logfts.can_answer(term):
            if indexed is None:
                indexed = logfts.ready(connection)
            if indexed and logfts.names_few_rows(connection, term):
                # The index's candidates (a superset: it folds every letter's case), then
                # Django's own condition on them: exactly the rows of Django's search.
                # The SQL is constant; the term is a parameter.
                candidates = RawSQL(logfts.matching_ids_sql(), [logfts.phrase(term)])  # noqa: S611
                on_the_log = Q(pk__in=candidates) & on_the_log
        found.append(on_the_log | Q(user_id__in=users_named(rows, term)))
    return rows.filter(*found)
