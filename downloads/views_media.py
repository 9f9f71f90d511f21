"""`/m/<payload>.<signature>`: a file a page showed inline, served on the strength of its signed
URL alone (downloads/signedmedia.py has the format, mediaurls.py issues them).

The page that embedded the URL ran the access policy when it was rendered; here nothing asks
again: no session, no user, no access query. The signature and the expiry are checked first,
then the file's row is fetched by id (one query) and must still hold the very bytes the URL was
signed for (same storage key, same SHA-256): a file deleted or replaced since ends its URLs.
Every refusal is the same short 403, never a byte, and one WARNING line with its reason (never
the URL), never a database row. Then the download goes out as any other (delivery/: one
decision, Range, multipart, If-Range, HEAD, 304), with the type and disposition the URL was
signed for. The download log has the URL's issue (who, which file, until when), not
each answer to it.

In nginx mode the rendered nginx answers /m/ itself (deploy/); this view serves it when the app
is reached directly (`make run`), handing the bytes to nginx by X-Accel-Redirect when nginx is
in front.
"""

import functools
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.http.response import HttpResponseBase

from downloads.clientip import client_ip
from downloads.delivery import send_decided
from downloads.delivery.decision import decide
from downloads.delivery.headers import INLINE_CSP, file_headers
from downloads.faults import RETRY_AFTER_SECONDS, report_read_failure
from downloads.models import StoredFile
from downloads.prepared import PreparedQuery
from downloads.signedmedia import UNDECODABLE, Refused, SignedMedia, verify

# Each refused URL, at WARNING, with the reason (signedmedia.py's words and the two below).
refusals = logging.getLogger("downloads.signed_media")
UNKNOWN_FILE = "unknown-file"  # no file with the signed id: deleted since
REPLACED = "replaced"  # the file has other bytes now (another key or hash)

# The one query, compiled to SQL once (downloads/prepared.py): building it through the ORM on
# every request cost about as much CPU as the rest of the view.
_FILE_BY_ID: PreparedQuery[StoredFile] = PreparedQuery(
    StoredFile,
    lambda _variant, file_id: StoredFile.objects.filter(pk=file_id).order_by(),
    fields={"file_id": StoredFile._meta.pk},
    stand_ins=(
        {"file_id": uuid.UUID(int=1)},
        {"file_id": uuid.UUID(int=2)},
    ),
)

FORBIDDEN = 403
REFUSED_BODY = b"This media link has expired or is not valid. Reload the page it came from.\n"
UNAVAILABLE_BODY = b"This file cannot be read from storage right now. Try again later.\n"


def _path_never_logged(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Django logs every 4xx and 5xx answer with its path (the `django.request` logger), and
    here the path is the URL: a 412, 416, 405 or 503 may answer one that still opens its file.
    This view logs its refusals itself, without the URL; a 503's cause is logged by faults.py."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        response = view(request, *args, **kwargs)
        # The flag Django's log_response() checks so that an answer is logged once.
        response._has_been_logged = True  # type: ignore[attr-defined]
        return response

    return wrapper


# Never in a request-wide transaction: the view only reads, and its log row must not wait on one.
@transaction.non_atomic_requests
@login_not_required
@_path_never_logged
def signed_media(request: HttpRequest, token: str) -> HttpResponseBase:
    if request.method not in ("GET", "HEAD"):
        # As require_safe, which would log the path (the URL) as it answers.
        refusals.warning(
            "signed media URL refused: reason=method file=- client=%s", client_ip(request) or "-"
        )
        return HttpResponseNotAllowed(["GET", "HEAD"])
    try:
        media = verify(token, int(time.time()))
        stored = _signed_file(media)
    except Refused as refused:
        # A line per refusal, never a database row: anyone can send these, as fast as they
        # like. The file is named only once the signature holds (else it is whatever the
        # client wrote); never the URL or its signature.
        refusals.warning(
            "signed media URL refused: reason=%s file=%s client=%s",
            refused.reason,
            refused.file_id or "-",
            client_ip(request) or "-",
        )
        return _plain(FORBIDDEN, REFUSED_BODY)
    decision = decide(request, stored, headers=_signed_headers(stored, media))

    def storage_failed(error: BaseException) -> HttpResponse:
        missing = report_read_failure(stored, error, during="a signed media request")
        failure = _plain(503, UNAVAILABLE_BODY)
        if not missing:
            failure["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return failure

    delivery = send_decided(request, decision, storage_failed)
    # No download log row per answer: the row is the URL issued (mediaurls.py, with its user
    # and expiry), as in nginx mode, where nginx answers without the app; the server's access
    # log records each answer. A row per image cut this view's requests/s by 40% (README).
    return delivery.response


def _signed_file(media: SignedMedia) -> StoredFile:
    """The file the URL was signed for, if its row still holds those very bytes; else Refused."""
    try:
        file_id = uuid.UUID(media.file_id)
    except ValueError as error:
        # Only a payload this app signed gets here: a bug, refused all the same.
        raise Refused(UNDECODABLE, "file id") from error
    stored = _FILE_BY_ID.first(None, file_id=file_id)
    if stored is None:
        raise Refused(UNKNOWN_FILE, file_id=media.file_id)
    if stored.file.name != media.storage_key or stored.sha256 != media.sha256:
        raise Refused(REPLACED, file_id=media.file_id)
    return stored


def _signed_headers(stored: StoredFile, media: SignedMedia) -> dict[str, str]:
    """The file's headers (validators, nosniff, Cache-Control), with the type and disposition
    the URL was signed for; the CSP sandbox whenever that disposition is inline."""
    inline = media.content_disposition.startswith("inline")
    headers = file_headers(stored, inline=inline)
    headers["Content-Type"] = media.content_type
    headers["Content-Disposition"] = media.content_disposition
    if inline:
        headers["Content-Security-Policy"] = INLINE_CSP
    return headers


def _plain(status: int, body: bytes) -> HttpResponse:
    response = HttpResponse(body, status=status, content_type="text/plain; charset=utf-8")
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response
