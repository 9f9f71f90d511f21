"""Range requests: the Range header (RFC 9110 §14.1-14.2) and If-Range (§13.1.5).

Whitespace: leading/trailing OWS of the field value and OWS around list commas are accepted
(they are part of the list syntax); whitespace around "=" or inside a range-spec is not in the
grammar, so such a header is malformed and ignored. Empty list elements are skipped.
"""

import math
import re

from django.utils.http import parse_http_date_safe

from downloads.http.conditional import current_entity_tag, parse_entity_tags, strong_match

# Inclusive first and last byte positions, like Content-Range.
ByteRange = tuple[int, int]

_OWS = " \t"
# ASCII digits only: str.isdigit() would also accept "²" or Arabic-Indic digits.
_INT_RANGE = re.compile(r"([0-9]+)-([0-9]*)")
_SUFFIX_RANGE = re.compile(r"-([0-9]+)")


class RangeNotSatisfiable(Exception):
    """No range-spec overlaps the representation: the answer is 416."""


class _Malformed(ValueError):
    pass


def parse_range(header: str | None, size: int, max_ranges: int) -> list[ByteRange] | None:
    """The byte ranges to send, sorted, merged and clamped to `size`; None to send the whole file.

    None when the header is absent or empty, uses another unit than "bytes", is malformed
    anywhere, or lists more than `max_ranges` range-specs (counted as written, before merging,
    so a huge header is refused before any work). Unsatisfiable specs are dropped; if none is
    left, RangeNotSatisfiable. On an empty file a non-zero suffix range is satisfiable but
    selects no byte, which a 206 cannot express, so the whole (empty) file is sent instead.
    """
    if not header:
        return None
    unit, equals, range_set = header.strip(_OWS).partition("=")
    if not equals or unit.lower() != "bytes":
        return None
    specs = [spec for spec in (part.strip(_OWS) for part in range_set.split(",")) if spec]
    if not specs or len(specs) > max_ranges:
        return None
    try:
        resolved = [_resolve(spec, size) for spec in specs]
    except _Malformed:
        return None
    ranges = [byte_range for byte_range in resolved if byte_range is not None]
    if not ranges:
        raise RangeNotSatisfiable
    if size == 0:
        return None
    return _coalesce(ranges)


def if_range_allows(if_range: str | None, etag: str, last_modified: float) -> bool:
    """Whether a Range header may be honoured: no If-Range, or one that still matches.

    An entity-tag must match `etag` strongly (a weak tag never does); an HTTP-date must equal
    `last_modified` to the second. Anything else, unparsable included, means the whole file.
    """
    if if_range is None:
        return True
    value = if_range.strip(_OWS)
    if value.startswith(('"', "W/")):
        tags = parse_entity_tags(value) or []
        return len(tags) == 1 and strong_match(tags[0], current_entity_tag(etag))
    date = parse_http_date_safe(value)
    return date is not None and date == math.floor(last_modified)


def _resolve(spec: str, size: int) -> ByteRange | None:
    """One range-spec as positions inside the file; None when it is unsatisfiable."""
    if suffix := _SUFFIX_RANGE.fullmatch(spec):
        if not suffix[1].strip("0"):
            return None
        # A suffix longer than the file means all of it. On an empty file this gives (0, -1):
        # satisfiable, yet no byte to send.
        return size - _clamped(suffix[1], size), size - 1
    if int_range := _INT_RANGE.fullmatch(spec):
        first_digits, last_digits = int_range[1], int_range[2]
        if last_digits and _exceeds(first_digits, last_digits):
            raise _Malformed(spec)
        first = _clamped(first_digits, size)
        if first >= size:
            return None
        last = _clamped(last_digits, size) if last_digits else size
        return first, min(last, size - 1)
    raise _Malformed(spec)


def _clamped(digits: str, ceiling: int) -> int:
    # A position past the end means the same as the end, and comparing lengths first avoids
    # int() on thousands of digits (which Python refuses past 4300).
    significant = digits.lstrip("0")
    if len(significant) > len(str(ceiling)):
        return ceiling
    return min(int(significant or "0"), ceiling)


def _exceeds(a: str, b: str) -> bool:
    """a > b for decimal digit strings of any length, without converting them."""
    a, b = a.lstrip("0"), b.lstrip("0")
    return (len(a), a) > (len(b), b)


def _coalesce(ranges: list[ByteRange]) -> list[ByteRange]:
    # Overlapping or touching ranges become one, so no byte is sent twice (RFC 9110 §14.3
    # lets a server coalesce regardless of the order the client listed them in).
    merged: list[ByteRange] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged
