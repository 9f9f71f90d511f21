"""The HTTP contract of a download, row by row, through the view (delivery mode "django")."""

import io
from wsgiref.util import FileWrapper

import pytest
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.urls import reverse
from django.utils.http import http_date

from tests.contract_cases import (
    BODY,
    CONTRACT_HEADERS,
    IGNORED_RANGES,
    NON_ASCII_NAMES,
    SINGLE_RANGES,
    STALE_IF_RANGES,
    UNSATISFIABLE_RANGES,
)
from tests.contract_cases import (
    parse_multipart as parse_body_parts,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def stored(make_file):
    return make_file(BODY, name="data.bin")


@pytest.fixture
def url(stored):
    return reverse("downloads:download", args=[stored.pk])


def body(response) -> bytes:
    if response.streaming:
        return b"".join(response.streaming_content)
    return response.content


def test_get_whole_file(alice_client, url, stored):
    response = alice_client.get(url)
    assert response.status_code == 200
    assert body(response) == BODY
    assert response["Content-Length"] == str(len(BODY))
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"] == 'attachment; filename="data.bin"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cache-Control"].startswith("private")
    assert response["ETag"] == f'"{stored.sha256}"'
    assert response["Last-Modified"] == http_date(stored.last_modified)
    assert response["Accept-Ranges"] == "bytes"
    assert "Content-Security-Policy" not in response


class RecordingFileWrapper(FileWrapper):
    """Stands where gunicorn's wsgi.file_wrapper does: what it receives, gunicorn sendfile()s."""


@pytest.mark.parametrize(
    ("range_header", "expected"),
    [(None, BODY), ("bytes=1000-1999", BODY[1000:2000]), ("bytes=-10", BODY[-10:])],
    ids=["whole", "range", "suffix"],
)
def test_whole_files_and_single_ranges_reach_wsgi_file_wrapper(
    alice_client, url, settings, range_header, expected
):
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": url,
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(),
        "wsgi.errors": io.StringIO(),
        "wsgi.file_wrapper": RecordingFileWrapper,
        "HTTP_COOKIE": f"{settings.SESSION_COOKIE_NAME}="
        f"{alice_client.cookies[settings.SESSION_COOKIE_NAME].value}",
    }
    if range_header:
        environ["HTTP_RANGE"] = range_header
    statuses = []
    # As Django's test client does: keep the test's transaction open across the request.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        result = get_wsgi_application()(environ, lambda status, headers: statuses.append(status))
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    assert isinstance(result, RecordingFileWrapper)
    assert isinstance(result.filelike.fileno(), int)  # so gunicorn can sendfile() it
    sent = b"".join(result)  # what a server without sendfile reads: stops at the range's end
    result.close()
    assert sent == expected
    assert statuses == ["206 Partial Content" if range_header else "200 OK"]


def test_head_has_the_headers_and_no_body(alice_client, url):
    get = alice_client.get(url)
    head = alice_client.head(url)
    assert head.status_code == 200
    assert head.content == b""
    for name in CONTRACT_HEADERS:
        assert head[name] == get[name], name


@SINGLE_RANGES
def test_single_range(alice_client, url, header, start, end):
    response = alice_client.get(url, headers={"Range": header})
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes {start}-{end}/{len(BODY)}"
    assert response["Content-Length"] == str(end - start + 1)
    assert body(response) == BODY[start : end + 1]


@UNSATISFIABLE_RANGES
def test_unsatisfiable_range_is_416(alice_client, url, header):
    response = alice_client.get(url, headers={"Range": header})
    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{len(BODY)}"


@IGNORED_RANGES
def test_malformed_range_or_other_unit_is_ignored(alice_client, url, header):
    response = alice_client.get(url, headers={"Range": header})
    assert response.status_code == 200
    assert body(response) == BODY


def parse_multipart(response) -> list[tuple[str, bytes]]:
    return parse_body_parts(response["Content-Type"], response["Content-Length"], body(response))


def test_several_ranges_are_multipart(alice_client, url):
    response = alice_client.get(url, headers={"Range": "bytes=0-9, 500-509, -5"})
    assert response.status_code == 206
    assert parse_multipart(response) == [
        (f"bytes 0-9/{len(BODY)}", BODY[0:10]),
        (f"bytes 500-509/{len(BODY)}", BODY[500:510]),
        (f"bytes 10235-10239/{len(BODY)}", BODY[10235:]),
    ]


def test_overlapping_ranges_are_not_served_twice(alice_client, url):
    response = alice_client.get(url, headers={"Range": "bytes=0-99, 50-149, 140-160"})
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes 0-160/{len(BODY)}"
    assert body(response) == BODY[:161]


def test_too_many_ranges_get_the_whole_file(alice_client, url, settings):
    settings.DOWNLOADS_MAX_RANGES = 3
    header = "bytes=" + ", ".join(f"{n * 100}-{n * 100 + 9}" for n in range(4))
    response = alice_client.get(url, headers={"Range": header})
    assert response.status_code == 200
    assert body(response) == BODY


def test_if_range_matching_etag_gives_the_range(alice_client, url, stored):
    response = alice_client.get(url, headers={"Range": "bytes=0-9", "If-Range": stored.etag})
    assert response.status_code == 206


def test_if_range_matching_date_gives_the_range(alice_client, url, stored):
    response = alice_client.get(
        url, headers={"Range": "bytes=0-9", "If-Range": http_date(stored.last_modified)}
    )
    assert response.status_code == 206


@STALE_IF_RANGES
def test_if_range_that_no_longer_matches_gives_the_whole_file(alice_client, url, if_range):
    response = alice_client.get(url, headers={"Range": "bytes=0-9", "If-Range": if_range})
    assert response.status_code == 200
    assert body(response) == BODY


def test_if_none_match_gives_304(alice_client, url, stored):
    response = alice_client.get(url, headers={"If-None-Match": stored.etag})
    assert response.status_code == 304
    assert response.content == b""
    assert response["ETag"] == stored.etag
    assert response["Cache-Control"].startswith("private")


def test_if_none_match_other_tag_gives_200(alice_client, url):
    assert alice_client.get(url, headers={"If-None-Match": '"other"'}).status_code == 200


def test_if_modified_since_gives_304(alice_client, url, stored):
    response = alice_client.get(url, headers={"If-Modified-Since": http_date(stored.last_modified)})
    assert response.status_code == 304


def test_if_modified_since_older_gives_200(alice_client, url, stored):
    since = http_date(stored.last_modified - 60)
    assert alice_client.get(url, headers={"If-Modified-Since": since}).status_code == 200


def test_if_match_failing_gives_412(alice_client, url):
    assert alice_client.get(url, headers={"If-Match": '"other"'}).status_code == 412


def test_post_is_not_allowed(alice_client, url):
    assert alice_client.post(url).status_code == 405


@NON_ASCII_NAMES
def test_non_ascii_names(alice_client, make_file, name, expected):
    stored = make_file(b"%PDF-1.4\n", name=name)
    response = alice_client.get(reverse("downloads:download", args=[stored.pk]))
    assert expected in response["Content-Disposition"]


def test_quotes_semicolons_and_crlf_in_names_cannot_break_the_header(alice_client, make_file):
    stored = make_file(b"x", name='a "b"; c\r\nSet-Cookie: x=1.txt')
    response = alice_client.get(reverse("downloads:download", args=[stored.pk]))
    disposition = response["Content-Disposition"]
    assert "\r" not in disposition
    assert "\n" not in disposition
    assert "Set-Cookie" not in response.cookies
    assert disposition.startswith('attachment; filename="')


@pytest.mark.parametrize(
    ("content", "name", "inline"),
    [
        (b"%PDF-1.4\n%%EOF\n", "doc.pdf", True),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 16, "pic.png", True),
        (b"plain words\n", "notes.txt", True),
        (b"<!doctype html><script>alert(1)</script>", "page.html", False),
        (
            b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
            "pic.svg",
            False,
        ),
        (b'<?xml version="1.0"?><a/>', "data.xml", False),
        (b"\x00\x01\x02", "blob.bin", False),
    ],
)
def test_inline_only_for_safe_types(alice_client, make_file, content, name, inline):
    stored = make_file(content, name=name)
    response = alice_client.get(reverse("downloads:download", args=[stored.pk]) + "?inline=1")
    assert response["Content-Disposition"].startswith("inline;" if inline else "attachment;")
    assert response["X-Content-Type-Options"] == "nosniff"
    if inline:
        assert response["Content-Security-Policy"] == "sandbox"


def test_every_answer_is_logged(alice_client, alice, url, stored):
    from downloads.models import DownloadLog

    response = alice_client.get(url, headers={"Range": "bytes=0-99"}, REMOTE_ADDR="192.0.2.7")
    # Written when the body ends (the server's close()), not before.
    assert not DownloadLog.objects.exists()
    response.getvalue()
    entry = DownloadLog.objects.get()
    assert (entry.file, entry.user, entry.status, entry.range, entry.ip) == (
        stored,
        alice,
        206,
        "bytes=0-99",
        "192.0.2.7",
    )
    assert (entry.bytes_planned, entry.bytes_sent, entry.outcome) == (100, 100, "complete")
