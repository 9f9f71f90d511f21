"""Many files as one zip, and the file list as CSV: generated responses, streamed as they are made.

The zip is a POST (a selection can be long; CSRF-protected): `file` repeated with file ids, or
`all=1` with the list's search `q`. Bad input is a 400 and a selection past the limits a 413,
both as a short page with a way back; a forbidden or missing id makes the whole request a 404
(see selection.py). Neither kind of response supports Range: `Accept-Ranges: none`.
"""

from collections.abc import Sequence

from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_POST, require_safe

from downloads.access import downloadable_files
from downloads.archive import build_archive
from downloads.conf import app_settings
from downloads.csvexport import file_list_csv, stamped_name
from downloads.delivery.headers import apply_headers, generated_file_headers
from downloads.downloadlog import ZIP_DELIVERY, log_denied, log_zip
from downloads.faults import missing_local_members
from downloads.listing import listable_files
from downloads.models import ShareLink, StoredFile
from downloads.selection import (
    BadSelectionError,
    FilesNotFoundError,
    SelectionTooLargeError,
    files_by_id,
    files_within_limits,
    search_files,
)


# As the download view: it only reads, and denied rows must not roll back with the 404.
@transaction.non_atomic_requests
@require_POST
def download_zip(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    query = request.POST.get("q", "")
    try:
        if request.POST.get("all") == "1":
            files = files_within_limits(search_files(downloadable_files(request.user), query))
        else:
            files = files_by_id(request.user, request.POST.getlist("file"))
    except BadSelectionError as error:
        return _zip_refused(request, str(error), query, status=400)
    except SelectionTooLargeError as error:
        return _zip_refused(request, str(error), query, status=413)
    except FilesNotFoundError as error:
        log_denied(request, error.ids, delivery=ZIP_DELIVERY)
        raise
    return zip_response(request, files)


def zip_response(
    request: HttpRequest, files: Sequence[StoredFile], *, share_link: ShareLink | None = None
) -> HttpResponse | StreamingHttpResponse:
    """The streamed zip of already-authorised files, with a download log row for each member,
    written when the body ends (downloadlog.py); `share_link`: the link it came through."""
    if missing := missing_local_members(files):
        # Found before the first byte: a clear 503 instead of a zip that breaks off (faults.py).
        names = ", ".join(f"“{stored.name}”" for stored in missing)
        message = f"Unavailable on the server (staff have been told): {names}."
        return _zip_refused(request, message, request.POST.get("q", ""), status=503)
    archive = build_archive(files, deflate_max_bytes=app_settings().zip_deflate_max_bytes)
    response = StreamingHttpResponse(archive.chunks, content_type="application/zip")
    if archive.length is not None:
        response["Content-Length"] = str(archive.length)
    apply_headers(response, generated_file_headers(stamped_name("files", "zip")))
    log_zip(request, files, archive, response, share_link=share_link)
    return response


@require_safe
def export_files_csv(request: HttpRequest) -> StreamingHttpResponse:
    files: QuerySet[StoredFile] = search_files(
        listable_files(request.user), request.GET.get("q", "")
    )
    return file_list_csv(request, files)


def _zip_refused(request: HttpRequest, message: str, query: str, *, status: int) -> HttpResponse:
    return render(
        request,
        "downloads/zip_refused.html",
        {"message": message, "query": query.strip()},
        status=status,
    )
