"""Files in S3 (moto's server over HTTP): delivery mode "s3" at the view, and delivery mode
"django" streaming from the bucket with ranged GETs."""

from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse
from django.utils import timezone

from harness.s3 import S3_REGION, S3_SECRET_KEY, S3_URL_EXPIRY
from tests.sigv4 import expires_at, signature_is_valid

pytestmark = [pytest.mark.django_db, pytest.mark.integration]

BODY = bytes(range(256)) * 40


@pytest.fixture
def stored(s3_media, make_file):
    return make_file(BODY, name="résumé.pdf")


@pytest.fixture
def url(stored):
    return reverse("downloads:download", args=[stored.pk])


def query_of(location: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(location).query).items()}


# --- delivery mode "s3" ----------------------------------------------------------------------


@pytest.fixture
def s3_mode(settings):
    settings.DOWNLOADS_DELIVERY = "s3"


def test_a_download_is_a_redirect_to_a_presigned_url(s3_mode, alice_client, url, stored, s3_media):
    response = alice_client.get(url)
    assert response.status_code == 302
    assert response["Cache-Control"] == "private, no-store"
    location = response["Location"]
    parts = urlsplit(location)
    assert f"{parts.scheme}://{parts.netloc}" == s3_media.endpoint_url
    assert parts.path == f"/{s3_media.bucket}/{stored.file.name}"
    query = query_of(location)
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert query["X-Amz-Expires"] == str(S3_URL_EXPIRY)
    assert query["X-Amz-Credential"].endswith(f"/{S3_REGION}/s3/aws4_request")
    assert query["X-Amz-SignedHeaders"] == "host"
    assert len(query["X-Amz-Signature"]) == 64
    assert query["response-content-type"] == "application/pdf"
    assert query["response-content-disposition"] == (
        "attachment; filename=\"resume.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf"
    )
    assert query["response-cache-control"] == "private, no-cache"
    assert signature_is_valid(location, "GET", S3_SECRET_KEY)
    assert not signature_is_valid(location, "HEAD", S3_SECRET_KEY)
    assert (
        timezone.now()
        < expires_at(location)
        <= timezone.now() + timezone.timedelta(seconds=S3_URL_EXPIRY + 1)
    )


def test_the_signature_check_can_fail(s3_mode, alice_client, url):
    location = alice_client.get(url)["Location"]
    tampered = location.replace(
        "response-content-type=application%2Fpdf", "response-content-type=text%2Fhtml"
    )
    assert tampered != location
    assert not signature_is_valid(tampered, "GET", S3_SECRET_KEY)
    assert not signature_is_valid(location, "GET", "another-secret")


def test_head_gets_a_url_signed_for_head(s3_mode, alice_client, url, stored):
    response = alice_client.head(url)
    assert response.status_code == 302
    location = response["Location"]
    assert signature_is_valid(location, "HEAD", S3_SECRET_KEY)
    assert not signature_is_valid(location, "GET", S3_SECRET_KEY)
    assert query_of(location)["response-content-type"] == "application/pdf"
    head = requests.head(location, timeout=10)
    assert head.status_code == 200
    assert head.headers["Content-Length"] == str(len(BODY))
    # S3 applies response-* to HEAD as well; moto only to GET, so the type is not checked here.


def test_the_presigned_url_gives_the_bytes_the_name_and_the_type(s3_mode, alice_client, url):
    location = alice_client.get(url)["Location"]
    response = requests.get(location, timeout=10)
    assert response.status_code == 200
    assert response.content == BODY
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.headers["Content-Disposition"] == (
        "attachment; filename=\"resume.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf"
    )
    ranged = requests.get(location, headers={"Range": "bytes=100-199"}, timeout=10)
    assert ranged.status_code == 206
    assert ranged.content == BODY[100:200]
    assert ranged.headers["Content-Range"] == f"bytes 100-199/{len(BODY)}"


def test_inline_is_signed_into_the_url(s3_mode, s3_media, alice_client, make_file):
    pdf = make_file(b"%PDF-1.4\n%%EOF\n", name="doc.pdf")
    location = alice_client.get(reverse("downloads:download", args=[pdf.pk]) + "?inline=1")[
        "Location"
    ]
    assert query_of(location)["response-content-disposition"] == 'inline; filename="doc.pdf"'


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"If-None-Match": "etag"}, 304),
        ({"If-Match": '"other"'}, 412),
        ({"Range": "bytes=99999-"}, 416),
    ],
)
def test_django_answers_preconditions_and_416_before_redirecting(
    s3_mode, alice_client, url, stored, headers, status
):
    headers = {name: stored.etag if value == "etag" else value for name, value in headers.items()}
    response = alice_client.get(url, headers=headers)
    assert response.status_code == status
    assert "Location" not in response


def test_the_redirect_is_logged(s3_mode, alice_client, alice, url, stored):
    from downloads.models import DownloadLog

    alice_client.get(url, headers={"Range": "bytes=0-4"})
    entry = DownloadLog.objects.get()
    assert (entry.file, entry.user, entry.status, entry.delivery) == (stored, alice, 302, "s3")
    # The bucket sends the bytes: the row says they were handed over, and how many were asked.
    assert (entry.outcome, entry.bytes_planned, entry.bytes_sent) == ("handed_over", 5, 5)


def test_s3_mode_refuses_local_files(settings, alice_client, make_file):
    settings.DOWNLOADS_DELIVERY = "s3"
    local = make_file(b"on disk\n", name="local.txt")
    with pytest.raises(ImproperlyConfigured, match="S3 storage"):
        alice_client.get(reverse("downloads:download", args=[local.pk]))


# --- delivery mode "django" reading from the bucket --------------------------------------------


def test_django_mode_streams_the_object(alice_client, url):
    response = alice_client.get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == BODY


def test_django_mode_asks_the_bucket_for_the_range_only(alice_client, url, stored, s3_media):
    s3_media.start_recording()
    try:
        single = alice_client.get(url, headers={"Range": "bytes=100-199"})
        assert b"".join(single.streaming_content) == BODY[100:200]
        several = alice_client.get(url, headers={"Range": "bytes=0-9, 5000-5009"})
        body = b"".join(several.streaming_content)
    finally:
        received = s3_media.stop_recording()
    assert several.status_code == 206
    assert BODY[0:10] in body
    assert BODY[5000:5010] in body
    gets = [entry for entry in received if entry["method"] == "GET"]
    assert [entry["headers"].get("Range") for entry in gets] == [
        "bytes=100-199",
        "bytes=0-9",
        "bytes=5000-5009",
    ]
    assert all(stored.file.name in entry["url"] for entry in gets)


def test_django_mode_over_s3_serves_the_whole_object_with_one_get(alice_client, url, s3_media):
    s3_media.start_recording()
    try:
        response = alice_client.get(url)
        assert b"".join(response.streaming_content) == BODY
    finally:
        received = s3_media.stop_recording()
    assert [(e["method"], e["headers"].get("Range")) for e in received] == [
        ("GET", f"bytes=0-{len(BODY) - 1}")
    ]
