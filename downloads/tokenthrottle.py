"""Failed API token attempts are throttled as failed logins are: by django-axes, in its table.

A token names no user, so its failures count per client address only (the address the download
log records, AXES_CLIENT_IP_CALLABLE), in the same count as that address's failed logins: ten
wrong tokens and passwords together, from one address, lock it out of both for the cool-off.
They are recorded under a username no real account can have, so the admin's "Access attempts"
shows them for what they are, and deleting the row there lifts the lockout as for a login.

`lockout_parameters` is AXES_LOCKOUT_PARAMETERS: per username and per address for a login, per
address alone for a token (counting "(API token)" as a username would lock every address at
once after ten wrong tokens from anywhere).
"""

from typing import Any

from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.http import HttpRequest

# Parentheses and a space: Django's username validator refuses them, so no account has this name.
TOKEN_ATTEMPT_USERNAME = "(API token)"  # noqa: S105  (a marker, not a secret)
CREDENTIALS = {"username": TOKEN_ATTEMPT_USERNAME}
LOGIN_LOCKOUT_PARAMETERS: list[str | list[str]] = ["username", "ip_address"]
TOKEN_LOCKOUT_PARAMETERS: list[str | list[str]] = ["ip_address"]


def lockout_parameters(
    request_or_attempt: Any, credentials: dict[str, Any] | None = None
) -> list[str | list[str]]:
    """AXES_LOCKOUT_PARAMETERS: what a failure is counted by, for a login or a token."""
    if credentials is not None:
        username = credentials.get("username")
    else:
        # An AccessAttempt row (the admin, axes' reset), or a login form's POST.
        username = getattr(request_or_attempt, "username", None)
    if username == TOKEN_ATTEMPT_USERNAME:
        return TOKEN_LOCKOUT_PARAMETERS
    return LOGIN_LOCKOUT_PARAMETERS


def is_locked_out(request: HttpRequest) -> bool:
    """The client's address has failed too often (logins and tokens together)."""
    return not AxesProxyHandler.is_allowed(request, CREDENTIALS)


def record_failure(request: HttpRequest) -> bool:
    """Count a failed token attempt; True when it reached the limit (the answer is then a 429).

    Sent as Django's own login-failure signal, which is what axes counts, with no secret in the
    credentials: axes logs them."""
    user_login_failed.send(sender=__name__, credentials=CREDENTIALS, request=request)
    locked: bool = getattr(request, "axes_locked_out", False)
    # The token path answers its own 429 (plain text, for scripts); axes' middleware would
    # otherwise replace it with the login form's lockout page.
    request.axes_locked_out = False  # type: ignore[attr-defined]
    return locked


def retry_after_seconds() -> int:
    # As for a login (downloads/lockout.py): the lockout ends at the latest a full cool-off on.
    return int(settings.AXES_COOLOFF_TIME.total_seconds())
