"""Delivery mode "s3": after the access check and the log entry, a 302 to a presigned URL.

The URL carries the download's Content-Type, Content-Disposition and Cache-Control
(`response-content-*` parameters signed into it), so the bucket answers with the same name and
type as the other modes. The bucket does Range itself; it cannot add `nosniff` or a CSP, but it
serves from its own origin, where a user's file cannot reach the app's cookies. A HEAD gets a
URL signed for HEAD. Presigning is local computation: no request to the bucket per download.

Django still answers 304, 412 and 416 itself (decision.py): it has the validators and the Range
parser.
"""

from collections.abc import Mapping

from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponseRedirect

from downloads.delivery.decision import Decision
from downloads.delivery.sending import Delivery, Mover, Sending
from downloads.faults import require_s3_object
from downloads.models import StoredFile
from downloads.storage import is_s3, presigned_url, stored_key

# A redirect holds a credential that expires: no cache may keep or reuse it.
REDIRECT_CACHE_CONTROL = "private, no-store"


def send(request: HttpRequest, decision: Decision) -> Delivery:
    stored = decision.stored
    storage = stored.file.storage
    if not is_s3(storage):
        # The system check (downloads.E010) reports this at start; never serve around it.
        raise ImproperlyConfigured("DOWNLOADS_DELIVERY=s3 needs the S3 storage.")
    # Missing bytes (or a bucket that does not answer) are the app's clear 503, not the bucket's
    # own 404 document after the redirect: one HEAD (faults.py says what it costs).
    require_s3_object(storage, stored_key(stored.file))
    url = presigned_file_url(stored, decision.headers, head=decision.head)
    response = HttpResponseRedirect(url)
    response["Cache-Control"] = REDIRECT_CACHE_CONTROL
    # Django's answer is the redirect; the bucket sends the bytes asked of it.
    return Delivery(response, Sending(response.status_code, decision.body_bytes, Mover.BUCKET))


# The download's headers the bucket is asked to answer with (`response-content-*` parameters).
BUCKET_RESPONSE_HEADERS = {
    "ResponseContentType": "Content-Type",
    "ResponseContentDisposition": "Content-Disposition",
    "ResponseCacheControl": "Cache-Control",
}


def bucket_response_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {param: headers[name] for param, name in BUCKET_RESPONSE_HEADERS.items()}


def presigned_file_url(
    stored: StoredFile,
    headers: Mapping[str, str],
    *,
    head: bool = False,
    expires_in: int | None = None,
) -> str:
    """The presigned URL of `stored`'s object, answered with the download's `headers`: the
    redirect of a checked download, and the URL a page embeds (downloads/mediaurls.py)."""
    return presigned_url(
        stored.file.storage,  # type: ignore[arg-type]  # send() checked it is S3
        stored_key(stored.file),
        head=head,
        response_headers=bucket_response_headers(headers),
        expires_in=expires_in,
    )
