"""Which download log rows a staff user may read in the admin and its CSV export.

A row names a file, its id and who downloaded it, so it is shown only to someone the access policy
(access.py) already lets download that file. Rows that name no file the policy can answer for (the
file was deleted, or the request was denied and only `requested_id` remains) are shown only to
those who may see every row: superusers, and staff holding `downloads.view_every_log_entry` or
`downloads.download_any` (who may download every file anyway).
"""

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db.models import QuerySet

from downloads.access import downloadable_files
from downloads.models import DownloadLog

VIEW_EVERY_LOG_ENTRY = "downloads.view_every_log_entry"
DOWNLOAD_ANY = "downloads.download_any"


def sees_every_log_entry(user: AbstractBaseUser | AnonymousUser) -> bool:
    if not user.is_active:
        return False
    # PermissionsMixin's has_perm (AbstractBaseUser alone has none).
    has_perm = getattr(user, "has_perm", None)
    if has_perm is None:
        return False
    if getattr(user, "is_superuser", False) or has_perm(VIEW_EVERY_LOG_ENTRY):
        return True
    # download_any counts only for staff, as in the access policy itself.
    return bool(getattr(user, "is_staff", False)) and bool(has_perm(DOWNLOAD_ANY))


def visible_log_entries(
    user: AbstractBaseUser | AnonymousUser, rows: QuerySet[DownloadLog] | None = None
) -> QuerySet[DownloadLog]:
    """`rows` (default: the whole log) narrowed to what `user` may read."""
    rows = DownloadLog.objects.all() if rows is None else rows
    if not user.is_authenticated:
        return rows.none()
    if sees_every_log_entry(user):
        return rows
    # One subquery: the policy's own queryset, so the log can never show more than it allows.
    return rows.filter(file__in=downloadable_files(user).values("pk"))
