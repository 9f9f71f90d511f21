"""Django's LoginRequiredMiddleware, asking the view before the session.

Django's asks who the user is first and only then whether the view needs a login, so every
view, even one marked `login_not_required`, costs the session's and the user's queries when the
browser sends a session cookie (as it does with every <img> of a page). A signed media URL
(downloads/views_media.py) is there to save exactly those: here a view that needs no login is
let through without asking. Everything else is Django's, unchanged.
"""

from typing import Any

from django.contrib.auth.middleware import LoginRequiredMiddleware
from django.http import HttpRequest
from django.http.response import HttpResponseBase


class ViewFirstLoginRequiredMiddleware(LoginRequiredMiddleware):
    def process_view(
        self,
        request: HttpRequest,
        view_func: Any,
        view_args: Any,
        view_kwargs: Any,
    ) -> HttpResponseBase | None:
        if not getattr(view_func, "login_required", True):
            return None
        response: HttpResponseBase | None = super().process_view(
            request, view_func, view_args, view_kwargs
        )
        return response
