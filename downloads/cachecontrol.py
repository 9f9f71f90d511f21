"""No page of this app is for anyone but the user who asked: not cached unless a view says so.

The list, the detail pages, the JSON API, the exports and the error pages show file names, owners
and ids. Without a Cache-Control header a browser may keep them on disk and heuristically reuse
them, and a shared proxy may serve one user's page to another. One middleware marks every answer
that carries no Cache-Control of its own `private, no-store`, so a view added later cannot forget.

`no-store` rather than `no-cache`: these pages have no validator to revalidate against (no ETag,
no Last-Modified), so `no-cache` would buy nothing but a copy of private data left on disk (and
shown again by Back after logging out). Downloads keep their own `private, no-cache`: they have the
SHA-256 as ETag, so revalidation is a cheap 304 and a revoked grant still takes effect at once.

Public assets never reach this middleware: WhiteNoise, above it, answers them with its own
long-lived `public` headers. The login page and the admin already say `no-store` (Django's
`never_cache`): they carry a CSRF token and must not be cached either.
"""

from collections.abc import Callable

from django.http import HttpRequest
from django.http.response import HttpResponseBase

PRIVATE_PAGE = "private, no-store"


class PrivateUnlessSaidMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if not response.has_header("Cache-Control"):
            response["Cache-Control"] = PRIVATE_PAGE
        return response
