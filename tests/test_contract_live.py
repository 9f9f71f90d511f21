"""The HTTP contract of a download through real servers, with the same assertions in every mode
that sends the bytes itself: nginx (the rendered deploy/nginx.conf.template) in front of
gunicorn, delivery "django" or "nginx", files on local disk or in S3 (moto's server).

The "s3" mode answers with a redirect instead: test_delivery_live.py holds its contract through
the real servers (the redirect, names, HEAD, what Django answers itself), test_delivery_s3.py at
the view.
"""

import pytest
import requests
from django.utils.http import http_date

from tests.contract_cases import (
    BODY,
    CONTRACT_HEADERS,
    IGNORED_RANGES,
    NON_ASCII_NAMES,
    SINGLE_RANGES,
    SIZE,
    STALE_IF_RANGES,
    UNSATISFIABLE_RANGES,
)
from tests.contract_cases import (
    parse_multipart as parse_body_parts,
)
from tests.livefiles import Live

pytestmark = pytest.mark.integration

# The same cases under uvicorn (project.asgi): the ASGI path answers byte for byte as WSGI.
SAME_CONTRACT = [
    "django",
    "nginx",
    "django-s3",
    "nginx-s3",
    "uvicorn",
    "uvicorn-nginx",
    "uvicorn-s3",
    "uvicorn-nginx-s3",
]


@pytest.fixture(scope="module", params=SAME_CONTRACT)
def live(request, live_stack, live_files, live_sessions) -> Live:
    stack = live_stack(request.param)
    files = live_files(stack.storage)  # first: it makes the user who logs in
    return Live(stack=stack, session=live_sessions(stack), files=files)


@pytest.fixture
def data(live: Live):
    return live.files.data


def assert_whole(response: requests.Response) -> None:
    assert response.status_code == 200
    assert response.content == BODY
    assert response.headers["Content-Length"] == str(SIZE)


def test_get_whole_file(live, data):
    response = live.get(data)
    assert_whole(response)
    headers = response.headers
    assert headers["Content-Type"] == "application/octet-stream"
    assert headers["Content-Disposition"] == 'attachment; filename="data.bin"'
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Cache-Control"] == "private, no-cache"
    assert headers["ETag"] == f'"{data.sha256}"'
    assert headers["Last-Modified"] == http_date(data.last_modified)
    # Compared whole: a header sent twice would read "bytes, bytes".
    assert headers["Accept-Ranges"] == "bytes"
    assert "Content-Security-Policy" not in headers
    assert "X-Download-Url" not in headers


def test_head_has_the_headers_of_get_and_no_body(live, data):
    get = live.get(data)
    head = live.head(data)
    assert head.status_code == 200
    assert head.content == b""
    for name in CONTRACT_HEADERS:
        assert head.headers[name] == get.headers[name], name


@SINGLE_RANGES
def test_single_range(live, data, header, start, end):
    response = live.get(data, {"Range": header})
    assert response.status_code == 206
    assert response.headers["Content-Range"] == f"bytes {start}-{end}/{SIZE}"
    assert response.headers["Content-Length"] == str(end - start + 1)
    assert response.content == BODY[start : end + 1]
    assert response.headers["ETag"] == f'"{data.sha256}"'
    assert response.headers["Content-Type"] == "application/octet-stream"


@UNSATISFIABLE_RANGES
def test_unsatisfiable_range_is_416(live, data, header):
    response = live.get(data, {"Range": header})
    assert response.status_code == 416
    assert response.headers["Content-Range"] == f"bytes */{SIZE}"


@IGNORED_RANGES
def test_malformed_range_or_other_unit_is_ignored(live, data, header):
    assert_whole(live.get(data, {"Range": header}))


def parse_multipart(response: requests.Response) -> list[tuple[str, bytes]]:
    headers = response.headers
    return parse_body_parts(headers["Content-Type"], headers["Content-Length"], response.content)


def test_several_ranges_are_multipart(live, data):
    response = live.get(data, {"Range": "bytes=0-9, 500-509, -5"})
    assert response.status_code == 206
    assert parse_multipart(response) == [
        (f"bytes 0-9/{SIZE}", BODY[0:10]),
        (f"bytes 500-509/{SIZE}", BODY[500:510]),
        (f"bytes 10235-10239/{SIZE}", BODY[10235:]),
    ]


def test_overlapping_ranges_are_not_served_twice(live, data):
    response = live.get(data, {"Range": "bytes=0-99, 50-149, 140-160"})
    assert response.status_code == 206
    assert response.headers["Content-Range"] == f"bytes 0-160/{SIZE}"
    assert response.content == BODY[:161]


def test_ranges_out_of_order_come_sorted(live, data):
    response = live.get(data, {"Range": "bytes=500-509, 0-9"})
    assert parse_multipart(response) == [
        (f"bytes 0-9/{SIZE}", BODY[0:10]),
        (f"bytes 500-509/{SIZE}", BODY[500:510]),
    ]


@pytest.mark.parametrize("header", ["bytes=0-1,,4-5", "bytes=0-1,\t4-5", "bytes=0-1, 4-5,"])
def test_empty_list_elements_and_tabs_are_allowed(live, data, header):
    response = live.get(data, {"Range": header})
    assert parse_multipart(response) == [
        (f"bytes 0-1/{SIZE}", BODY[0:2]),
        (f"bytes 4-5/{SIZE}", BODY[4:6]),
    ]


def test_too_many_ranges_get_the_whole_file(live, data):
    header = "bytes=" + ", ".join(f"{n * 100}-{n * 100 + 9}" for n in range(17))
    assert_whole(live.get(data, {"Range": header}))


def test_if_range_matching_etag_gives_the_range(live, data):
    response = live.get(data, {"Range": "bytes=0-9", "If-Range": data.etag})
    assert response.status_code == 206
    assert response.content == BODY[:10]


def test_if_range_matching_date_gives_the_range(live, data):
    response = live.get(data, {"Range": "bytes=0-9", "If-Range": http_date(data.last_modified)})
    assert response.status_code == 206
    assert response.content == BODY[:10]


@STALE_IF_RANGES
def test_if_range_that_no_longer_matches_gives_the_whole_file(live, data, if_range):
    assert_whole(live.get(data, {"Range": "bytes=0-9", "If-Range": if_range}))


def test_if_none_match_gives_304(live, data):
    response = live.get(data, {"If-None-Match": data.etag})
    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["ETag"] == data.etag
    assert response.headers["Cache-Control"].startswith("private")


def test_if_none_match_other_tag_gives_200(live, data):
    assert_whole(live.get(data, {"If-None-Match": '"other"'}))


def test_if_modified_since_gives_304(live, data):
    response = live.get(data, {"If-Modified-Since": http_date(data.last_modified)})
    assert response.status_code == 304


def test_if_modified_since_older_gives_200(live, data):
    assert_whole(live.get(data, {"If-Modified-Since": http_date(data.last_modified - 60)}))


def test_if_match_failing_gives_412(live, data):
    assert live.get(data, {"If-Match": '"other"'}).status_code == 412


@pytest.mark.parametrize("if_match", ["*", "current"])
def test_if_match_passing_gives_the_file_and_its_ranges(live, data, if_match):
    tag = data.etag if if_match == "current" else "*"
    assert_whole(live.get(data, {"If-Match": tag}))
    ranged = live.get(data, {"If-Match": tag, "Range": "bytes=5-9"})
    assert ranged.status_code == 206
    assert ranged.content == BODY[5:10]


def test_if_unmodified_since_passing_gives_the_file(live, data):
    assert_whole(live.get(data, {"If-Unmodified-Since": http_date(data.last_modified)}))


def test_if_unmodified_since_failing_gives_412(live, data):
    since = http_date(data.last_modified - 60)
    assert live.get(data, {"If-Unmodified-Since": since}).status_code == 412


@NON_ASCII_NAMES
def test_non_ascii_names(live, name, expected):
    response = live.get(live.files.named[name])
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == expected
    assert response.headers["Content-Type"] == "application/pdf"


@pytest.mark.parametrize(
    ("name", "content_type", "inline"),
    [
        ("doc.pdf", "application/pdf", True),
        ("pic.png", "image/png", True),
        ("notes.txt", "text/plain; charset=utf-8", True),
        ("page.html", "text/html; charset=utf-8", False),
        ("pic.svg", "image/svg+xml", False),
        ("data.xml", "application/xml", False),
        ("blob.bin", "application/octet-stream", False),
    ],
)
def test_inline_only_for_safe_types(live, name, content_type, inline):
    stored = live.files.named[name]
    response = live.get(stored, query="?inline=1")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == content_type
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("inline;" if inline else "attachment;")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    if inline:
        assert response.headers["Content-Security-Policy"] == "sandbox"
    else:
        assert "Content-Security-Policy" not in response.headers


def test_an_empty_file(live):
    empty = live.files.named["empty.txt"]
    response = live.get(empty)
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["Content-Length"] == "0"
    assert live.get(empty, {"Range": "bytes=0-"}).status_code == 416


def test_another_users_file_is_404_like_a_missing_one(live):
    foreign = live.get(live.files.foreign)
    missing = live.session.get(
        f"{live.stack.url}/files/00000000-0000-0000-0000-000000000000/download", timeout=10
    )
    assert foreign.status_code == 404
    assert missing.status_code == 404
    assert foreign.content == missing.content
    assert b"not yours" not in foreign.content


def test_anonymous_is_sent_to_log_in(live, data):
    response = live.anonymous.get(live.url(data), allow_redirects=False, timeout=10)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("location", ["file/{key}", "ranges/{key}", "s3"])
def test_the_internal_locations_are_404_from_outside(live, data, location):
    url = f"{live.stack.url}/_protected/{location.format(key=data.file.name)}"
    response = live.session.get(url, allow_redirects=False, timeout=10)
    assert response.status_code == 404
    assert response.content != BODY
