"""What every delivery mode settles before a byte moves, so all modes settle it alike.

Django has the validators (the content hash, the time the bytes changed) and the one Range parser,
so it answers 304, 412 and 416 itself and decides which ranges, if any, a response carries. A
mode only chooses how those bytes travel.
"""

from typing import NamedTuple

from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase

from downloads.conf import app_settings
from downloads.delivery.headers import validator_headers
from downloads.http.conditional import precondition_status
from downloads.http.ranges import ByteRange, RangeNotSatisfiable, if_range_allows, parse_range
from downloads.models import StoredFile


class Preflight(NamedTuple):
    # 304, 412 or 416: the whole answer, no bytes to send.
    answer: HttpResponse | None
    # Otherwise the ranges to send, sorted and merged; None for the whole file.
    ranges: list[ByteRange] | None


def preflight(request: HttpRequest, stored: StoredFile) -> Preflight:
    status = precondition_status(
        request.method or "GET", request.headers, stored.etag, stored.last_modified
    )
    if status is not None:
        return Preflight(bodiless(status, stored), None)
    if request.method != "GET" or not if_range_allows(
        request.headers.get("If-Range"), stored.etag, stored.last_modified
    ):
        return Preflight(None, None)
    try:
        ranges = parse_range(request.headers.get("Range"), stored.size, app_settings().max_ranges)
    except RangeNotSatisfiable:
        return Preflight(not_satisfiable(stored), None)
    return Preflight(None, ranges)


def bodiless(status: int, stored: StoredFile) -> HttpResponse:
    """A 304 or 412: the validators of the representation it stands for, no body."""
    response = HttpResponse(status=status)
    del response["Content-Type"]
    apply_headers(response, validator_headers(stored))
    return response


def not_satisfiable(stored: StoredFile) -> HttpResponse:
    response = HttpResponse(
        b"Range Not Satisfiable\n", status=416, content_type="text/plain; charset=utf-8"
    )
    apply_headers(response, validator_headers(stored))
    response["Content-Range"] = f"bytes */{stored.size}"
    return response


def apply_headers(response: HttpResponseBase, headers: dict[str, str]) -> None:
    for name, value in headers.items():
        response[name] = value
