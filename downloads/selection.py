"""Which files a request picks: a search, or ticked ids, checked against the policy and the limits.

A selection that names any file the user may not download (or that does not exist) is a 404 for
the whole request, with the same body as any other 404: a zip never silently lacks a file the
user asked for, and a stranger's id cannot be told from a missing one.
"""

import uuid
from collections.abc import Sequence

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db.models import Q, QuerySet
from django.http import Http404
from django.template.defaultfilters import filesizeformat

from downloads.access import downloadable_files
from downloads.conf import app_settings
from downloads.models import StoredFile


class BadSelectionError(ValueError):
    """Nothing selected, or something that is not a file id: a 400."""


class FilesNotFoundError(Http404):
    """Some ids are missing or not the user's: the same 404 as any other, and which ids, for the
    download log."""

    def __init__(self, ids: list[uuid.UUID]) -> None:
        super().__init__("No file matches the given query.")
        self.ids = ids


class SelectionTooLargeError(ValueError):
    """More files or bytes than one zip may hold (DOWNLOADS_ZIP_MAX_*): a 413."""


class SearchTooLongError(ValueError):
    """A search longer than MAX_SEARCH_LENGTH: a 400 wherever it was run (see searchlimit.py).

    A LIKE pattern of 50,000 bytes is an error on SQLite, and long ones are slow everywhere; no
    file name is that long (255 characters at most)."""


# The longest search any page, the API, the exports or an admin changelist runs.
MAX_SEARCH_LENGTH = 200


def check_search_length(query: str) -> str:
    query = query.strip()
    if len(query) > MAX_SEARCH_LENGTH:
        raise SearchTooLongError(
            f"A search may be at most {MAX_SEARCH_LENGTH} characters long; "
            f"this one is {len(query):,}."
        )
    return query


def search_files(files: QuerySet[StoredFile], query: str) -> QuerySet[StoredFile]:
    """The files whose name or description contains `query`; all of them for an empty query."""
    query = check_search_length(query)
    if not query:
        return files
    return files.filter(Q(name__icontains=query) | Q(description__icontains=query))


def files_by_id(user: AbstractBaseUser | AnonymousUser, raw_ids: Sequence[str]) -> list[StoredFile]:
    """The files named, in the order named; Http404 if any is not the user's to download."""
    ids = list(dict.fromkeys(_parse_id(raw) for raw in raw_ids))
    if not ids:
        raise BadSelectionError("Tick at least one file.")
    if len(ids) > app_settings().zip_max_files:
        raise _too_many(len(ids))
    found = {stored.pk: stored for stored in downloadable_files(user).filter(pk__in=ids)}
    if len(found) != len(ids):
        raise FilesNotFoundError([file_id for file_id in ids if file_id not in found])
    files = [found[file_id] for file_id in ids]
    _check_bytes(files)
    return files


def files_within_limits(files: QuerySet[StoredFile]) -> list[StoredFile]:
    """All of `files` (a search, an admin selection), or SelectionTooLargeError."""
    limit = app_settings().zip_max_files
    # One row past the limit is enough to know it is exceeded, without loading a million rows.
    found = list(files[: limit + 1])
    if len(found) > limit:
        raise _too_many(files.count())
    if not found:
        raise BadSelectionError("No file to put in a zip.")
    _check_bytes(found)
    return found


def _parse_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise BadSelectionError(f"“{raw[:40]}” is not a file id.") from None


def _too_many(count: int) -> SelectionTooLargeError:
    return SelectionTooLargeError(
        f"{count:,} files are more than one zip may hold "
        f"(at most {app_settings().zip_max_files:,}). Select fewer files."
    )


def _check_bytes(files: Sequence[StoredFile]) -> None:
    total = sum(stored.size for stored in files)
    limit = app_settings().zip_max_bytes
    if total > limit:
        raise SelectionTooLargeError(
            f"These files add up to {filesizeformat(total)}, more than one zip may hold "
            f"(at most {filesizeformat(limit)}). Select fewer files."
        )
