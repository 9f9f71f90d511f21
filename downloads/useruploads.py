"""Uploads by users from My files: who may upload, how much, and storing one upload.

Who: anyone holding `downloads.upload_files`, directly or through a group (superusers hold
every permission). How much: DOWNLOADS_USER_UPLOAD_MAX_BYTES per file, and at most
DOWNLOADS_USER_QUOTA_BYTES stored bytes owned per user (0: no quota). Both are judged first from
the request's Content-Length, before its body is read (views_upload.py), and then exactly, from
the bytes received.

Nothing of a refused or failed upload stays: the row and the bytes are written in one
`files_rollback_guard`, so a quota found exceeded after the write, or a storage that fails half
way, takes both back.
"""

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser, AnonymousUser
from django.core.files.uploadedfile import UploadedFile
from django.db.models import Sum
from django.http import HttpRequest
from django.template.defaultfilters import filesizeformat
from django.urls import Resolver404, resolve

from downloads.bodylimit import MULTIPART_ALLOWANCE
from downloads.conf import app_settings
from downloads.files import files_rollback_guard
from downloads.http.disposition import visible_text
from downloads.models import StoredFile

UPLOAD_PERMISSION = "downloads.upload_files"


class UploadRefused(Exception):
    """An upload that may not be stored; the message says why, for the uploader."""

    status = 400


class QuotaExceeded(UploadRefused):
    status = 413


def may_upload(user: AbstractUser | AnonymousUser) -> bool:
    return bool(user.is_authenticated and user.is_active and user.has_perm(UPLOAD_PERMISSION))


def user_upload_body_limit() -> int:
    """The most body bytes one upload request may send: the file and its multipart framing."""
    return app_settings().user_upload_max_bytes + MULTIPART_ALLOWANCE


def stored_bytes(user_id: int) -> int:
    """Bytes of every file the user owns, whoever uploaded them."""
    total = StoredFile.objects.filter(owner_id=user_id).aggregate(total=Sum("size"))["total"]
    return int(total or 0)


@dataclass(frozen=True)
class Quota:
    limit: int  # 0: none
    used: int

    @classmethod
    def of(cls, user_id: int) -> "Quota":
        limit = app_settings().user_quota_bytes
        return cls(limit=limit, used=stored_bytes(user_id) if limit else 0)

    @property
    def left(self) -> int | None:
        return max(0, self.limit - self.used) if self.limit else None

    def refusal_for_body(self, content_length: int) -> QuotaExceeded | None:
        """Refuse from the headers alone a body whose file cannot fit.

        The body also holds the multipart framing (a few hundred bytes, never more than
        MULTIPART_ALLOWANCE): a file close to the quota is read, then judged exactly."""
        if self.left is None or content_length <= self.left + MULTIPART_ALLOWANCE:
            return None
        return self.exceeded(content_length - MULTIPART_ALLOWANCE)

    def exceeded(self, at_least: int) -> QuotaExceeded:
        return QuotaExceeded(
            f"Your files would take more than your quota of {filesizeformat(self.limit)}: "
            f"you use {filesizeformat(self.used)}, this file needs at least "
            f"{filesizeformat(at_least)}. Nothing was stored."
        )


def shown_name(upload: UploadedFile) -> str:
    """The uploaded name, cleaned as the admin cleans an uploaded name (forms.StoredFileForm).

    Django has already cut it to its last path component and 255 characters; the storage key
    never derives from it (files.new_storage_key)."""
    return visible_text(upload.name or "").strip() or "download"


def store_upload(owner_id: int, upload: UploadedFile) -> StoredFile:
    """Write the bytes and the row, owned by the uploader; type and size come from the bytes."""
    with files_rollback_guard():
        stored = StoredFile(owner_id=owner_id, name=shown_name(upload), file=upload)
        stored.save()
        _check_quota_after_write(owner_id, stored.size)
    return stored


def _check_quota_after_write(owner_id: int, size: int) -> None:
    limit = app_settings().user_quota_bytes
    if not limit:
        return
    # Two uploads of one user at once must not both fit in what is left. On PostgreSQL the
    # user's row serialises them (FOR NO KEY UPDATE: the new file's foreign key holds only a
    # KEY SHARE lock on it, which this does not wait for, so no deadlock); SQLite has already
    # serialised them, the INSERT above holding the database's write lock until commit.
    user_model = get_user_model()
    list(user_model.objects.select_for_update(no_key=True).filter(pk=owner_id).values("pk"))
    used = stored_bytes(owner_id)  # this file included
    if used > limit:
        raise Quota(limit=limit, used=used - size).exceeded(size)


UPLOAD_VIEW = "downloads:upload"


def may_upload_here(request: HttpRequest) -> bool:
    """This request goes to the upload view, from a user who may upload (bodylimit.py)."""
    try:
        view_name = resolve(request.path_info).view_name
    except Resolver404:
        return False
    return view_name == UPLOAD_VIEW and may_upload(request.user)
