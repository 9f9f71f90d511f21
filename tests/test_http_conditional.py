"""Precondition evaluation (RFC 9110 §13.2.2), one row per step and outcome."""

import pytest
from django.http.request import HttpHeaders
from django.utils.http import http_date

from downloads.http.conditional import (
    EntityTag,
    current_entity_tag,
    parse_entity_tags,
    precondition_status,
)

ETAG = '"v1"'
LAST_MODIFIED = 1_700_000_000
SAME = http_date(LAST_MODIFIED)
EARLIER = http_date(LAST_MODIFIED - 60)
LATER = http_date(LAST_MODIFIED + 60)


@pytest.mark.parametrize(
    ("method", "headers", "expected"),
    [
        pytest.param("GET", {}, None, id="no-preconditions"),
        # step 1: If-Match, strong comparison
        pytest.param("GET", {"If-Match": '"v1"'}, None, id="if-match-matches"),
        pytest.param("PUT", {"If-Match": '"x", "v1"'}, None, id="if-match-list-matches"),
        pytest.param("GET", {"If-Match": "*"}, None, id="if-match-star"),
        pytest.param("GET", {"If-Match": '"v2"'}, 412, id="if-match-differs"),
        pytest.param("GET", {"If-Match": 'W/"v1"'}, 412, id="if-match-weak-fails"),
        pytest.param("GET", {"If-Match": "v1"}, 412, id="if-match-malformed-fails"),
        pytest.param("GET", {"If-Match": ""}, None, id="if-match-empty-is-absent"),
        # step 2: If-Unmodified-Since, only without If-Match
        pytest.param("GET", {"If-Unmodified-Since": LATER}, None, id="ius-later"),
        pytest.param("GET", {"If-Unmodified-Since": SAME}, None, id="ius-same"),
        pytest.param("GET", {"If-Unmodified-Since": EARLIER}, 412, id="ius-earlier"),
        pytest.param("GET", {"If-Unmodified-Since": "soon"}, None, id="ius-invalid-ignored"),
        pytest.param(
            "GET",
            {"If-Match": '"v1"', "If-Unmodified-Since": EARLIER},
            None,
            id="if-match-overrides-ius",
        ),
        # step 3: If-None-Match, weak comparison
        pytest.param("GET", {"If-None-Match": '"v1"'}, 304, id="inm-get"),
        pytest.param("HEAD", {"If-None-Match": '"v1"'}, 304, id="inm-head"),
        pytest.param("POST", {"If-None-Match": '"v1"'}, 412, id="inm-post"),
        pytest.param("PUT", {"If-None-Match": "*"}, 412, id="inm-star-put"),
        pytest.param("GET", {"If-None-Match": "*"}, 304, id="inm-star-get"),
        pytest.param("GET", {"If-None-Match": 'W/"v1"'}, 304, id="inm-weak-matches"),
        pytest.param("GET", {"If-None-Match": '"a", W/"v1"'}, 304, id="inm-list-matches"),
        pytest.param("GET", {"If-None-Match": '"v2"'}, None, id="inm-differs"),
        pytest.param("GET", {"If-None-Match": "garbage"}, None, id="inm-malformed-matches-nothing"),
        # step 4: If-Modified-Since, GET/HEAD only, only without If-None-Match
        pytest.param("GET", {"If-Modified-Since": SAME}, 304, id="ims-same"),
        pytest.param("HEAD", {"If-Modified-Since": LATER}, 304, id="ims-later"),
        pytest.param("GET", {"If-Modified-Since": EARLIER}, None, id="ims-earlier"),
        pytest.param("GET", {"If-Modified-Since": "garbage"}, None, id="ims-invalid-ignored"),
        pytest.param("POST", {"If-Modified-Since": SAME}, None, id="ims-ignored-for-post"),
        pytest.param(
            "GET",
            {"If-None-Match": '"v2"', "If-Modified-Since": SAME},
            None,
            id="inm-overrides-ims",
        ),
        # order of the steps
        pytest.param(
            "GET", {"If-Match": '"v2"', "If-None-Match": '"v1"'}, 412, id="if-match-before-inm"
        ),
        pytest.param(
            "GET",
            {"If-Unmodified-Since": EARLIER, "If-None-Match": '"v1"'},
            412,
            id="ius-before-inm",
        ),
        pytest.param(
            "GET", {"If-Match": '"v1"', "If-None-Match": '"v1"'}, 304, id="both-etag-conditions"
        ),
        # header names and methods in any case
        pytest.param("GET", {"if-none-match": '"v1"'}, 304, id="lowercase-header-name"),
        pytest.param("get", {"IF-MODIFIED-SINCE": SAME}, 304, id="lowercase-method"),
    ],
)
def test_precondition_status(method: str, headers: dict[str, str], expected: int | None) -> None:
    assert precondition_status(method, headers, ETAG, LAST_MODIFIED) == expected


def test_django_request_headers_are_accepted() -> None:
    headers = HttpHeaders({"HTTP_IF_NONE_MATCH": '"v1"'})
    assert precondition_status("GET", headers, ETAG, LAST_MODIFIED) == 304


def test_last_modified_is_compared_in_whole_seconds() -> None:
    assert precondition_status("GET", {"If-Modified-Since": SAME}, ETAG, LAST_MODIFIED + 0.7) == 304


def test_bare_current_etag_is_strong() -> None:
    assert precondition_status("GET", {"If-Match": '"v1"'}, "v1", LAST_MODIFIED) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param('"a"', [EntityTag(False, "a")], id="strong"),
        pytest.param('W/"a"', [EntityTag(True, "a")], id="weak"),
        pytest.param('""', [EntityTag(False, "")], id="empty-opaque"),
        pytest.param(
            '"a,b", "c"', [EntityTag(False, "a,b"), EntityTag(False, "c")], id="comma-inside-tag"
        ),
        pytest.param(
            ' , "a" ,, W/"b" ',
            [EntityTag(False, "a"), EntityTag(True, "b")],
            id="empty-elements-and-ows",
        ),
        pytest.param("", [], id="empty"),
        pytest.param('"a" "b"', None, id="missing-comma"),
        pytest.param("a", None, id="unquoted"),
        pytest.param('w/"a"', None, id="lowercase-weak-prefix"),
        pytest.param('"a b"', None, id="space-in-tag"),
        pytest.param('"a', None, id="unterminated"),
    ],
)
def test_parse_entity_tags(value: str, expected: list[EntityTag] | None) -> None:
    assert parse_entity_tags(value) == expected


def test_invalid_current_etag_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="entity-tag"):
        current_entity_tag('a"b')
