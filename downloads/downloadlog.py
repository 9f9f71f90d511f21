"""Writing the download log: one row per answered download request."""

from dataclasses import dataclass

from django.conf import settings
from django.db import router, transaction
from django.http import HttpRequest
from django.http.response import HttpResponseBase

from downloads.clientip import client_ip
from downloads.logwriter import WRITER
from downloads.models import DownloadLog, StoredFile


@dataclass(frozen=True)
class DelegatedAnswer:
    """What the client gets from whoever sends the body on Django's behalf (nginx after an
    X-Accel-Redirect): Django's own response is an empty 200 and says neither."""

    status: int
    body_bytes: int


def delegate_answer(response: HttpResponseBase, status: int, body_bytes: int) -> None:
    response.delegated_answer = DelegatedAnswer(status, body_bytes)  # type: ignore[attr-defined]


def _delegated(response: HttpResponseBase) -> DelegatedAnswer | None:
    return getattr(response, "delegated_answer", None)


def answered_status(response: HttpResponseBase) -> int:
    delegated = _delegated(response)
    return delegated.status if delegated else response.status_code


def body_length(request: HttpRequest, response: HttpResponseBase) -> int:
    if request.method == "HEAD" or response.status_code in (304, 412, 416):
        return 0
    delegated = _delegated(response)
    if delegated is not None:
        return delegated.body_bytes
    try:
        return int(response.get("Content-Length", "0"))
    except ValueError:
        return 0


def log_download(request: HttpRequest, stored: StoredFile, response: HttpResponseBase) -> None:
    """Record the answer without making the bytes wait for the database (logwriter.py)."""
    row = DownloadLog(
        file=stored,
        file_name=stored.name,
        user=request.user if request.user.is_authenticated else None,
        ip=client_ip(request),
        status=answered_status(response),
        range=request.headers.get("Range", "")[:200],
        bytes_sent=body_length(request, response),
        delivery=settings.DOWNLOADS_DELIVERY,
        # Set by whoever answered a failure instead of the delivery (faults.py).
        outcome=getattr(response, "download_outcome", ""),
    )
    if transaction.get_connection(router.db_for_write(DownloadLog)).in_atomic_block:
        # The request's own transaction: the row commits or rolls back with it.
        row.save()
    else:
        WRITER.submit(row)
