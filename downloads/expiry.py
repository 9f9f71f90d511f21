"""Records that expired long ago and are removed by `manage.py prune`.

Each kind names the rows that are past their end by more than a grace period (kept that long so
an admin can still see, and renew, what just ran out). Share links and API tokens
are in EXPIRED_KINDS with their own queryset and grace setting; prune removes
every kind listed here the same way, in batches by primary key.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import models, transaction
from django.db.models import Q

from downloads.conf import app_settings
from downloads.models import Grant, ShareLink
from downloads.sharethrottle import stale_failures
from downloads.tokens import ApiToken

# Below SQLite's oldest limit of 999 parameters per statement.
BATCH_SIZE = 900


@dataclass(frozen=True)
class ExpiredKind:
    label: str  # plural, for the summary: "expired grants"
    # Rows that ended before the given moment.
    ended_before: Callable[[datetime], models.QuerySet]
    # The grace period, read at run time (settings may change in tests).
    grace: Callable[[], timedelta]


EXPIRED_KINDS: list[ExpiredKind] = [
    ExpiredKind(
        label="expired grants",
        ended_before=lambda moment: Grant.objects.filter(expires_at__lt=moment),
        grace=lambda: timedelta(days=app_settings().grant_grace_days),
    ),
    # A link ends when it expires; a revoked one is kept until its expiry passes too, so the
    # owner and the admin still see it (and its log rows name it) for the grace period.
    ExpiredKind(
        label="expired share links",
        ended_before=lambda moment: ShareLink.objects.filter(expires_at__lt=moment),
        grace=lambda: timedelta(days=app_settings().share_link_grace_days),
    ),
    # A token ends when it expires or is revoked, whichever comes first.
    ExpiredKind(
        label="ended API tokens",
        ended_before=lambda moment: ApiToken.objects.filter(
            Q(expires_at__lt=moment) | Q(revoked_at__lt=moment)
        ),
        grace=lambda: timedelta(days=app_settings().token_grace_days),
    ),
    # Failed share link lookups only matter within the lockout's cool-off (sharethrottle.py).
    ExpiredKind(
        label="share link failures",
        ended_before=stale_failures,
        grace=lambda: timedelta(0),
    ),
]


def expired(kind: ExpiredKind, now: datetime) -> models.QuerySet:
    return kind.ended_before(now - kind.grace())


def remove_expired(kind: ExpiredKind, now: datetime) -> int:
    """Delete the kind's long-expired rows, at most BATCH_SIZE per short transaction."""
    removed = 0
    rows = expired(kind, now).order_by("pk")
    while ids := list(rows.values_list("pk", flat=True)[:BATCH_SIZE]):
        with transaction.atomic():
            # Filtered again: a grant renewed since it was selected stays.
            going = expired(kind, now).filter(pk__in=ids)
            _, by_model = going.delete()
        # The kind's own rows, not what went with them (a share link's rows naming its files).
        removed += by_model.get(going.model._meta.label, 0)
        if len(ids) < BATCH_SIZE:
            break
    return removed
