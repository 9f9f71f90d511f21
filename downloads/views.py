"""Pages, the JSON list and the download view.

Access is decided in access.py, bytes in delivery/."""

from django.contrib.auth.decorators import login_not_required
from django.core.paginator import EmptyPage, PageNotAnInteger, Paginator
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, render
from django.utils.http import http_date
from django.views.decorators.http import require_safe

from downloads.access import downloadable_file, downloadable_files
from downloads.conf import app_settings
from downloads.delivery import deliver
from downloads.downloadlog import log_denied, log_download, parse_file_id
from downloads.faults import storage_failure_response
from downloads.filerows import file_rows
from downloads.http.types import is_safe_inline
from downloads.listing import FilesPaginator, decided_files
from downloads.mediaurls import has_preview, is_thumbnail, media_url, media_urls
from downloads.views_share import share_context


def _paginated_files(request: HttpRequest) -> Paginator:
    # The policy's files matching the search (the same search the zip's "all matching" and the
    # CSV export use), found through the user's grants first and decided once for the page and
    # its count (downloads/listing.py).
    decided = decided_files(request.user, request.GET.get("q", ""))
    return FilesPaginator(
        decided.files.select_related("owner"), app_settings().page_size, decided.count
    )


@require_safe
def file_list(request: HttpRequest) -> HttpResponse:
    paginator = _paginated_files(request)
    page = paginator.get_page(request.GET.get("page"))
    files = list(page.object_list)
    # A thumbnail per image, through a signed URL (downloads/mediaurls.py).
    thumbnails = media_urls(request, [stored for stored in files if is_thumbnail(stored)])
    return render(
        request,
        "downloads/file_list.html",
        {
            "page": page,
            "rows": file_rows(files, thumbnails),
            "query": request.GET.get("q", "").strip(),
        },
    )


@require_safe
def file_detail(request: HttpRequest, file_id: str) -> HttpResponse:
    stored = get_object_or_404(downloadable_files(request.user).select_related("owner"), pk=file_id)
    return render(
        request,
        "downloads/file_detail.html",
        {
            "file": stored,
            "can_open": is_safe_inline(stored.content_type),
            # The preview's URL, signed (downloads/mediaurls.py); None: no preview.
            "media_url": media_url(request, stored) if has_preview(stored) else None,
            **share_context(request, stored),
        },
    )


# Never in a request-wide transaction (ATOMIC_REQUESTS): the view only reads, and a denied
# request's log row must not roll back with its 404.
@transaction.non_atomic_requests
@require_safe
def download(request: HttpRequest, file_id: str) -> HttpResponseBase:
    # Any id reaches the view (urls.py), so a malformed one is logged as denied too.
    requested = parse_file_id(file_id)
    stored = downloadable_file(request.user, requested) if requested else None
    if stored is None:
        log_denied(request, [requested], delivery=app_settings().delivery)
        raise Http404("No file matches the given query.")
    # Missing bytes or storage down: a clear 503 page, logged and flagged (faults.py).
    delivery = deliver(
        request, stored, lambda error: storage_failure_response(request, stored, error)
    )
    log_download(request, stored, delivery)
    return delivery.response


@login_not_required
@require_safe
def api_files(request: HttpRequest) -> JsonResponse:
    if not request.user.is_authenticated:
        return JsonResponse({"detail": "Log in to list your files."}, status=403)
    paginator = _paginated_files(request)
    try:
        page = paginator.page(request.GET.get("page") or 1)
    except PageNotAnInteger:
        return JsonResponse({"detail": "page must be a whole number."}, status=400)
    except EmptyPage:
        return JsonResponse({"detail": "No such page."}, status=404)

    def page_url(number: int) -> str:
        params = request.GET.copy()
        params["page"] = str(number)
        return request.build_absolute_uri(f"{request.path}?{params.urlencode()}")

    return JsonResponse(
        {
            "count": paginator.count,
            "next": page_url(page.next_page_number()) if page.has_next() else None,
            "previous": page_url(page.previous_page_number()) if page.has_previous() else None,
            "results": [
                {
                    "id": str(stored.pk),
                    "name": stored.name,
                    "size": stored.size,
                    "content_type": stored.content_type,
                    "sha256": stored.sha256,
                    "modified": stored.updated.isoformat(),
                    "modified_http": http_date(stored.last_modified),
                    "owner": stored.owner.get_username(),
                    "download_url": request.build_absolute_uri(stored.get_download_url()),
                }
                for stored in page.object_list
            ],
        },
        json_dumps_params={"ensure_ascii": False},
    )
