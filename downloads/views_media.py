"""`/m/<payload>.<signature>`: a file a page showed inline, served on the strength of its signed
URL alone (downloads/signedmedia.py has the format, mediaurls.py issues them).

The page that embedded the URL ran the access policy when it was rendered; here nothing asks
again: no session, no user, no access query. The signature and the expiry are checked first,
then the file's row is fetched by id (one query) and must still hold the very bytes the URL was
signed for (same storage key, same SHA-256): a file deleted or replaced since ends its URLs.
Every refusal is the same short 403, never a byte. Then the download goes out as any other
(delivery/: one decision, Range, multipart, If-Range, HEAD, 304), with the type and disposition
the URL was signed for. The download log has the URL's issue (who, which file, until when), not
each answer to it.

In nginx mode the rendered nginx answers /m/ itself (deploy/); this view serves it when the app
is reached directly (`make run`), handing the bytes to nginx by X-Accel-Redirect when nginx is
in front.
"""

import logging
import time
import uuid

from django.contrib.auth.decorators import login_not_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.views.decorators.http import require_safe

from downloads.delivery import send_decided
from downloads.delivery.decision import decide
from downloads.delivery.headers import INLINE_CSP, file_headers
from downloads.faults import RETRY_AFTER_SECONDS, report_read_failure
from downloads.models import StoredFile
from downloads.prepared import PreparedQuery
from downloads.signedmedia import Refused, SignedMedia, verify

logger = logging.getLogger(__name__)

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


# Never in a request-wide transaction: the view only reads, and its log row must not wait on one.
@transaction.non_atomic_requests
@login_not_required
@require_safe
def signed_media(request: HttpRequest, token: str) -> HttpResponseBase:
    try:
        media = verify(token, int(time.time()))
    except Refused as why:
        logger.debug("signed media URL refused: %s", why)
        return _plain(FORBIDDEN, REFUSED_BODY)
    stored = _signed_file(media)
    if stored is None:
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


def _signed_file(media: SignedMedia) -> StoredFile | None:
    """The file the URL was signed for, if its row still holds those very bytes."""
    try:
        file_id = uuid.UUID(media.file_id)
    except ValueError:
        return None  # only a payload this app signed gets here: a bug, refused all the same
    stored = _FILE_BY_ID.first(None, file_id=file_id)
    if stored is None or stored.file.name != media.storage_key or stored.sha256 != media.sha256:
        return None
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
