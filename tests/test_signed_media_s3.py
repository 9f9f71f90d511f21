"""Signed media URLs in s3 mode: the page embeds the bucket's presigned URL itself (moto's server
over HTTP answers it with the download's headers), or, behind CloudFront, a CloudFront signed
URL whose signature verifies with the public key and whose policy ends at the URL's expiry. Also
the settings' checks (E110-E114)."""

import base64
import json
import re
import time
from html import unescape
from urllib.parse import parse_qs, urlsplit, urlunsplit

import pytest
import requests
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured

from downloads.conf import app_settings
from downloads.models import DownloadLog, Outcome
from harness.s3 import S3_SECRET_KEY
from tests.sigv4 import expires_at, signature_is_valid

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
SRC = re.compile(r'<img[^>]* src="([^"]+)"')


def embedded(client, stored) -> str:
    response = client.get(stored.get_absolute_url())
    assert response.status_code == 200
    (url,) = SRC.findall(response.content.decode())
    return unescape(url)


@pytest.fixture
def s3_mode(settings, s3_media):
    settings.DOWNLOADS_DELIVERY = "s3"
    settings.DOWNLOADS_SIGNED_MEDIA_SECONDS = 120
    return s3_media


@pytest.mark.integration
def test_s3_mode_embeds_the_presigned_url_that_the_bucket_answers(s3_mode, alice_client, make_file):
    image = make_file(PNG, name="Zürich.png")
    url = embedded(alice_client, image)
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == s3_mode.endpoint_url  # no 302 through the app
    assert signature_is_valid(url, "GET", S3_SECRET_KEY)
    assert time.time() + 100 < expires_at(url).timestamp() <= time.time() + 121
    answer = requests.get(url, timeout=10)
    assert answer.status_code == 200
    assert answer.content == PNG
    assert answer.headers["Content-Type"] == "image/png"
    assert answer.headers["Content-Disposition"] == (
        "inline; filename=\"Zurich.png\"; filename*=UTF-8''Z%C3%BCrich.png"
    )
    assert answer.headers["Cache-Control"] == "private, no-cache"
    ranged = requests.get(url, headers={"Range": "bytes=8-15"}, timeout=10)
    assert (ranged.status_code, ranged.content) == (206, PNG[8:16])
    row = DownloadLog.objects.get(outcome=Outcome.ISSUED)
    assert (row.file, row.delivery) == (image, "s3")


# --- CloudFront ------------------------------------------------------------------------------


@pytest.fixture
def cloudfront(s3_mode, settings, tmp_path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "cloudfront.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    settings.DOWNLOADS_CLOUDFRONT_URL = "https://d111111abcdef8.cloudfront.net"
    settings.DOWNLOADS_CLOUDFRONT_KEY_ID = "K2JCJMDEHXQW5F"
    settings.DOWNLOADS_CLOUDFRONT_PRIVATE_KEY_FILE = str(path)
    return key.public_key()


def _cloudfront_b64decode(text: str) -> bytes:
    # CloudFront's URL-safe base64: '+' -> '-', '=' -> '_', '/' -> '~'.
    return base64.b64decode(text.replace("-", "+").replace("_", "=").replace("~", "/"))


def test_behind_cloudfront_the_page_embeds_a_cloudfront_signed_url(
    cloudfront, alice_client, make_file
):
    image = make_file(PNG, name="Zürich.png")
    before = int(time.time())
    url = embedded(alice_client, image)
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == "https://d111111abcdef8.cloudfront.net"
    assert parts.path == f"/{image.file.name}"
    query = {name: values[0] for name, values in parse_qs(parts.query).items()}
    assert query["Key-Pair-Id"] == "K2JCJMDEHXQW5F"
    assert query["response-content-type"] == "image/png"
    assert query["response-content-disposition"].startswith("inline;")
    expires = int(query["Expires"])
    assert before + 120 <= expires <= int(time.time()) + 120
    # The canned policy CloudFront rebuilds from the URL without its signing parameters.
    resource = urlunsplit(parts._replace(query=parts.query.split("&Expires=")[0]))
    policy = json.dumps(
        {
            "Statement": [
                {"Resource": resource, "Condition": {"DateLessThan": {"AWS:EpochTime": expires}}}
            ]
        },
        separators=(",", ":"),
    )
    signature = _cloudfront_b64decode(query["Signature"])
    cloudfront.verify(signature, policy.encode(), padding.PKCS1v15(), hashes.SHA1())  # noqa: S303
    later = policy.replace(str(expires), str(expires + 3600))
    with pytest.raises(InvalidSignature):
        cloudfront.verify(signature, later.encode(), padding.PKCS1v15(), hashes.SHA1())  # noqa: S303
    row = DownloadLog.objects.get(outcome=Outcome.ISSUED)
    assert (row.file, row.delivery, int(row.expires_at.timestamp())) == (
        image,
        "cloudfront",
        expires,
    )


# --- the settings --------------------------------------------------------------------------------


def check_ids() -> set[str]:
    return {message.id for message in run_checks() if message.id}


@pytest.mark.parametrize("seconds", [0, -5, 24 * 3600 + 1])
def test_a_lifetime_outside_a_second_to_a_day_is_refused(settings, seconds):
    settings.DOWNLOADS_SIGNED_MEDIA_SECONDS = seconds
    with pytest.raises(ImproperlyConfigured, match=r"downloads\.E110"):
        app_settings()
    assert "downloads.E110" in check_ids()


def test_a_day_is_allowed(settings):
    settings.DOWNLOADS_SIGNED_MEDIA_SECONDS = 24 * 3600
    assert app_settings().signed_media_seconds == 24 * 3600


def test_a_cloudfront_url_must_be_https_with_no_path(settings):
    settings.DOWNLOADS_CLOUDFRONT_URL = "http://d111.cloudfront.net/files/"
    with pytest.raises(ImproperlyConfigured, match=r"downloads\.E111"):
        app_settings()


def test_half_the_cloudfront_settings_are_refused(settings):
    settings.DOWNLOADS_CLOUDFRONT_URL = "https://d111.cloudfront.net"
    assert "downloads.E112" in check_ids()


def test_an_unreadable_key_file_is_refused(cloudfront, settings, tmp_path):
    assert not {"downloads.E112", "downloads.E113", "downloads.E114"} & check_ids()
    bad = tmp_path / "not-a-key.pem"
    bad.write_text("not a key")
    settings.DOWNLOADS_CLOUDFRONT_PRIVATE_KEY_FILE = str(bad)
    assert "downloads.E113" in check_ids()
    settings.DOWNLOADS_CLOUDFRONT_PRIVATE_KEY_FILE = str(tmp_path / "missing.pem")
    assert "downloads.E113" in check_ids()


def test_cloudfront_outside_s3_mode_is_refused(cloudfront, settings):
    settings.DOWNLOADS_DELIVERY = "django"
    assert "downloads.E114" in check_ids()
