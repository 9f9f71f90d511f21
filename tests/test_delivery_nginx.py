"""Delivery mode "nginx" at the view: what Django hands to nginx, and what it keeps for itself.

test_contract_live.py checks the same contract through a real nginx; this file checks the
decisions behind it.
"""

from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse
from django.utils.http import http_date

from downloads.delivery.nginx import _nginx_reads_alike
from downloads.http.ranges import parse_range

pytestmark = pytest.mark.django_db

BODY = bytes(range(256)) * 40


@pytest.fixture(autouse=True)
def nginx_mode(settings):
    settings.DOWNLOADS_DELIVERY = "nginx"


@pytest.fixture
def stored(make_file):
    return make_file(BODY, name="report.pdf")


@pytest.fixture
def url(stored):
    return reverse("downloads:download", args=[stored.pk])


def test_a_whole_file_goes_to_the_internal_file_location(alice_client, url, stored):
    response = alice_client.get(url)
    assert response.status_code == 200
    assert response.content == b""
    assert response["X-Accel-Redirect"] == f"/_protected/file/{stored.file.name}"
    # The file's own type: never Django's default text/html.
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'attachment; filename="report.pdf"'
    assert response["ETag"] == stored.etag
    assert response["Last-Modified"] == http_date(stored.last_modified)
    assert response["Cache-Control"] == "private, no-cache"
    assert "X-Accel-Limit-Rate" not in response


def test_the_content_type_is_the_files_own(alice_client, make_file):
    pdf = make_file(b"%PDF-1.4\n%%EOF\n", name="doc.pdf")
    response = alice_client.get(reverse("downloads:download", args=[pdf.pk]) + "?inline=1")
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'inline; filename="doc.pdf"'
    assert response["Content-Security-Policy"] == "sandbox"


def test_the_key_is_percent_encoded(alice_client, stored, url, private_media):
    odd_key = "files/ab/a b?c%d#é"
    (private_media / "files" / "ab").mkdir(parents=True, exist_ok=True)
    (private_media / odd_key).write_bytes(BODY)
    type(stored).objects.filter(pk=stored.pk).update(file=odd_key)
    response = alice_client.get(url)
    assert response["X-Accel-Redirect"] == "/_protected/file/files/ab/a%20b%3Fc%25d%23%C3%A9"


def test_a_key_outside_media_root_is_refused(alice_client, stored, url):
    type(stored).objects.filter(pk=stored.pk).update(file="../outside")
    response = alice_client.get(url)
    assert response.status_code == 400
    assert "X-Accel-Redirect" not in response


def test_a_range_nginx_reads_alike_goes_to_the_ranges_location(alice_client, url, stored):
    response = alice_client.get(url, headers={"Range": "bytes=0-9, 100-199"})
    assert response["X-Accel-Redirect"] == f"/_protected/ranges/{stored.file.name}"
    assert response.content == b""


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Range": "bytes=abc"},
        {"Range": "bytes=0-9", "If-Range": '"stale"'},
        {"Range": "bytes=" + ",".join(f"{n * 10}-{n * 10 + 1}" for n in range(17))},
    ],
    ids=["no-range", "malformed", "if-range-stale", "too-many"],
)
def test_no_usable_range_goes_to_the_whole_file_location(alice_client, url, stored, headers):
    response = alice_client.get(url, headers=headers)
    assert response["X-Accel-Redirect"] == f"/_protected/file/{stored.file.name}"


def test_head_goes_to_the_whole_file_location(alice_client, url, stored):
    response = alice_client.head(url, headers={"Range": "bytes=0-9"})
    assert response["X-Accel-Redirect"] == f"/_protected/file/{stored.file.name}"


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"If-None-Match": "current"}, 304),
        ({"If-Match": '"other"'}, 412),
        ({"Range": "bytes=99999-"}, 416),
    ],
)
def test_django_answers_preconditions_and_416_itself(alice_client, url, stored, headers, status):
    headers = {name: stored.etag if v == "current" else v for name, v in headers.items()}
    response = alice_client.get(url, headers=headers)
    assert response.status_code == status
    assert "X-Accel-Redirect" not in response


@pytest.mark.parametrize(
    "headers",
    [
        {"If-Match": "{etag}"},
        {"If-Match": "*"},
        {"If-Unmodified-Since": "{date}"},
        {"Range": "bytes=0-99, 50-149"},
        {"Range": "bytes=100-199, 0-9"},
        {"Range": "bytes=0-9,\t100-109"},
        {"Range": "bytes=0-9, 10-19"},
        {"Range": "bytes=0-9", "If-Range": "{etag},"},
    ],
    ids=[
        "if-match",
        "if-match-any",
        "if-unmodified-since",
        "overlapping",
        "unsorted",
        "tab",
        "touching",
        "if-range-list",
    ],
)
def test_requests_nginx_would_answer_otherwise_are_served_by_django(
    alice_client, url, stored, headers
):
    values = {"etag": stored.etag, "date": http_date(stored.last_modified)}
    response = alice_client.get(
        url, headers={name: value.format(**values) for name, value in headers.items()}
    )
    assert "X-Accel-Redirect" not in response
    assert response.status_code in (200, 206)
    body = b"".join(response.streaming_content)
    assert body
    assert len(body) == int(response["Content-Length"])


@pytest.mark.parametrize(
    ("header", "alike"),
    [
        ("bytes=0-9", True),
        ("bytes=0-9, 20-29", True),
        ("bytes= 0-9 , 20-29", True),
        ("BYTES=0-9", True),
        ("bytes=-5", True),
        ("bytes=10230-", True),
        ("bytes=0-9, 99999-, 20-29", True),  # nginx skips the unsatisfiable spec as well
        ("bytes=0-99999999999999999999", False),  # nginx refuses numbers past 2^63
        ("bytes=20-29, 0-9", False),
        ("bytes=0-9, 5-15", False),
        ("bytes=0-9, 10-19", False),
        ("bytes=0-9,,20-29", False),
        ("bytes=0-9,\t20-29", False),
    ],
)
def test_nginx_reads_alike(header, alike):
    ranges = parse_range(header, len(BODY), 16)
    assert ranges
    assert _nginx_reads_alike(header, ranges, len(BODY)) is alike


def test_rate_limit_header_when_configured(alice_client, url, settings):
    settings.DOWNLOADS_NGINX_RATE_LIMIT = 524288
    assert alice_client.get(url)["X-Accel-Limit-Rate"] == "524288"


def test_prefix_setting(alice_client, url, stored, settings):
    settings.DOWNLOADS_NGINX_PREFIX = "/internal-bytes/"
    assert alice_client.get(url)["X-Accel-Redirect"].startswith("/internal-bytes/file/")


def test_every_answer_is_logged_with_its_mode(alice_client, url, stored):
    from downloads.models import DownloadLog

    alice_client.get(url)
    alice_client.get(url, headers={"Range": "bytes=0-9, 20-29"})
    alice_client.head(url)
    whole, ranges, head = DownloadLog.objects.order_by("at", "pk")
    # The bytes nginx sends on Django's behalf, not those of Django's empty answer.
    assert (whole.file, whole.delivery, whole.status, whole.bytes_sent) == (
        stored,
        "nginx",
        200,
        stored.size,
    )
    assert (ranges.status, ranges.bytes_sent) == (206, 20)
    assert (head.status, head.bytes_sent) == (200, 0)


# --- over S3 storage -----------------------------------------------------------------------


@pytest.fixture
def s3_stored(s3_media, make_file):
    return make_file(BODY, name="report.pdf")


@pytest.mark.integration
def test_an_s3_object_goes_to_the_s3_location_with_a_presigned_url(alice_client, s3_stored):
    url = reverse("downloads:download", args=[s3_stored.pk])
    response = alice_client.get(url, headers={"Range": "bytes=10-19"})
    assert response["X-Accel-Redirect"] == "/_protected/s3"
    assert response["X-Download-Range"] == "bytes=10-19"
    presigned = urlsplit(response["X-Download-Url"])
    query = parse_qs(presigned.query)
    assert presigned.path.endswith(f"/{s3_stored.file.name}")
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert response.content == b""

    whole = alice_client.get(url)
    assert "X-Download-Range" not in whole


@pytest.mark.integration
def test_several_ranges_of_an_s3_object_are_served_by_django(alice_client, s3_stored):
    url = reverse("downloads:download", args=[s3_stored.pk])
    response = alice_client.get(url, headers={"Range": "bytes=0-9, 100-109"})
    assert "X-Accel-Redirect" not in response
    assert response.status_code == 206
    body = b"".join(response.streaming_content)
    assert BODY[0:10] in body
    assert BODY[100:110] in body
