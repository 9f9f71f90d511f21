"""Uploads by users from My files, and what a file's owner does on its page: share it, delete it.

The upload view answers JSON to the page's script (one request per file, so each file gets its
own progress bar and its own answer) and redirects with a message otherwise. It decides who may
upload, and whether the file can fit the quota, from the request's headers, before its body is
read: CsrfViewMiddleware would read the whole body (looking for the token in the form) before any
view ran, so the view is exempt from it and runs the same check itself once the body is wanted.
"""

import contextlib
import logging
from typing import Any

from django.contrib import messages
from django.db import transaction
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseRedirect,
    JsonResponse,
    UnreadablePostError,
)
from django.http.multipartparser import MultiPartParserError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods, require_POST

from downloads.faults import STORAGE_WRITE_ERRORS, storage_write_message
from downloads.http.types import is_safe_inline
from downloads.models import Grant, StoredFile
from downloads.uploadforms import ShareForm, UploadForm
from downloads.useruploads import Quota, UploadRefused, may_upload, store_upload

CUT_OFF = "The upload was cut off before its end. Nothing was stored."

logger = logging.getLogger(__name__)


class _CountingStream:
    """The request body's stream, counting the bytes that really arrived.

    A client that leaves half way ends the body early, and Django's multipart parser then
    completes the file it was reading as if it were whole: only the count tells them apart."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self.received = 0

    def read(self, *args: Any) -> bytes:
        data: bytes = self._stream.read(*args)
        self.received += len(data)
        return data

    def readline(self, *args: Any) -> bytes:
        data: bytes = self._stream.readline(*args)
        self.received += len(data)
        return data


def _user_id(request: HttpRequest) -> int:
    assert request.user.pk is not None  # logged in: LoginRequiredMiddleware
    return int(request.user.pk)


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _refused(request: HttpRequest, status: int, message: str) -> HttpResponse:
    if _wants_json(request):
        return JsonResponse({"error": message}, status=status)
    messages.error(request, message)
    return redirect("downloads:file-list")


@csrf_exempt  # checked in _receive, once the body is wanted (see the module's docstring)
@require_POST
def upload(request: HttpRequest) -> HttpResponse:
    if not may_upload(request.user):
        return _refused(request, 403, "You may not upload files.")
    # bodylimit.py has refused a missing, malformed or too large Content-Length already.
    length = int(request.META.get("CONTENT_LENGTH") or 0)
    refusal = Quota.of(_user_id(request)).refusal_for_body(length)
    if refusal is not None:
        return _refused(request, refusal.status, str(refusal))
    # WSGIRequest reads its body through `_stream` (Django 5.2 and 6): counted from here on.
    counter = _CountingStream(request._stream)  # type: ignore[attr-defined]
    request._stream = counter  # type: ignore[attr-defined,assignment]
    # The body is read and parsed here (a file spooled to a temporary file); a failure to read
    # or parse it is judged by what arrived, below, or by the form: no file.
    with contextlib.suppress(UnreadablePostError, MultiPartParserError):
        request.POST  # noqa: B018
    if counter.received < length:
        logger.warning(
            "Upload by user %s cut off after %d of %d bytes; nothing stored",
            request.user.pk,
            counter.received,
            length,
        )
        return _refused(request, 400, CUT_OFF)
    return _receive(request)


@csrf_protect
def _receive(request: HttpRequest) -> HttpResponse:
    form = UploadForm(request.POST, request.FILES)
    # downloads/uploads.py: the temporary file could not be written while the body was read.
    form.storage_error = getattr(request, "storage_write_error", "")
    if not form.is_valid():
        return _refused(request, 400, form.first_error())
    try:
        stored = store_upload(_user_id(request), form.cleaned_data["file"])
    except UploadRefused as refused:
        return _refused(request, refused.status, str(refused))
    except STORAGE_WRITE_ERRORS as error:
        return _refused(request, 503, storage_write_message(error))
    if not _wants_json(request):
        messages.success(request, f"Uploaded “{stored.name}”.")
        return redirect(stored)
    return JsonResponse(
        {
            "id": str(stored.pk),
            "name": stored.name,
            "size": stored.size,
            "content_type": stored.content_type,
            "sha256": stored.sha256,
            "url": stored.get_absolute_url(),
            "download_url": stored.get_download_url(),
        },
        status=201,
        json_dumps_params={"ensure_ascii": False},
    )


def _owned_file(request: HttpRequest, file_id: str) -> StoredFile:
    # Someone else's file, or none: the same 404 as every other refusal.
    return get_object_or_404(StoredFile.objects.filter(owner_id=request.user.pk), pk=file_id)


@require_POST
def share(request: HttpRequest, file_id: str) -> HttpResponse:
    stored = _owned_file(request, file_id)
    form = ShareForm(request.POST, owner=request.user)
    if not form.is_valid():
        context = {"file": stored, "can_open": is_safe_inline(stored.content_type)}
        return render(
            request, "downloads/file_detail.html", {**context, "share_form": form}, status=400
        )
    holder = form.cleaned_data["username"] or form.cleaned_data["group"]
    kind = "user" if form.cleaned_data["username"] else "group"
    Grant.objects.update_or_create(
        file=stored, **{kind: holder}, defaults={"expires_at": form.cleaned_data["expires_at"]}
    )
    messages.success(request, f"Shared “{stored.name}” with {kind} “{holder}”.")
    return redirect(stored)


@require_POST
def revoke(request: HttpRequest, file_id: str) -> HttpResponse:
    stored = _owned_file(request, file_id)
    grant_id = request.POST.get("grant", "")
    if not grant_id.isdigit():
        return HttpResponseBadRequest("Say which grant to revoke.", content_type="text/plain")
    grant = get_object_or_404(Grant, file=stored, pk=int(grant_id))
    grant.delete()
    messages.success(request, f"“{stored.name}” is no longer shared with {grant}.")
    return redirect(stored)


@require_http_methods(["GET", "HEAD", "POST"])
def delete(request: HttpRequest, file_id: str) -> HttpResponse:
    stored = _owned_file(request, file_id)
    if request.method != "POST":
        return render(request, "downloads/file_delete.html", {"file": stored})
    name = stored.name
    # The bytes go once the row's deletion has committed (signals.py, files.delete_after_commit):
    # a delete that rolls back keeps a file whole.
    with transaction.atomic():
        stored.delete()
    messages.success(request, f"Deleted “{name}”.")
    return HttpResponseRedirect(reverse("downloads:file-list"))
