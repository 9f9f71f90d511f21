"""The stored-file admin's search, with the rows Django's own search finds, without the join.

Django's search over `name`, `description`, `owner__username` and `sha256` joins the users
table and ORs a condition on it with conditions on the files: no index answers an OR across a
join, so every search tested every file (100,000 files: `Hash Join ... Join Filter`, 0.95 s).
Here, as for the log (downloads/logsearch.py, whose term splitting and user lookup this
reuses), each term's users are looked up first in the users table, and the files are asked for
`name`, `description`, `sha256` or `owner_id IN (those ids)`, their own columns. On PostgreSQL
each has an index: trigram GIN indexes on the `UPPER(...)` expressions Django's `icontains`
compares (downloads/searchindexes.py, migration 0011) and `(owner, -updated)`, so a rare term
is a bitmap of index scans. On SQLite a term of three characters or more is first looked up in
an FTS5 trigram table (downloads/filefts.py, migration 0011): if it names up to
logfts.INDEXED_AT_MOST files, their ids narrow the files Django's own condition is then applied
to; a commoner or shorter term tests the files in the list's order and stops after a page.
tests/test_file_search.py compares the rows with Django's search.
"""

from django.db import connections
from django.db.models import Q, QuerySet
from django.db.models.expressions import RawSQL

from downloads import filefts, logfts
from downloads.logsearch import search_terms, users_named
from downloads.models import StoredFile

# The admin's search_fields, which this module answers for.
SEARCH_FIELDS = ("name", "description", "owner__username", "sha256")
FILE_FIELDS = ("name", "description", "sha256")


def search_files(rows: QuerySet[StoredFile], search_term: str) -> QuerySet[StoredFile]:
    """`rows` narrowed to those every term of `search_term` finds (in the name, description,
    SHA-256 or owner's name)."""
    found = []
    connection = connections[rows.db]
    indexed = None
    for term in search_terms(search_term):
        if "\x00" in term:
            # No name, description, digest or user name holds a NUL, and PostgreSQL refuses
            # one in any text: such a term finds nothing, on both databases.
            return rows.none()
        on_the_file = Q.create(
            [(f"{name}__icontains", term) for name in FILE_FIELDS], connector=Q.OR
        )
        if logfts.can_answer(term):
            if indexed is None:
                indexed = filefts.ready(connection)
            ids_sql = filefts.matching_ids_sql()
            if indexed and logfts.names_few_rows(connection, term, ids_sql):
                # The index's candidates (a superset: it folds every letter's case), then
                # Django's own condition on them. The SQL is constant; the term a parameter.
                candidates = RawSQL(ids_sql, [logfts.phrase(term)])  # noqa: S611
                on_the_file = Q(pk__in=candidates) & on_the_file
        found.append(on_the_file | Q(owner_id__in=users_named(rows, term)))
    return rows.filter(*found)
