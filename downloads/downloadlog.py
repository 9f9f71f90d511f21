"""Writing the download log: one row per answered download request."""

from django.conf import settings
from django.http import HttpRequest
from django.http.response import HttpResponseBase

from downloads.models import DownloadLog, StoredFile


def client_ip(request: HttpRequest) -> str | None:
    """The client's address: REMOTE_ADDR, or the one a trusted proxy put in X-Forwarded-For."""
    trusted = settings.DOWNLOADS_TRUSTED_PROXIES
    if trusted:
        forwarded = [a.strip() for a in request.headers.get("X-Forwarded-For", "").split(",")]
        forwarded = [a for a in forwarded if a]
        # Each trusted proxy appended the address it saw; anything further left is client-made.
        if len(forwarded) >= trusted:
            return forwarded[-trusted]
    return request.META.get("REMOTE_ADDR") or None


def body_length(request: HttpRequest, response: HttpResponseBase) -> int:
    if request.method == "HEAD" or response.status_code in (304, 412, 416):
        return 0
    try:
        return int(response.get("Content-Length", 0))
    except ValueError:
        return 0


def log_download(request: HttpRequest, stored: StoredFile, response: HttpResponseBase) -> None:
    DownloadLog.objects.create(
        file=stored,
        file_name=stored.name,
        user=request.user if request.user.is_authenticated else None,
        ip=client_ip(request),
        status=response.status_code,
        range=request.headers.get("Range", "")[:200],
        bytes_sent=body_length(request, response),
        delivery=settings.DOWNLOADS_DELIVERY,
    )
