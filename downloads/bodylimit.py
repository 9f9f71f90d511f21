"""Request bodies over a small limit are refused before anyone reads them.

Django's CSRF middleware parses `request.POST` in its process_view, before a view (or the login
requirement) has had a say, so any POST URL would read and spool whatever an anonymous client
sends. This middleware sits right after AuthenticationMiddleware: its check runs before every
process_view, and it decides from the request's headers alone. Only the admin's StoredFile upload
(add and change views), for an active staff user allowed to use it, may send up to
DOWNLOADS_MAX_UPLOAD_BYTES plus MULTIPART_ALLOWANCE, so that a file just over the upload limit
still reaches the form, which answers with its own error. The users' upload from My files, for a
user holding the upload permission, may send DOWNLOADS_USER_UPLOAD_MAX_BYTES plus the same
allowance (downloads/useruploads.py).

A body sent with `Transfer-Encoding: chunked` and no Content-Length has no length to judge, and
Django would not read it anyway (a WSGI request without CONTENT_LENGTH has an empty body): the
client gets a 411 that says so, rather than a form that silently lost its fields.
"""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.defaultfilters import filesizeformat
from django.urls import Resolver404, resolve

from downloads.conf import app_settings

# The admin's upload form carries more than the file: its other fields, the grant inline and the
# multipart framing. deploy/render_nginx.py allows the same on the upload location.
MULTIPART_ALLOWANCE = 1024 * 1024

# URL name of an admin view that takes an upload -> the permission it needs.
_UPLOAD_VIEWS = {
    "admin:downloads_storedfile_add": "downloads.add_storedfile",
    "admin:downloads_storedfile_change": "downloads.change_storedfile",
}


def upload_body_limit() -> int:
    return app_settings().max_upload_bytes + MULTIPART_ALLOWANCE


def body_limit(request: HttpRequest) -> int:
    """The most body bytes this request may send."""
    if _may_upload(request):
        return upload_body_limit()
    # Uploads by users from My files: their own view, limit and permission.
    from downloads.useruploads import may_upload_here, user_upload_body_limit

    if may_upload_here(request):
        return user_upload_body_limit()
    return app_settings().max_request_body_bytes


def _may_upload(request: HttpRequest) -> bool:
    try:
        view_name = resolve(request.path_info).view_name
    except Resolver404:
        return False
    permission = _UPLOAD_VIEWS.get(view_name)
    if permission is None:
        return False
    # Imported here: deploy/render_nginx.py imports this module before Django is set up.
    from django.contrib.auth.models import AbstractUser

    user = request.user
    if not isinstance(user, AbstractUser):
        return False  # anonymous
    return user.is_active and user.is_staff and user.has_perm(permission)


class RequestBodyLimitMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        refusal = self.refusal(request)
        if refusal is not None:
            return refusal
        return self.get_response(request)

    def refusal(self, request: HttpRequest) -> HttpResponse | None:
        raw_length = (request.META.get("CONTENT_LENGTH") or "").strip()
        if not raw_length:
            if request.headers.get("Transfer-Encoding"):
                return _refuse(
                    request,
                    411,
                    "Length required",
                    "This server reads a request body only when its length is sent first "
                    "(a Content-Length header); a chunked body is not read.",
                )
            return None
        if not raw_length.isdigit():
            return _refuse(request, 400, "Bad request", "The Content-Length is not a number.")
        # Cheap case first: most requests are far under the small limit, and deciding whether
        # this one may upload costs a URL resolve and, for staff, a permission lookup.
        length = int(raw_length)
        if length <= app_settings().max_request_body_bytes:
            return None
        limit = body_limit(request)
        if length <= limit:
            return None
        return _refuse(
            request,
            413,
            "Too much data",
            f"This request sends {filesizeformat(length)}; this page takes at most "
            f"{filesizeformat(limit)}. Nothing was read or stored.",
        )


def _refuse(request: HttpRequest, status: int, title: str, message: str) -> HttpResponse:
    return render(
        request,
        "downloads/request_refused.html",
        {"title": title, "message": message},
        status=status,
    )
