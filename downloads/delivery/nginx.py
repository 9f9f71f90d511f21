"""Delivery mode "nginx": Django decides, nginx moves the bytes (X-Accel-Redirect).

Django answers 304, 412 and 416 itself and picks the ranges (decision.py). The response it
hands to nginx names an internal location of deploy/nginx.conf.template:

- `<prefix>file/<key>`: the whole local file; nginx ignores any Range there (`max_ranges 0`).
- `<prefix>ranges/<key>`: the local file, nginx applying the client's Range header itself. Used
  only when nginx reads that header exactly as Django did.
- `<prefix>s3`: nginx fetches the object from the bucket through a presigned URL
  (X-Download-Url), asking for Django's one range (X-Download-Range): the client never sees the
  bucket.

Of this response nginx keeps Content-Type, Content-Disposition, Cache-Control, Expires,
Accept-Ranges and Set-Cookie; the locations re-add the ETag, Last-Modified and the inline CSP from
`$upstream_http_*` and add nosniff themselves.

A few requests nginx would answer otherwise than the contract says are answered by Django
itself, so the contract holds in every case: If-Match and If-Unmodified-Since (nginx's static
module checks them against its own validators), an If-Range nginx might parse differently, Range
lists nginx would serve unmerged or unsorted, and several ranges of an S3 object (one GET carries
one range). The app sends those from the same decision: nothing is decided twice.
"""

import re
from collections.abc import Sequence
from urllib.parse import quote

from django.http import HttpRequest, HttpResponse
from django.utils.http import http_date

from downloads.conf import app_settings
from downloads.delivery import app
from downloads.delivery.decision import Decision
from downloads.delivery.headers import apply_headers
from downloads.delivery.sending import Delivery, Mover, Sending
from downloads.faults import require_local_bytes, require_s3_object
from downloads.http.ranges import ByteRange, RangeNotSatisfiable, parse_range
from downloads.models import StoredFile
from downloads.storage import is_s3, presigned_url, stored_key

# One range-spec as nginx's parser accepts it (it allows no tabs and no empty list elements,
# and refuses numbers past 2^63, so longer digit runs are left to Django).
_NGINX_RANGE_SPEC = re.compile(r"[0-9]{1,18}-[0-9]{0,18}|-[0-9]{1,18}")


def send(request: HttpRequest, decision: Decision) -> Delivery:
    stored = decision.stored
    storage = stored.file.storage
    in_s3 = is_s3(storage)
    if not _nginx_agrees(request, stored, decision.ranges, in_s3=in_s3):
        return app.send(request, decision)

    response = HttpResponse(content_type=decision.headers["Content-Type"])
    apply_headers(response, decision.headers)
    prefix = app_settings().nginx_prefix
    key = stored_key(stored.file)
    if in_s3:
        require_s3_object(storage, key)
        response["X-Accel-Redirect"] = f"{prefix}s3"
        response["X-Download-Url"] = presigned_url(storage, key, head=decision.head)
        if decision.ranges:
            (start, end) = decision.ranges[0]
            response["X-Download-Range"] = f"bytes={start}-{end}"
    else:
        # Missing bytes are the app's clear 503 (faults.py), not nginx's bare 404: one stat().
        require_local_bytes(storage, key)
        location = "ranges/" if decision.ranges else "file/"
        # nginx percent-decodes the header once, then refuses ".." and splits at "?".
        response["X-Accel-Redirect"] = prefix + location + quote(key, safe="/")
    if app_settings().nginx_rate_limit:
        response["X-Accel-Limit-Rate"] = str(app_settings().nginx_rate_limit)
    # nginx answers the decision's status with the file bytes asked for (its multipart framing
    # is not counted).
    return Delivery(response, Sending(decision.status, decision.body_bytes, Mover.NGINX))


def _nginx_agrees(
    request: HttpRequest,
    stored: StoredFile,
    ranges: Sequence[ByteRange] | None,
    *,
    in_s3: bool,
) -> bool:
    """Whether nginx, handed this request, answers exactly what Django decided."""
    if in_s3:
        # The bucket sees none of the client's headers, only Django's single range.
        return ranges is None or len(ranges) == 1
    if "If-Match" in request.headers or "If-Unmodified-Since" in request.headers:
        return False
    if ranges is None:
        return True
    if_range = request.headers.get("If-Range")
    if if_range is not None and if_range.strip(" ") not in (
        stored.etag,
        http_date(stored.last_modified),
    ):
        return False
    return _nginx_reads_alike(request.headers["Range"], ranges, stored.size)


def _nginx_reads_alike(header: str, ranges: Sequence[ByteRange], size: int) -> bool:
    """Whether nginx's own Range parser picks exactly `ranges`, in this order, from `header`.

    nginx serves each range-spec as written: it neither merges overlapping or touching ones
    nor sorts them, and it answers 416 where RFC 9110 says to ignore a malformed header.
    """
    if "\t" in header:
        return False
    picked: list[ByteRange] = []
    for spec in header.strip(" ").partition("=")[2].split(","):
        spec = spec.strip(" ")
        if not _NGINX_RANGE_SPEC.fullmatch(spec):
            return False
        try:
            alone = parse_range(f"bytes={spec}", size, 1)
        except RangeNotSatisfiable:
            continue  # nginx skips it too
        if alone is None:
            return False
        picked.extend(alone)
    return picked == list(ranges)
