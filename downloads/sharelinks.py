"""Share links: who may make one, what a token is, and whether a link may be used right now.

The rules (README, Share links):
- A link lends its creator's right to one file, or to a set delivered as one zip. Its creator
  is the file's owner, or staff holding `downloads.share_any` (superusers hold every
  permission). The right is checked again at every use against the access policy
  (`shareable_files`, never cached): a file deleted, an owner who lost the file, a creator
  deactivated or deleted ends the link at once.
- The token is 32 random bytes (256 bits), URL-safe; only its SHA-256 is stored. A token of the
  right shape that matches no row, or of any other shape, is a link that never existed (404);
  a link that existed and may not be used any more is 410 (expired, revoked, used up, its files
  gone), with a page that says which.
- What counts as a download: a GET whose answer carries file bytes from the first byte (the
  whole file, or ranges that start at byte 0), or any GET of a zip link. HEAD, 304, 412, 416 and
  ranges that start later (a media player seeking, a resumed download) spend nothing. Once the
  downloads are spent, new downloads get 410, but ranges that continue one are still answered
  for DOWNLOADS_SHARE_LINK_RESUME_HOURS after the last counted download, so a player that seeks
  or a download manager that resumes is not cut off mid-file.
- A download is counted by one conditional UPDATE, so two clients racing for the last download
  cannot both get it; a download the storage then fails to serve gives it back.
"""

import enum
import hashlib
import re
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser, PermissionsMixin, User
from django.db.models import F, Q, QuerySet

from downloads.access import downloadable_files
from downloads.conf import app_settings
from downloads.delivery.decision import Decision
from downloads.models import ShareLink, StoredFile

TOKEN_BYTES = 32
# secrets.token_urlsafe(32): 43 characters of the URL-safe base64 alphabet, no padding.
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")
SHARE_ANY = "downloads.share_any"


class Ended(enum.Enum):
    """Why a link that existed is refused (410), in the words its page shows."""

    EXPIRED = "This link has expired."
    REVOKED = "This link was revoked by the person who shared it."
    USED_UP = "This link has been used as many times as it allows."
    GONE = "The file behind this link is no longer shared."


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    # The token carries 256 random bits: a fast hash is as safe as a slow one here, and a
    # database dump gives no working link.
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def may_share_any(user: AbstractBaseUser | AnonymousUser) -> bool:
    if not (user.is_active and getattr(user, "is_staff", False)):
        return False
    return isinstance(user, PermissionsMixin) and user.has_perm(SHARE_ANY)


def shareable_files(
    user: AbstractBaseUser | AnonymousUser, *, now: datetime | None = None
) -> QuerySet[StoredFile]:
    """The files `user` may put in a share link: the policy's files, and only their own unless
    they may share any."""
    if not user.is_authenticated or not user.is_active:
        return StoredFile.objects.none()
    files = downloadable_files(user, now=now)
    if may_share_any(user):
        return files
    return files.filter(owner_id=user.pk)


def create_link(
    user: User,
    files: Sequence[StoredFile],
    *,
    expires_at: datetime,
    max_downloads: int | None,
    note: str,
) -> tuple[ShareLink, str]:
    """A new link and its token: the only time the token exists outside the client's hands."""
    token = new_token()
    link = ShareLink.objects.create(
        token_hash=token_hash(token),
        file_count=len(files),
        created_by=user,
        expires_at=expires_at,
        max_downloads=max_downloads,
        note=note,
    )
    link.files.set(files)
    return link, token


def find_link(token: str) -> ShareLink | None:
    """The link this token opens, or None if there never was one."""
    if not _TOKEN_SHAPE.fullmatch(token):
        return None
    links = ShareLink.objects.select_related("created_by")
    return links.filter(token_hash=token_hash(token)).first()


def ended_before_use(link: ShareLink, now: datetime) -> Ended | None:
    if link.revoked_at is not None:
        return Ended.REVOKED
    if link.expires_at <= now:
        return Ended.EXPIRED
    return None


def files_of(link: ShareLink, now: datetime) -> list[StoredFile] | None:
    """The link's files, if its creator may still share every one of them now; else None."""
    creator = link.created_by
    if creator is None:
        return None
    files = list(shareable_files(creator, now=now).filter(share_links=link).order_by("name", "pk"))
    if not files or len(files) != link.file_count:
        return None
    return files


def starts_a_download(method: str, decision: Decision) -> bool:
    """A GET whose answer carries the file from its first byte (see the rules above)."""
    if method != "GET" or decision.head or decision.settled:
        return False
    return decision.ranges is None or decision.ranges[0][0] == 0


def spend_download(link: ShareLink, now: datetime) -> bool:
    """Count one download if the link still has one to give; False if it is used up (or ended
    since it was read)."""
    counted = (
        ShareLink.objects.filter(pk=link.pk, revoked_at__isnull=True, expires_at__gt=now)
        .filter(Q(max_downloads__isnull=True) | Q(download_count__lt=F("max_downloads")))
        .update(download_count=F("download_count") + 1, last_used_at=now)
    )
    return counted == 1


def give_back_download(link: ShareLink) -> None:
    """The counted download was not served (the storage failed): it is not spent."""
    ShareLink.objects.filter(pk=link.pk, download_count__gt=0).update(
        download_count=F("download_count") - 1
    )


def may_continue(link: ShareLink, now: datetime) -> bool:
    """Whether a request that spends nothing (a later range, HEAD, 304) is answered."""
    if link.max_downloads is None or link.download_count < link.max_downloads:
        return True
    resume = timedelta(hours=app_settings().share_link_resume_hours)
    return link.last_used_at is not None and now - link.last_used_at <= resume
