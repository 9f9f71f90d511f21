"""The stored file, who may have it, and who downloaded it."""

import uuid
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any, Self

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from downloads.files import (
    delete_after_commit,
    discard_bytes,
    inspect_bytes,
    new_storage_key,
    remember_written_key,
)


class StoredFile(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    file = models.FileField("bytes", upload_to=new_storage_key, max_length=255)
    name = models.CharField(
        "file name",
        max_length=255,
        blank=True,
        help_text="Shown to users; defaults to the uploaded name.",
    )
    description = models.TextField(blank=True)
    content_type = models.CharField(max_length=255, editable=False)
    size = models.PositiveBigIntegerField(editable=False)
    sha256 = models.CharField("SHA-256", max_length=64, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="owned_files"
    )
    created = models.DateTimeField(auto_now_add=True)
    # When the bytes last changed: the download's Last-Modified.
    updated = models.DateTimeField(editable=False)
    # Set when a download or `manage.py verify_files` found the bytes missing or corrupt; cleared
    # when new bytes are saved or a later check finds them whole.
    bytes_missing_since = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-updated", "name"]
        permissions = [
            ("download_any", "Can download any file (staff only)"),
            # Anyone holding it (directly or through a group) uploads from My files.
            ("upload_files", "Can upload files from My files"),
        ]
        indexes = [
            models.Index(fields=["owner", "-updated"]),
            # The admin's list, newest first, a page at a time (the changelist adds "-pk" to any
            # ordering; without it SQLite sorts every row), and its content-type filter.
            models.Index(fields=["-updated", "name", "-id"], name="storedfile_updated_name"),
            models.Index(fields=["content_type"], name="storedfile_content_type"),
        ]

    _stored_key: str = ""

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        # New bytes: an upload not yet written, or bytes already saved under a new key.
        new_bytes = bool(self.file) and self.file.name != self._stored_key
        if new_bytes:
            uploaded_name = PurePosixPath(self.file.name or "").name
            self.name = self.name or uploaded_name or "download"
            facts = inspect_bytes(self.file, self.name)
            self.size, self.sha256, self.content_type = facts.size, facts.sha256, facts.content_type
            self.updated = timezone.now().replace(microsecond=0)
            self.bytes_missing_since = None
        try:
            with transaction.atomic():
                super().save(*args, **kwargs)
        except BaseException:
            # FieldFile.pre_save may have written the bytes (all or, on a full disk, part of
            # them) before the row or the write failed.
            written = self.__dict__.pop("_key_being_written", "")
            if new_bytes and written and written != self._stored_key:
                discard_bytes(self.file.storage, written)
            raise
        self.__dict__.pop("_key_being_written", None)
        key = self.file.name or ""
        if new_bytes:
            remember_written_key(self.file.storage, key)
        if self._stored_key and self._stored_key != key:
            delete_after_commit(self.file.storage, self._stored_key)
        self._stored_key = key

    def get_absolute_url(self) -> str:
        return reverse("downloads:file-detail", args=[self.pk])

    @classmethod
    def from_db(cls, db: str | None, field_names: Any, values: Any, **kwargs: Any) -> Self:
        instance = super().from_db(db, field_names, values, **kwargs)
        instance._stored_key = instance.__dict__.get("file") or ""
        return instance

    def get_download_url(self) -> str:
        return reverse("downloads:download", args=[self.pk])

    @property
    def etag(self) -> str:
        # The content hash is a strong validator: equal bytes, equal tag, in every delivery mode.
        return f'"{self.sha256}"'

    @property
    def last_modified(self) -> int:
        return int(self.updated.timestamp())


class GrantQuerySet(models.QuerySet["Grant"]):
    def live(self, now: datetime | None = None) -> Self:
        """Grants that have not expired at `now` (default: this moment)."""
        moment = timezone.now() if now is None else now
        return self.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=moment))


class Grant(models.Model):
    """Access to one file for one user or one group, optionally until a moment."""

    file = models.ForeignKey(StoredFile, on_delete=models.CASCADE, related_name="grants")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="file_grants",
    )
    group = models.ForeignKey(
        Group, on_delete=models.CASCADE, null=True, blank=True, related_name="file_grants"
    )
    expires_at = models.DateTimeField(
        null=True, blank=True, help_text="Leave empty for access without end."
    )
    created = models.DateTimeField(auto_now_add=True)

    objects = GrantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(user__isnull=False, group__isnull=True)
                | Q(user__isnull=True, group__isnull=False),
                name="grant_to_user_xor_group",
                violation_error_message="A grant names either a user or a group.",
            ),
            models.UniqueConstraint(
                fields=["file", "user"], condition=Q(user__isnull=False), name="one_grant_per_user"
            ),
            models.UniqueConstraint(
                fields=["file", "group"],
                condition=Q(group__isnull=False),
                name="one_grant_per_group",
            ),
        ]

    def __str__(self) -> str:
        who = f"user {self.user}" if self.user_id else f"group {self.group}"
        until = f" until {self.expires_at:%Y-%m-%d %H:%M}" if self.expires_at else ""
        return f"{who}{until}"


class Outcome(models.TextChoices):
    """What became of a download request, as far as this process can know."""

    # Django sent the whole body it announced (or there was none: HEAD, 304, 412, 416).
    COMPLETE = "complete", "sent in full"
    # Django began the body and the client left (or the send failed) before its end.
    ABORTED = "aborted", "cut off"
    # nginx or the bucket sends the bytes: the row says what was asked and handed over.
    HANDED_OVER = "handed_over", "handed over"
    # The access policy (or a missing id) answered 404: no byte left.
    DENIED = "denied", "denied"
    # Allowed, but storage could not give the bytes (missing object, storage down).
    FAILED = "failed", "storage failed"
    # A page embedded a signed media URL for the file (downloads/mediaurls.py), valid until
    # `expires_at`: no request yet, no bytes. Not counted as a download (logcounts.py).
    ISSUED = "issued", "URL issued"


class DownloadLog(models.Model):
    """One answered download request. Rows outlive the file and the user they name."""

    file = models.ForeignKey(
        StoredFile, on_delete=models.SET_NULL, null=True, related_name="downloads"
    )
    file_name = models.CharField(max_length=255)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="downloads",
    )
    at = models.DateTimeField(default=timezone.now, db_index=True)
    ip = models.GenericIPAddressField("client IP", null=True, blank=True)
    status = models.PositiveSmallIntegerField()
    range = models.CharField("range asked", max_length=200, blank=True)
    # Body bytes that really left (django mode), or that were handed over (nginx, s3).
    bytes_sent = models.PositiveBigIntegerField(default=0)
    # Body bytes the answer announced (Content-Length, or the ranges' total).
    bytes_planned = models.PositiveBigIntegerField(default=0)
    # Blank on rows written before outcomes were recorded.
    outcome = models.CharField(max_length=16, choices=Outcome.choices, blank=True)
    # The id the request named: what a denied request asked for, with no file to link to.
    requested_id = models.UUIDField(null=True, blank=True)
    delivery = models.CharField(max_length=16, blank=True)
    # The share link the request came through (downloads/sharelinks.py); none for a logged-in one.
    share_link = models.ForeignKey(
        "ShareLink", on_delete=models.SET_NULL, null=True, blank=True, related_name="downloads"
    )
    # An ISSUED row: until when the signed media URL works.
    expires_at = models.DateTimeField("URL expires", null=True, blank=True)

    class Meta:
        ordering = ["-at"]
        # The admin's filters (file, user, status, outcome), each newest first: read backwards,
        # ("at", rowid) gives the changelist's "-at, -pk" on SQLite too (README, Performance).
        indexes = [
            models.Index(fields=["file", "-at"]),
            models.Index(fields=["user", "at"], name="downloadlog_user_at"),
            models.Index(fields=["status", "at"], name="downloadlog_status_at"),
            models.Index(fields=["outcome", "at"], name="downloadlog_outcome_at"),
            models.Index(fields=["delivery", "at"], name="downloadlog_delivery_at"),
            # A search by file id: the denied requests that named it (migration 0006, which
            # also builds PostgreSQL's trigram indexes for the text search).
            models.Index(
                fields=["requested_id"],
                condition=Q(requested_id__isnull=False),
                name="downloadlog_requested_id",
            ),
        ]
        permissions = [
            (
                "view_every_log_entry",
                "Can view every download log entry, whatever the access policy",
            )
        ]

    def __str__(self) -> str:
        return f"{self.file_name} by {self.user} at {self.at:%Y-%m-%d %H:%M:%S}"


class DownloadCount(models.Model):
    """How many download log rows name a file: the admin's "downloads" column without counting
    the log. Kept by database triggers on the log table (migration 0003), in the same
    transaction as the rows themselves, whoever writes or deletes them; never written by the app.
    Every file has one, from a trigger on the files' insert (migration 0010).
    """

    file = models.OneToOneField(
        StoredFile,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="download_counter",
    )
    total = models.BigIntegerField(default=0)

    class Meta:
        # The admin's list sorted by downloads reads this index in order (either way) and stops
        # after a page, instead of sorting every file's count.
        indexes = [models.Index(fields=["total", "file"], name="downloadcount_total_file")]

    def __str__(self) -> str:
        return f"{self.total} downloads"


class ShareLink(models.Model):
    """A link that lets anyone holding it download one file, or a set as one zip, without an
    account, until it expires, is revoked or is used up (downloads/sharelinks.py has the rules).

    Only the SHA-256 of the token is stored: a copy of the table opens nothing."""

    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    files = models.ManyToManyField(StoredFile, related_name="share_links")
    # How many files the link was made with: a file deleted since (its row leaves `files` with
    # it) ends the link rather than shrinking its zip.
    file_count = models.PositiveIntegerField(editable=False)
    # Whose right to the files the link lends; checked against the access policy at every use.
    # Kept null when the user is deleted, so the link answers "ended" (410), not "never was".
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="share_links",
    )
    note = models.CharField(max_length=200, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    max_downloads = models.PositiveIntegerField(null=True, blank=True)
    download_count = models.PositiveIntegerField(default=0, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]
        permissions = [("share_any", "Can create share links to any file they may download")]
        indexes = [
            models.Index(fields=["created_by", "-created"], name="sharelink_creator_created"),
            models.Index(fields=["expires_at"], name="sharelink_expires_at"),
        ]

    def __str__(self) -> str:
        return f"share link {self.pk}" + (f" ({self.note})" if self.note else "")

    @property
    def state(self) -> str:
        """At this moment: "live", "expired", "revoked" or "used up"."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= timezone.now():
            return "expired"
        if self.max_downloads is not None and self.download_count >= self.max_downloads:
            return "used up"
        return "live"


class ShareLinkFailure(models.Model):
    """A request for a share link that does not exist, from one client address: counted, like
    failed logins, to lock out an address that guesses (downloads/sharethrottle.py)."""

    ip = models.GenericIPAddressField(null=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["ip", "at"], name="sharelinkfailure_ip_at")]

    def __str__(self) -> str:
        return f"{self.ip} at {self.at:%Y-%m-%d %H:%M:%S}"


# Defined in its own module, registered here with the app's other models.
from downloads.tokens import ApiToken  # noqa: E402, F401
