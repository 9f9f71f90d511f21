"""The one decision per download, made before a byte moves, so every mode answers alike.

Django has the validators (the content hash, the time the bytes changed) and the one Range parser,
so it answers 304, 412 and 416 itself, decides which ranges, if any, a response carries, and
which headers it sends. `decide()` runs once per download (downloads.delivery.deliver); a mode
gets its result and only chooses how the bytes travel. It never decides again, not even when it
hands the download on to another mode (nginx mode's fallback to the app).
"""

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from django.http import HttpRequest, HttpResponse

from downloads.conf import app_settings
from downloads.delivery.headers import apply_headers, file_headers, validator_headers
from downloads.delivery.sending import Delivery, Mover, Sending
from downloads.http.conditional import precondition_status
from downloads.http.ranges import ByteRange, RangeNotSatisfiable, if_range_allows, parse_range
from downloads.http.types import is_safe_inline
from downloads.models import StoredFile

NOT_SATISFIABLE = 416
# Answers the decision makes whole: no file bytes, no mode involved.
SETTLED = frozenset({304, 412, NOT_SATISFIABLE})


@dataclass(frozen=True)
class Decision:
    stored: StoredFile
    # 200 or 206: a mode sends the answer. 304, 412 or 416: `settled_answer()` is all of it.
    status: int
    # HEAD: the same headers, no body.
    head: bool
    # A 206's ranges, sorted and merged; None for the whole file (and for the settled answers).
    ranges: tuple[ByteRange, ...] | None
    # The answer's headers, whichever mode sends it: the file's (validators, Content-Type,
    # Content-Disposition, nosniff, the CSP sandbox when inline, Accept-Ranges, Cache-Control),
    # or only the validators (and a 416's Content-Range) for the settled answers. Content-Length
    # and a 206's Content-Range are not here: how the bytes are framed is the mode's to say.
    headers: Mapping[str, str]

    @property
    def settled(self) -> bool:
        return self.status in SETTLED

    @property
    def body_bytes(self) -> int:
        """File bytes the answer carries: the ranges' total, the whole file, or none."""
        if self.head or self.settled:
            return 0
        if self.ranges is None:
            return self.stored.size
        return sum(end - start + 1 for start, end in self.ranges)


def decide(
    request: HttpRequest, stored: StoredFile, *, headers: Mapping[str, str] | None = None
) -> Decision:
    """Everything about this download that does not depend on how the bytes travel.

    `headers`: the file's headers, when the request already says which (a signed media URL
    carries the type and disposition it was signed for, downloads/views_media.py); else they
    come from the file and `?inline=1`."""
    method = request.method or "GET"
    head = method == "HEAD"
    status = precondition_status(method, request.headers, stored.etag, stored.last_modified)
    if status is not None:
        return Decision(stored, status, head, None, MappingProxyType(validator_headers(stored)))
    if headers is None:
        # ?inline=1 is honoured only for types safe to render; anything else stays an attachment.
        inline = request.GET.get("inline") == "1" and is_safe_inline(stored.content_type)
        headers = file_headers(stored, inline=inline)
    headers = MappingProxyType(dict(headers))
    if method != "GET" or not if_range_allows(
        request.headers.get("If-Range"), stored.etag, stored.last_modified
    ):
        return Decision(stored, 200, head, None, headers)
    try:
        ranges = parse_range(request.headers.get("Range"), stored.size, app_settings().max_ranges)
    except RangeNotSatisfiable:
        unsatisfiable = {**validator_headers(stored), "Content-Range": f"bytes */{stored.size}"}
        return Decision(stored, NOT_SATISFIABLE, head, None, MappingProxyType(unsatisfiable))
    if ranges is None:
        return Decision(stored, 200, head, None, headers)
    return Decision(stored, 206, head, tuple(ranges), headers)


def settled_answer(decision: Decision) -> Delivery:
    """The whole answer to a 304, 412 or 416: the validators of the representation it stands
    for (RFC 9110 §15.4.5), no file bytes."""
    if decision.status == NOT_SATISFIABLE:
        response = HttpResponse(
            b"Range Not Satisfiable\n",
            status=NOT_SATISFIABLE,
            content_type="text/plain; charset=utf-8",
        )
    else:
        response = HttpResponse(status=decision.status)
        del response["Content-Type"]
    apply_headers(response, decision.headers)
    return Delivery(response, Sending(decision.status, 0, Mover.APP))
