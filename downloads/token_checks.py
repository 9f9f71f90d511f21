"""API tokens rely on two settings; either one wrong stops `manage.py check` (E080, E081)."""

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, register
from django.utils.module_loading import import_string

from downloads import tokenthrottle

TOKEN_MIDDLEWARE = "downloads.tokenauth.BearerTokenMiddleware"  # noqa: S105  (a dotted path)
# It replaces what AuthenticationMiddleware sets, and must do so before anything asks who the
# user is (LoginRequiredMiddleware's redirect, the body limit's view-dependent answer).
AFTER = "django.contrib.auth.middleware.AuthenticationMiddleware"
BEFORE = (
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "downloads.loginrequired.ViewFirstLoginRequiredMiddleware",
    "downloads.bodylimit.RequestBodyLimitMiddleware",
)


@register()
def bearer_middleware_in_place(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    stack = list(settings.MIDDLEWARE)
    if TOKEN_MIDDLEWARE not in stack:
        return []  # no Bearer tokens in this project: nothing to check
    here = stack.index(TOKEN_MIDDLEWARE)
    misplaced = AFTER not in stack[:here] or any(name in stack[:here] for name in BEFORE)
    if misplaced:
        return [
            Error(
                f"{TOKEN_MIDDLEWARE} must come after {AFTER} and before "
                f"{', '.join(BEFORE)} in MIDDLEWARE.",
                hint="Otherwise the session's user overwrites the token's, or a Bearer request "
                "is redirected to the login page (README, API tokens).",
                id="downloads.E080",
            )
        ]
    return []


@register()
def token_failures_counted_per_address(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    configured = settings.AXES_LOCKOUT_PARAMETERS
    if isinstance(configured, str):
        configured = import_string(configured)
    if configured is tokenthrottle.lockout_parameters:
        return []
    return [
        Error(
            "AXES_LOCKOUT_PARAMETERS must be downloads.tokenthrottle.lockout_parameters: API "
            "token failures name no user and must be counted per client address only.",
            hint="With a plain list, every failed token would count against one shared "
            "username, and a few wrong tokens from anywhere would lock every address out.",
            id="downloads.E081",
        )
    ]
