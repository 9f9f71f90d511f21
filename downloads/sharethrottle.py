"""Lockout for addresses that guess share links, as logins are throttled (django-axes): failures
counted in the database, so every worker and host sees them; past DOWNLOADS_SHARE_LINK_FAILURE_LIMIT
failures from one client address within DOWNLOADS_SHARE_LINK_COOLOFF_MINUTES, every share link
request from it gets 429 until the oldest of those failures is that old.

A failure is a token that opens no link (404). A link that existed (410) is not a guess. The
address is the one the download log records (clientip.py). `manage.py prune` removes failures
older than the cool-off.
"""

from datetime import datetime, timedelta

from django.db.models import QuerySet
from django.utils import timezone

from downloads.conf import app_settings
from downloads.models import ShareLinkFailure


def cooloff() -> timedelta:
    return timedelta(minutes=app_settings().share_link_cooloff_minutes)


def locked_out(ip: str | None, now: datetime) -> bool:
    recent = ShareLinkFailure.objects.filter(ip=ip, at__gt=now - cooloff())
    limit = app_settings().share_link_failure_limit
    # One row past the limit is enough to know; no need to count a flood.
    return len(recent.values_list("pk", flat=True)[:limit]) >= limit


def record_failure(ip: str | None) -> None:
    ShareLinkFailure.objects.create(ip=ip, at=timezone.now())


def stale_failures(now: datetime) -> QuerySet[ShareLinkFailure]:
    return ShareLinkFailure.objects.filter(at__lt=now - cooloff())
