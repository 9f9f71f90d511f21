"""Personal API tokens: what one is, how it is made, and how a presented one is found.

A token is `pdt_` and 43 characters of `secrets.token_urlsafe(32)`: 256 random bits. The prefix
makes a leaked token recognisable (secret scanners, log reviews); it adds no secrecy. The table
keeps only the token's SHA-256 and its first characters (`hint`, 24 of the 256 bits, so the owner
can tell tokens apart): a database dump holds no working token.

Why a plain SHA-256 and not a password hash (PBKDF2, Argon2): those are slow on purpose, to make
guessing a low-entropy password from its hash expensive. A 256-bit random secret cannot be guessed
from its hash at any speed, so slowness would only cost every API request CPU time. A fast, exact
hash also lets the lookup be one indexed equality (`key_hash = %s`): the database never compares
the secret itself, so how long the lookup takes says nothing about how close a guess was.
"""

import hashlib
import re
import secrets
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from downloads.backends import ModelBackend
from downloads.prepared import PreparedQuery

PREFIX = "pdt_"
# secrets.token_urlsafe(32): 32 random bytes, 43 base64url characters.
SECRET_BYTES = 32
HINT_LENGTH = len(PREFIX) + 4
# What may follow "Bearer " (RFC 6750's b64token), bounded: anything longer is no token of ours.
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]{1,256}=*")
# A value shaped like one of ours, wherever it appears (query strings: refused, never looked up).
LOOKS_LIKE_TOKEN = re.compile(re.escape(PREFIX) + r"[A-Za-z0-9_\-]{43}")
# last_used is written at most this often per token, not on every request (README, API tokens).
LAST_USED_RESOLUTION = timedelta(minutes=1)


def new_secret() -> str:
    return PREFIX + secrets.token_urlsafe(SECRET_BYTES)


def hash_of(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def is_well_formed(secret: str) -> bool:
    return _B64TOKEN.fullmatch(secret) is not None


class ApiTokenQuerySet(models.QuerySet["ApiToken"]):
    def usable(self, now: datetime) -> "ApiTokenQuerySet":
        """Tokens that authenticate at `now`: not revoked, not expired, their owner active."""
        return self.filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=now),
            revoked_at__isnull=True,
            user__is_active=True,
        )


class ApiToken(models.Model):
    """A user's personal API token. The secret itself is never stored (see the module's doc)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(
        max_length=100, help_text="What the token is for, e.g. “backup script”."
    )
    key_hash = models.CharField("SHA-256 of the token", max_length=64, unique=True, editable=False)
    hint = models.CharField("starts with", max_length=HINT_LENGTH, editable=False)
    created = models.DateTimeField(auto_now_add=True)
    last_used = models.DateTimeField(null=True, blank=True, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: never expires.")
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created"]
        verbose_name = "API token"
        indexes = [models.Index(fields=["user", "-created"], name="apitoken_user_created")]

    def __str__(self) -> str:
        return f"{self.name} ({self.hint}…)"

    @classmethod
    def issue(
        cls, user: Any, name: str, expires_at: datetime | None = None
    ) -> tuple["ApiToken", str]:
        """A new token for `user`, and its secret: the only time the secret exists in full."""
        secret = new_secret()
        token = cls.objects.create(
            user=user,
            name=name,
            key_hash=hash_of(secret),
            hint=secret[:HINT_LENGTH],
            expires_at=expires_at,
        )
        return token, secret

    def status(self, now: datetime | None = None) -> str:
        moment = timezone.now() if now is None else now
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= moment:
            return "expired"
        return "active"

    def revoke(self) -> None:
        """Revoked at once for every worker: each request reads the token's row."""
        if self.revoked_at is None:
            self.revoked_at = timezone.now()
            ApiToken.objects.filter(pk=self.pk, revoked_at__isnull=True).update(
                revoked_at=self.revoked_at
            )


def find_usable(secret: str, now: datetime) -> ApiToken | None:
    """The token this secret is, with its user, if it authenticates at `now`; else None, the
    same None whether it never existed, was revoked or expired, or its owner was deactivated."""
    token = _usable_by_hash().first(None, key_hash=hash_of(secret), now=now)
    if token is None:
        return None
    # Django's backend, as for a session: the user read afresh, refused if deactivated.
    user = ModelBackend().get_user(token.user_id)
    if user is None:
        return None
    token.user = user
    return token


def _usable(variant: None, *, key_hash: str, now: datetime) -> "ApiTokenQuerySet":
    return ApiToken.objects.usable(now).filter(key_hash=key_hash)


@cache
def _usable_by_hash() -> PreparedQuery[ApiToken]:
    # Compiled once (downloads/prepared.py): building this queryset on every API request cost
    # more CPU than the rest of the token check (bench/tokens.py).
    return PreparedQuery(
        ApiToken,
        _usable,
        fields={
            "key_hash": ApiToken._meta.get_field("key_hash"),
            "now": ApiToken._meta.get_field("expires_at"),
        },
        stand_ins=(
            {"key_hash": "a" * 64, "now": datetime(2001, 1, 1, tzinfo=UTC)},
            {"key_hash": "b" * 64, "now": datetime(2002, 2, 2, tzinfo=UTC)},
        ),
    )


def note_use(token: ApiToken, now: datetime) -> None:
    """Record that `token` was used, at most once per LAST_USED_RESOLUTION: a write per request
    would make every API download a database write. The WHERE repeats the test, so workers that
    race for the same minute write it once."""
    stale = now - LAST_USED_RESOLUTION
    if token.last_used is not None and token.last_used > stale:
        return
    ApiToken.objects.filter(pk=token.pk).filter(
        Q(last_used__isnull=True) | Q(last_used__lte=stale)
    ).update(last_used=now)
    token.last_used = now
