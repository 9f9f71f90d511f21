"""Range (RFC 9110 §14.1-14.2) and If-Range (§13.1.5) parsing, one row per case."""

import pytest
from django.utils.http import http_date

from downloads.http.ranges import RangeNotSatisfiable, if_range_allows, parse_range

UNSATISFIABLE = RangeNotSatisfiable  # expected outcome: parse_range raises (a 416)
MAX_RANGES = 5
HUGE = "9" * 5000  # past Python's 4300-digit int() limit


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        # absent or not for us: the whole file
        pytest.param(None, 10, None, id="absent"),
        pytest.param("", 10, None, id="empty-header"),
        pytest.param("items=0-1", 10, None, id="other-unit"),
        pytest.param("BYTES=0-1", 10, [(0, 1)], id="unit-case-insensitive"),
        # the three forms
        pytest.param("bytes=0-0", 10, [(0, 0)], id="first-byte"),
        pytest.param("bytes=0-", 10, [(0, 9)], id="open-ended-from-0"),
        pytest.param("bytes=4-", 10, [(4, 9)], id="open-ended"),
        pytest.param("bytes=9-9", 10, [(9, 9)], id="last-byte"),
        pytest.param("bytes=-1", 10, [(9, 9)], id="suffix-1"),
        pytest.param("bytes=-20", 10, [(0, 9)], id="suffix-longer-than-file"),
        pytest.param("bytes=0002-0004", 10, [(2, 4)], id="leading-zeros"),
        pytest.param("bytes=0-999999", 10, [(0, 9)], id="last-pos-clamped"),
        # unsatisfiable
        pytest.param("bytes=-0", 10, UNSATISFIABLE, id="suffix-0"),
        pytest.param("bytes=-000", 10, UNSATISFIABLE, id="suffix-zeros"),
        pytest.param("bytes=100-", 100, UNSATISFIABLE, id="start-at-size"),
        pytest.param("bytes=10-10", 10, UNSATISFIABLE, id="start-past-end"),
        pytest.param("bytes=10-,20-30", 10, UNSATISFIABLE, id="all-unsatisfiable"),
        # malformed anywhere: ignore the header
        pytest.param("bytes=5-2", 10, None, id="first-after-last"),
        pytest.param("bytes=", 10, None, id="empty-range-set"),
        pytest.param("bytes=,", 10, None, id="only-empty-elements"),
        pytest.param("bytes=abc", 10, None, id="not-digits"),
        pytest.param("bytes=-", 10, None, id="bare-dash"),
        pytest.param("bytes=1", 10, None, id="no-dash"),
        pytest.param("bytes=1-2-3", 10, None, id="two-dashes"),
        pytest.param("bytes=+1-2", 10, None, id="plus-sign"),
        pytest.param("bytes=-1-2", 10, None, id="negative-first"),
        pytest.param("bytes=0x1-2", 10, None, id="hex"),
        pytest.param("bytes=\u0661-\u0662", 10, None, id="non-ascii-digits"),
        pytest.param("bytes=0-1,x", 10, None, id="one-bad-spec-spoils-all"),
        pytest.param("bytes", 10, None, id="no-equals"),
        # whitespace: OWS around the field value and list commas only
        pytest.param("  bytes=0-1\t", 10, [(0, 1)], id="ows-around-value"),
        pytest.param("bytes=0-1 , 3-4", 10, [(0, 1), (3, 4)], id="ows-around-comma"),
        pytest.param("bytes= 0-1", 10, [(0, 1)], id="ows-before-first-spec"),
        pytest.param(" bytes = 0-1", 10, None, id="space-around-equals"),
        pytest.param("bytes=0 -1", 10, None, id="space-inside-spec"),
        pytest.param("bytes=0- 1", 10, None, id="space-after-dash"),
        pytest.param("bytes=0-1,,3-4", 10, [(0, 1), (3, 4)], id="empty-list-element"),
        # several ranges: sorted, merged, capped
        pytest.param("bytes=0-1,4-5", 10, [(0, 1), (4, 5)], id="two-ranges"),
        pytest.param("bytes=6-7,0-1", 10, [(0, 1), (6, 7)], id="sorted-by-start"),
        pytest.param("bytes=0-5,3-8", 10, [(0, 8)], id="overlapping-merged"),
        pytest.param("bytes=0-2,3-5", 10, [(0, 5)], id="adjacent-merged"),
        pytest.param("bytes=0-9,2-3", 10, [(0, 9)], id="contained-merged"),
        pytest.param("bytes=-3,8-", 10, [(7, 9)], id="suffix-and-open-merged"),
        pytest.param("bytes=0-1,20-30", 10, [(0, 1)], id="unsatisfiable-dropped"),
        pytest.param("bytes=-0,4-5", 10, [(4, 5)], id="suffix-0-dropped"),
        pytest.param(
            "bytes=0-0,2-2,4-4,6-6,8-8",
            10,
            [(0, 0), (2, 2), (4, 4), (6, 6), (8, 8)],
            id="exactly-max-ranges",
        ),
        pytest.param("bytes=0-0,2-2,4-4,6-6,8-8,9-9", 10, None, id="more-than-max-ranges"),
        pytest.param("bytes=0-1,0-1,0-1,0-1,0-1,0-1", 10, None, id="cap-counts-before-merging"),
        # numbers too long for int(): compared by length, never converted
        pytest.param(f"bytes=0-{HUGE}", 10, [(0, 9)], id="huge-last-pos"),
        pytest.param(f"bytes={HUGE}-", 10, UNSATISFIABLE, id="huge-first-pos"),
        pytest.param(f"bytes=-{HUGE}", 10, [(0, 9)], id="huge-suffix"),
        pytest.param(f"bytes={HUGE}-1", 10, None, id="huge-first-after-last"),
        # empty file: only a non-zero suffix is satisfiable, and it selects nothing
        pytest.param("bytes=0-", 0, UNSATISFIABLE, id="empty-file-int-range"),
        pytest.param("bytes=-0", 0, UNSATISFIABLE, id="empty-file-suffix-0"),
        pytest.param("bytes=-5", 0, None, id="empty-file-suffix-sends-whole"),
        pytest.param("bytes=0-0,-5", 0, None, id="empty-file-mixed"),
    ],
)
def test_parse_range(header: str | None, size: int, expected: object) -> None:
    if expected is UNSATISFIABLE:
        with pytest.raises(RangeNotSatisfiable):
            parse_range(header, size, MAX_RANGES)
    else:
        assert parse_range(header, size, MAX_RANGES) == expected


ETAG = '"v1"'
LAST_MODIFIED = 1_700_000_000


@pytest.mark.parametrize(
    ("if_range", "etag", "last_modified", "expected"),
    [
        pytest.param(None, ETAG, LAST_MODIFIED, True, id="absent"),
        pytest.param('"v1"', ETAG, LAST_MODIFIED, True, id="strong-etag-matches"),
        pytest.param(' "v1" ', ETAG, LAST_MODIFIED, True, id="strong-etag-with-ows"),
        pytest.param('"v1"', "v1", LAST_MODIFIED, True, id="bare-current-etag"),
        pytest.param('W/"v1"', ETAG, LAST_MODIFIED, False, id="weak-etag-never-matches"),
        pytest.param('"v1"', 'W/"v1"', LAST_MODIFIED, False, id="weak-current-etag"),
        pytest.param('"v2"', ETAG, LAST_MODIFIED, False, id="different-etag"),
        pytest.param('"v1", "v2"', ETAG, LAST_MODIFIED, False, id="etag-list-not-allowed"),
        pytest.param('"v1', ETAG, LAST_MODIFIED, False, id="unterminated-etag"),
        pytest.param(http_date(LAST_MODIFIED), ETAG, LAST_MODIFIED, True, id="exact-date"),
        pytest.param(
            http_date(LAST_MODIFIED), ETAG, LAST_MODIFIED + 0.9, True, id="exact-date-whole-seconds"
        ),
        pytest.param(
            "Tuesday, 14-Nov-23 22:13:20 GMT", ETAG, LAST_MODIFIED, True, id="exact-date-rfc850"
        ),
        pytest.param(http_date(LAST_MODIFIED - 1), ETAG, LAST_MODIFIED, False, id="older-date"),
        pytest.param(http_date(LAST_MODIFIED + 1), ETAG, LAST_MODIFIED, False, id="newer-date"),
        pytest.param("yesterday", ETAG, LAST_MODIFIED, False, id="garbage"),
        pytest.param("", ETAG, LAST_MODIFIED, False, id="empty"),
    ],
)
def test_if_range_allows(
    if_range: str | None, etag: str, last_modified: float, expected: bool
) -> None:
    assert if_range_allows(if_range, etag, last_modified) is expected
