"""The headers every delivery mode sends for a file, so a user cannot tell the modes apart, and
the one place headers are put on a response."""

from collections.abc import Mapping

from django.http.response import HttpResponseBase
from django.utils.http import http_date

from downloads.http.disposition import content_disposition
from downloads.models import StoredFile

# Served inline, a user's file still runs on the app's origin: sandbox it (no scripts, no forms,
# an opaque origin) whatever its type claims to be.
INLINE_CSP = "sandbox"


def validator_headers(stored: StoredFile) -> dict[str, str]:
    """What a 304 repeats from the 200 it stands for (RFC 9110 §15.4.5)."""
    return {
        "ETag": stored.etag,
        "Last-Modified": http_date(stored.last_modified),
        "Cache-Control": "private, no-cache",
        "X-Content-Type-Options": "nosniff",
    }


def file_headers(stored: StoredFile, *, inline: bool) -> dict[str, str]:
    headers = {
        "Content-Type": stored.content_type,
        "Content-Disposition": content_disposition(stored.name, inline=inline),
        "Accept-Ranges": "bytes",
        **validator_headers(stored),
    }
    if inline:
        headers["Content-Security-Policy"] = INLINE_CSP
    return headers


def generated_file_headers(filename: str) -> dict[str, str]:
    """Headers of a file made on the fly (a zip, a CSV export): never the same twice."""
    return {
        "Content-Disposition": content_disposition(filename, inline=False),
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, no-store",
        # No byte ranges, no resume: the bytes would not be the same on a second request.
        "Accept-Ranges": "none",
        # A proxy in front (nginx) passes each piece on as it comes instead of spooling the
        # whole export to a temporary file first.
        "X-Accel-Buffering": "no",
    }


def apply_headers(response: HttpResponseBase, headers: Mapping[str, str]) -> None:
    """Set `headers` on `response`, replacing what the response class set by default (a
    FileResponse's guessed Content-Type and Content-Disposition, HttpResponse's text/html)."""
    for name, value in headers.items():
        response[name] = value
