"""Over-long searches answered with a 400 wherever they are run.

selection.check_search_length is the one place the limit is checked: search_files (the file
list, the JSON API, the zip of "all matching", the CSV export) and every admin changelist's search
call it, and this module turns its SearchTooLongError into a short 400 instead of a database error.
"""

from collections.abc import Callable
from typing import Any

from django.contrib import admin
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from downloads.selection import SearchTooLongError, check_search_length

API_VIEW = "downloads:api-files"


class SearchLimitMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, SearchTooLongError):
            return None
        match = request.resolver_match
        if match is not None and match.view_name == API_VIEW:
            return JsonResponse({"detail": str(exception)}, status=400)
        return render(
            request,
            "downloads/request_refused.html",
            {"title": "Search too long", "message": str(exception)},
            status=400,
        )


class LimitedSearchMixin:
    """A ModelAdmin whose changelist (and autocomplete) search refuses an over-long term."""

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        check_search_length(search_term)
        return super().get_search_results(request, queryset, search_term)  # type: ignore[misc]


def limit_every_admin_search(site: admin.AdminSite) -> None:
    """Give every ModelAdmin registered on `site` (Django's, django-axes', ours) the limit.

    Runs once the admin has discovered every app's admin module (DownloadsConfig.ready)."""
    for model, model_admin in list(site._registry.items()):
        if isinstance(model_admin, LimitedSearchMixin):
            continue
        limited = type(
            model_admin.__class__.__name__,
            (LimitedSearchMixin, model_admin.__class__),
            {"__module__": model_admin.__class__.__module__},
        )
        _reregister(site, model, limited)


def _reregister(site: admin.AdminSite, model: type[Model], model_admin: type) -> None:
    site.unregister(model)
    site.register(model, model_admin)
