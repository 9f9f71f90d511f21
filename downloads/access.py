"""The one access policy: which files a user may download. Nothing else decides.

The list page, the download view, the JSON API and the admin's download link all start from
`downloadable_files(user)`, so "may this user have this file" is one SQL query whatever the
number of grants or groups. The download view asks it for one file through
`downloadable_file()`: the same queryset, compiled to SQL once (downloads/prepared.py).
"""

import uuid
from datetime import UTC, datetime
from functools import cache
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser, Permission
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from downloads.models import Grant, StoredFile
from downloads.prepared import PreparedQuery

DOWNLOAD_ANY = ("downloads", "download_any")


def downloadable_files(
    user: AbstractBaseUser | AnonymousUser, *, now: datetime | None = None
) -> QuerySet[StoredFile]:
    files = StoredFile.objects.all()
    if not user.is_authenticated:
        return files.none()
    if getattr(user, "is_superuser", False):
        return files
    allowed = Q(owner=user) | Q(
        Exists(
            Grant.objects.live(now)
            .filter(file=OuterRef("pk"))
            .filter(Q(user=user) | Q(group__user=user))
        )
    )
    if getattr(user, "is_staff", False):
        # Folded into the same query rather than user.has_perm(), which costs two more.
        app_label, codename = DOWNLOAD_ANY
        allowed |= Q(
            Exists(
                Permission.objects.filter(
                    content_type__app_label=app_label, codename=codename
                ).filter(Q(user=user) | Q(group__user=user))
            )
        )
    return files.filter(allowed)


def downloadable_file(
    user: AbstractBaseUser | AnonymousUser, file_id: uuid.UUID | str
) -> StoredFile | None:
    """The file with this id if `user` may download it; None if it is missing or not theirs."""
    if not user.is_authenticated:
        return None
    kind = (bool(getattr(user, "is_superuser", False)), bool(getattr(user, "is_staff", False)))
    return _one_file_query().first(kind, user_id=user.pk, file_id=file_id, now=timezone.now())


def _one_file(
    kind: tuple[bool, bool], *, user_id: Any, file_id: uuid.UUID, now: datetime
) -> QuerySet[StoredFile]:
    # A stand-in with the id and the flags the policy reads: the SQL depends on nothing else.
    user = get_user_model()(pk=user_id)
    user.is_superuser, user.is_staff = kind
    return downloadable_files(user, now=now).filter(pk=file_id)


@cache
def _one_file_query() -> PreparedQuery[StoredFile]:
    return PreparedQuery(
        StoredFile,
        _one_file,
        fields={
            "user_id": get_user_model()._meta.pk,
            "file_id": StoredFile._meta.pk,
            "now": Grant._meta.get_field("expires_at"),
        },
        stand_ins=(
            {"user_id": 1, "file_id": uuid.UUID(int=1), "now": datetime(2001, 1, 1, tzinfo=UTC)},
            {"user_id": 2, "file_id": uuid.UUID(int=2), "now": datetime(2002, 2, 2, tzinfo=UTC)},
        ),
    )
