"""Share link pages: making a link, revoking one, and the link itself (downloads/sharelinks.py
has the rules).

The link replaces the user-based access check, never the delivery: a file goes out through the
one decision (delivery/decision.py) and the configured mode, with the whole HTTP contract; a set
through the streamed zip (views_exports.zip_response). Every answer to a link, refused or not, is
in the download log with the link it came through.
"""

import uuid
from datetime import timedelta
from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe

from downloads.clientip import client_ip
from downloads.conf import app_settings
from downloads.csvexport import stamped_name
from downloads.delivery import send_decided
from downloads.delivery.decision import decide
from downloads.delivery.headers import apply_headers, generated_file_headers
from downloads.downloadlog import ZIP_DELIVERY, log_denied, log_download
from downloads.faults import storage_failure_response
from downloads.models import ShareLink, StoredFile
from downloads.selection import BadSelectionError, SelectionTooLargeError, files_within_limits
from downloads.shareforms import ShareLinkForm
from downloads.sharelinks import (
    Ended,
    create_link,
    ended_before_use,
    files_of,
    find_link,
    give_back_download,
    may_continue,
    may_share_any,
    shareable_files,
    spend_download,
    starts_a_download,
)
from downloads.sharethrottle import cooloff, locked_out, record_failure
from downloads.views_exports import zip_response

GONE = 410
NOT_FOUND = 404
TOO_MANY = 429


# Never in a request-wide transaction: refused rows and the download count must not roll back
# with the answer.
@transaction.non_atomic_requests
@login_not_required
@require_safe
def shared(request: HttpRequest, token: str) -> HttpResponseBase:
    now = timezone.now()
    ip = client_ip(request)
    if locked_out(ip, now):
        return _locked_out(request)
    link = find_link(token)
    if link is None:
        record_failure(ip)
        log_denied(request, [None], delivery=app_settings().delivery)
        return _refused(request, NOT_FOUND, "This link does not exist. Check it was copied whole.")
    ended = ended_before_use(link, now)
    files = files_of(link, now) if ended is None else None
    if ended is None and files is None:
        ended = Ended.GONE
    if ended is not None or files is None:
        return _gone(request, link, ended or Ended.GONE)
    if link.file_count == 1:
        return _one_file(request, link, files[0], now)
    return _zip(request, link, files, now)


def _one_file(
    request: HttpRequest, link: ShareLink, stored: StoredFile, now: Any
) -> HttpResponseBase:
    decision = decide(request, stored)
    counted = starts_a_download(request.method or "GET", decision)
    if counted:
        if not spend_download(link, now):
            return _gone(request, link, Ended.USED_UP)
    elif not may_continue(link, now):
        return _gone(request, link, Ended.USED_UP)

    def storage_failed(error: BaseException) -> HttpResponseBase:
        if counted:
            give_back_download(link)
        return storage_failure_response(request, stored, error)

    delivery = send_decided(request, decision, storage_failed)
    log_download(request, stored, delivery, share_link=link)
    return delivery.response


def _zip(
    request: HttpRequest, link: ShareLink, files: list[StoredFile], now: Any
) -> HttpResponseBase:
    try:
        # The limits may have been lowered, or the files grown, since the link was made.
        files = files_within_limits(StoredFile.objects.filter(pk__in=[f.pk for f in files]))
    except (BadSelectionError, SelectionTooLargeError) as error:
        return _refused(request, 413, str(error))
    if request.method == "HEAD":
        # A zip is made as it is sent: HEAD says what a GET would be, and spends nothing.
        response = HttpResponse(b"", content_type="application/zip")
        # Named as a GET's zip is; never after the note, which only the creator sees.
        apply_headers(response, generated_file_headers(stamped_name("files", "zip")))
        return response
    if not spend_download(link, now):
        return _gone(request, link, Ended.USED_UP)
    answer = zip_response(request, files, share_link=link)
    if answer.status_code != 200:
        give_back_download(link)
    return answer


def _gone(request: HttpRequest, link: ShareLink, why: Ended) -> HttpResponse:
    log_denied(
        request,
        [None],
        delivery=app_settings().delivery if link.file_count == 1 else ZIP_DELIVERY,
        status=GONE,
        share_link=link,
    )
    return _refused(request, GONE, why.value)


def _refused(request: HttpRequest, status: int, message: str) -> HttpResponse:
    return render(request, "downloads/share_refused.html", {"message": message}, status=status)


def _locked_out(request: HttpRequest) -> HttpResponse:
    seconds = int(cooloff().total_seconds())
    response = _refused(
        request,
        TOO_MANY,
        "Too many links that do not exist were tried from your address. "
        f"Try again in {seconds // 60} minutes.",
    )
    response["Retry-After"] = str(seconds)
    return response


def share_context(request: HttpRequest, stored: StoredFile) -> dict[str, Any]:
    """What the file page shows about sharing `stored`: the form, and the user's links to it."""
    user = request.user
    if not (stored.owner_id == user.pk or may_share_any(user)):
        return {"may_share": False}
    links = list(
        ShareLink.objects.filter(created_by=user.pk, files=stored).order_by("-created")[:50]
    )
    return {"may_share": True, "share_form": ShareLinkForm(), "share_links": links}


@require_POST
def share_create(request: HttpRequest) -> HttpResponse:
    """POSTed `file` ids (one from the file page, several from My files): with the form's
    fields, make the link and show it once; without them, show the form for those files."""
    try:
        ids = list(dict.fromkeys(uuid.UUID(raw) for raw in request.POST.getlist("file")))
    except ValueError:
        return _refused(request, 400, "That is not a file id.")
    if not ids:
        return _refused(request, 400, "Tick at least one file to share.")
    chosen = shareable_files(request.user).filter(pk__in=ids)
    try:
        files = files_within_limits(chosen.order_by("name", "pk"))
    except SelectionTooLargeError as error:
        return _refused(request, 413, str(error))
    except BadSelectionError:
        files = []
    if len(files) != len(ids):
        raise Http404("No file matches the given query.")
    if "expires_in_days" not in request.POST:
        return _form_page(request, files, ShareLinkForm())
    form = ShareLinkForm(request.POST)
    if not form.is_valid():
        return _form_page(request, files, form)
    data = form.cleaned_data
    link, token = create_link(
        request.user,  # type: ignore[arg-type]  # login required: never anonymous here
        files,
        expires_at=timezone.now() + timedelta(days=data["expires_in_days"]),
        max_downloads=data["max_downloads"],
        note=data["note"],
    )
    url = request.build_absolute_uri(reverse("downloads:shared", args=[token]))
    return render(
        request, "downloads/share_created.html", {"link": link, "url": url, "files": files}
    )


def _form_page(request: HttpRequest, files: list[StoredFile], form: ShareLinkForm) -> HttpResponse:
    return render(request, "downloads/share_new.html", {"files": files, "share_form": form})


@require_POST
def share_revoke(request: HttpRequest, link_id: int) -> HttpResponse:
    """The creator revokes one of their links (staff revoke any in the admin)."""
    link = ShareLink.objects.filter(pk=link_id, created_by=request.user.pk).first()
    if link is None:
        raise Http404("No link matches the given query.")
    ShareLink.objects.filter(pk=link.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    back = request.POST.get("file", "")
    try:
        return HttpResponseRedirect(reverse("downloads:file-detail", args=[uuid.UUID(back)]))
    except ValueError:
        return HttpResponseRedirect(reverse("downloads:file-list"))
