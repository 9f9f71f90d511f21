"""Lists of a user's files (My files, the API, the CSV export) that stay fast with 100,000 files.

The policy (access.py) is one query, "owner, or an unexpired grant to the user or one of their
groups", which the database can only answer by testing every stored file: a correlated EXISTS
per row, then the sort (4.5 s for one page at 100,000 files, README Performance). Here the same
policy runs only over the files that can possibly pass it: those the user owns or that have any
grant to the user or their groups, found through the owner and grant indexes. The policy still
decides every row, so this never lists more than it allows; it would list less only if the
policy gained a way to reach a file that is not an ownership or a grant, which
tests/test_listing.py guards by comparing both for every kind of user.
"""

from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db.models import QuerySet

from downloads.access import downloadable_files
from downloads.models import Grant, StoredFile


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
