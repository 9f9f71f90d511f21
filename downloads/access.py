"""The one access policy: which files a user may download. Nothing else decides.

The list page, the download view, the JSON API and the admin's download link all start from
`downloadable_files(user)`, so "may this user have this file" is one SQL query whatever the
number of grants or groups.
"""

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser, Permission
from django.db.models import Exists, OuterRef, Q, QuerySet

from downloads.models import Grant, StoredFile

DOWNLOAD_ANY = ("downloads", "download_any")


def downloadable_files(user: AbstractBaseUser | AnonymousUser) -> QuerySet[StoredFile]:
    files = StoredFile.objects.all()
    if not user.is_authenticated:
        return files.none()
    if getattr(user, "is_superuser", False):
        return files
    allowed = Q(owner=user) | Q(
        Exists(
            Grant.objects.live()
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
