"""`Authorization: Bearer <token>`: another way to the same `request.user`, for scripts.

Placed right after Django's AuthenticationMiddleware. A request with a Bearer token to one of
TOKEN_VIEWS gets the token owner as `request.user`, and from there everything is as for a logged-in
browser: the same access policy (downloads/access.py), the same 404s, the same download log
(which records the user, never the token). Elsewhere a Bearer token is refused (403): a token
cannot reach the account page (to make more tokens) or the admin.

- No CSRF check for such a request: CSRF exists because browsers attach cookies by themselves;
  they never attach a Bearer token, so a forged cross-site request cannot carry one.
- No session and no cookie: the session is never read (request.user is set here), and nothing a
  view or a middleware would set reaches the response (`_sets_no_cookie`).
- A token that is unknown, revoked, expired or whose owner is deactivated gets one and the same
  401 (`WWW-Authenticate: Bearer error="invalid_token"`), and counts as a failed attempt for the
  client's address (downloads/tokenthrottle.py); past the limit, 429 with Retry-After, before
  any token is looked up, as a locked-out login is refused before any password is checked.
- Tokens never go in URLs (they end up in access logs, proxies and browser history): a query
  string that carries one, or a token-like parameter on a token view, is refused (400) without
  looking the value up.
"""

from collections.abc import Callable
from urllib.parse import unquote

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.urls import Resolver404, resolve
from django.utils import timezone

from downloads import tokenthrottle
from downloads.tokens import LOOKS_LIKE_TOKEN, PREFIX, find_usable, is_well_formed, note_use

# The URLs a token opens: downloads, the JSON list, and the zip and CSV exports.
TOKEN_VIEWS = frozenset(
    {"downloads:download", "downloads:api-files", "downloads:zip", "downloads:files-csv"}
)
# Query parameters that would carry a token in the URL, on the views that accept one.
TOKEN_PARAMETERS = frozenset({"token", "access_token", "api_token", "api_key", "bearer"})

REFUSED_INVALID = "This API token is not valid: it is unknown, expired or revoked.\n"
REFUSED_EMPTY = 'Send the token as "Authorization: Bearer <token>".\n'
REFUSED_ELSEWHERE = (
    "API tokens open the download URLs, /api/files/ and the zip and CSV exports only; "
    "log in for everything else.\n"
)
REFUSED_IN_URL = (
    "API tokens are never accepted in a URL (URLs are kept in logs and browser history): "
    'send it as "Authorization: Bearer <token>", and revoke this one on your account page.\n'
)
REFUSED_LOCKED = "Too many failed attempts from this address. Try again later.\n"


def _answer(status: int, text: str, challenge: str | None = None) -> HttpResponse:
    response = HttpResponse(text, status=status, content_type="text/plain; charset=utf-8")
    if challenge is not None:
        response["WWW-Authenticate"] = challenge
    return response


def _view_name(request: HttpRequest) -> str:
    try:
        return resolve(request.path_info).view_name
    except Resolver404:
        return ""


def _token_in_url(request: HttpRequest, view_name: Callable[[], str]) -> bool:
    # Anything shaped like one of ours, anywhere in the path or the query (decoded: %5F is "_").
    url = unquote(request.path + "?" + request.META.get("QUERY_STRING", ""))
    if PREFIX in url and LOOKS_LIKE_TOKEN.search(url):
        return True
    if not request.GET:
        return False
    names = {name.lower() for name in request.GET}
    return bool(names & TOKEN_PARAMETERS) and view_name() in TOKEN_VIEWS


def _sets_no_cookie(request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
    """A Bearer request leaves no session and no cookie behind (README, API tokens)."""
    # Set by middleware below this one (messages) or by the view.
    response.cookies.clear()
    # The middleware above this one answers after it: the CSRF cookie is set only on this flag,
    # the session saved and its cookie set or deleted only on these.
    request.META["CSRF_COOKIE_NEEDS_UPDATE"] = False
    session = getattr(request, "session", None)
    if session is not None:
        session.accessed = session.modified = False
        request.COOKIES.pop(settings.SESSION_COOKIE_NAME, None)
    return response


class BearerTokenMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        view_name = _ViewName(request)
        if _token_in_url(request, view_name):
            return _answer(400, REFUSED_IN_URL)
        scheme, _, credentials = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() != "bearer":
            return self.get_response(request)
        return _sets_no_cookie(request, self._with_token(request, credentials.strip(), view_name))

    def _with_token(
        self, request: HttpRequest, secret: str, view_name: Callable[[], str]
    ) -> HttpResponseBase:
        if view_name() not in TOKEN_VIEWS:
            return _answer(403, REFUSED_ELSEWHERE, 'Bearer error="insufficient_scope"')
        if not secret:
            return _answer(400, REFUSED_EMPTY, 'Bearer error="invalid_request"')
        if tokenthrottle.is_locked_out(request):
            return self._locked_out()
        now = timezone.now()
        token = find_usable(secret, now) if is_well_formed(secret) else None
        if token is None:
            if tokenthrottle.record_failure(request):
                return self._locked_out()
            return _answer(401, REFUSED_INVALID, 'Bearer error="invalid_token"')
        note_use(token, now)
        user = token.user

        async def auser() -> AbstractBaseUser:
            return user

        # Both ways Django offers to ask who the user is give the token's owner.
        request.user = user
        request.auser = auser  # type: ignore[assignment]
        request._dont_enforce_csrf_checks = True  # type: ignore[attr-defined]
        return self.get_response(request)

    @staticmethod
    def _locked_out() -> HttpResponse:
        response = _answer(429, REFUSED_LOCKED)
        response["Retry-After"] = str(tokenthrottle.retry_after_seconds())
        return response


class _ViewName:
    """The request's view name, resolved once and only when asked: most requests never ask."""

    def __init__(self, request: HttpRequest) -> None:
        self._request = request
        self._name: str | None = None

    def __call__(self) -> str:
        if self._name is None:
            self._name = _view_name(self._request)
        return self._name
