"""Through the real servers, what the contract suite cannot see: who moved the bytes, what the
bucket was sent, the s3 mode's redirect, the rate limit, and admin uploads into the bucket."""

import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.contrib.auth.models import User
from django.utils.http import http_date

from downloads.models import StoredFile
from harness.login import login
from harness.s3 import S3_SECRET_KEY, S3_URL_EXPIRY
from tests.contract_cases import BODY
from tests.livefiles import PASSWORD, USER
from tests.servers import RATE_LIMIT, make_live_user
from tests.sigv4 import signature_is_valid

pytestmark = pytest.mark.integration


def nginx_fetches(received: list[dict]) -> list[dict]:
    """The bucket's requests that came through a presigned URL (nginx), not the app's own
    signed HEAD that checks the object exists first (downloads/faults.py)."""
    return [entry for entry in received if "X-Amz-Signature=" in entry["url"]]


def query_of(url: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


# --- nginx mode: Django hands over, nginx sends ------------------------------------------------


@pytest.mark.parametrize(
    ("stack", "headers", "location"),
    [
        ("nginx", {}, "/_protected/file/{key}"),
        ("nginx", {"Range": "bytes=0-9"}, "/_protected/ranges/{key}"),
        ("nginx-s3", {"Range": "bytes=0-9"}, "/_protected/s3"),
    ],
)
def test_gunicorn_hands_over_and_nginx_sends_the_bytes(live_for, stack, headers, location):
    live = live_for(stack)
    data = live.files.data
    direct = live.session.get(
        f"{live.stack.gunicorn.url}{data.get_download_url()}", headers=headers, timeout=10
    )
    assert direct.headers["X-Accel-Redirect"] == location.format(key=data.file.name)
    assert direct.content == b""

    through_nginx = live.get(data, headers)
    assert through_nginx.content == (BODY[:10] if headers else BODY)


def test_nginx_fetches_from_the_bucket_without_the_clients_credentials(live_for, moto_s3):
    live = live_for("nginx-s3")
    data = live.files.data
    moto_s3.start_recording()
    try:
        response = live.get(data, {"Range": "bytes=100-199", "Authorization": "Basic c2VjcmV0"})
    finally:
        received = moto_s3.stop_recording()
    assert response.status_code == 206
    assert response.content == BODY[100:200]
    (fetch,) = nginx_fetches(received)
    headers = {name.lower(): value for name, value in fetch["headers"].items()}
    assert fetch["method"] == "GET"
    assert headers["range"] == "bytes=100-199"
    assert headers["host"] == urlsplit(moto_s3.endpoint_url).netloc
    assert "cookie" not in headers
    assert "authorization" not in headers
    # The URL nginx sent is exactly the one Django signed: a real S3 would accept it.
    assert signature_is_valid(fetch["url"], "GET", S3_SECRET_KEY)
    assert query_of(fetch["url"])["X-Amz-Expires"] == str(S3_URL_EXPIRY)


def test_nginx_heads_the_bucket_with_a_url_signed_for_head(live_for, moto_s3):
    live = live_for("nginx-s3")
    moto_s3.start_recording()
    try:
        response = live.head(live.files.data)
    finally:
        received = moto_s3.stop_recording()
    assert response.status_code == 200
    assert response.headers["Content-Length"] == str(len(BODY))
    (fetch,) = nginx_fetches(received)
    assert fetch["method"] == "HEAD"
    assert signature_is_valid(fetch["url"], "HEAD", S3_SECRET_KEY)


def test_nginx_looks_up_the_buckets_host_name_with_its_resolver(live_for, moto_s3, loopback_dns):
    live = live_for("nginx-s3-by-name")
    moto_s3.start_recording()
    try:
        response = live.get(live.files.data, {"Range": "bytes=0-99"})
    finally:
        received = moto_s3.stop_recording()
    assert response.status_code == 206
    assert response.content == BODY[:100]
    assert "localhost" in loopback_dns.asked
    (fetch,) = nginx_fetches(received)
    headers = {name.lower(): value for name, value in fetch["headers"].items()}
    assert headers["host"] == f"localhost:{moto_s3.port}"
    assert signature_is_valid(fetch["url"], "GET", S3_SECRET_KEY)


def test_the_bucket_stays_hidden_behind_nginx(live_for, moto_s3):
    live = live_for("nginx-s3")
    response = live.get(live.files.data)
    endpoint = urlsplit(moto_s3.endpoint_url).netloc
    assert endpoint not in str(response.headers)
    assert not [name for name in response.headers if name.lower().startswith("x-amz")]


def test_a_missing_object_is_an_error_page_not_the_buckets(live_for, moto_s3):
    live = live_for("nginx-s3")
    gone = live.files.named["blob.bin"]
    moto_s3.client().delete_object(Bucket=moto_s3.bucket, Key=gone.file.name)
    response = live.get(gone)
    # Django's HEAD found it missing: the app's page (tests/test_faults_live.py), not the bucket's.
    assert response.status_code == 503
    assert b"NoSuchKey" not in response.content
    assert b"<Error>" not in response.content


def test_a_rate_limit_slows_the_download(live_for):
    limited = live_for("nginx-rate-limited")
    unlimited = live_for("nginx")
    big = limited.files.named["big.bin"]
    started = time.monotonic()
    fast = unlimited.session.get(unlimited.url(big), timeout=30)
    fast_seconds = time.monotonic() - started
    started = time.monotonic()
    slow = limited.session.get(limited.url(big), timeout=30)
    slow_seconds = time.monotonic() - started
    assert fast.content == slow.content
    assert len(slow.content) == big.size == 3 * RATE_LIMIT
    # nginx allows RATE_LIMIT bytes for each second of its whole-second clock since the request
    # began, plus one: 3 x RATE_LIMIT takes two clock ticks, between 1 and 2 s of real time
    # (1.03 s in one CI run, where the request began just before a tick).
    assert fast_seconds < 0.5
    assert slow_seconds > 0.9


# --- s3 mode through nginx and gunicorn ---------------------------------------------------------


def test_s3_mode_redirects_to_the_bucket_and_the_bytes_follow(live_for, moto_s3):
    live = live_for("s3")
    data = live.files.data
    response = live.get(data)
    assert response.status_code == 302
    assert response.headers["Cache-Control"] == "private, no-store"
    location = response.headers["Location"]
    assert location.startswith(f"{moto_s3.endpoint_url}/{moto_s3.bucket}/")
    query = query_of(location)
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert query["X-Amz-Expires"] == str(S3_URL_EXPIRY)
    assert "X-Amz-Signature" in query
    assert query["response-content-disposition"] == 'attachment; filename="data.bin"'
    assert query["response-content-type"] == "application/octet-stream"
    assert signature_is_valid(location, "GET", S3_SECRET_KEY)

    fetched = requests.get(location, timeout=10)
    assert fetched.status_code == 200
    assert fetched.content == BODY
    assert fetched.headers["Content-Disposition"] == 'attachment; filename="data.bin"'
    assert fetched.headers["Content-Type"] == "application/octet-stream"
    ranged = requests.get(location, headers={"Range": "bytes=-40"}, timeout=10)
    assert ranged.status_code == 206
    assert ranged.content == BODY[-40:]


def test_s3_mode_names_non_ascii_files_as_the_other_modes(live_for):
    live = live_for("s3")
    location = live.get(live.files.named["résumé 2024.pdf"]).headers["Location"]
    fetched = requests.get(location, timeout=10)
    assert fetched.headers["Content-Disposition"] == (
        "attachment; filename=\"resume 2024.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9%202024.pdf"
    )
    assert fetched.headers["Content-Type"] == "application/pdf"


def test_s3_mode_head_and_answers_django_gives_itself(live_for):
    live = live_for("s3")
    data = live.files.data
    head = live.head(data)
    assert head.status_code == 302
    assert signature_is_valid(head.headers["Location"], "HEAD", S3_SECRET_KEY)
    assert requests.head(head.headers["Location"], timeout=10).status_code == 200
    assert live.get(data, {"Range": "bytes=99999-"}).status_code == 416
    assert live.get(data, {"If-None-Match": data.etag}).status_code == 304
    not_modified = live.get(data, {"If-Modified-Since": http_date(data.last_modified)})
    assert not_modified.status_code == 304
    assert live.get(live.files.foreign).status_code == 404


# --- S3 storage by settings alone: admin uploads land in the bucket ----------------------------


@pytest.fixture(scope="module")
def live_admin(django_db_blocker, live_files) -> User:
    live_files("s3")  # the module's users exist first
    with django_db_blocker.unblock():
        return make_live_user("contract-admin", PASSWORD, is_staff=True, is_superuser=True)


def test_an_admin_upload_lands_in_the_bucket(live_for, live_admin, moto_s3, django_db_blocker):
    live = live_for("django-s3")
    admin = login(live.stack.url, "contract-admin", PASSWORD)
    add_url = f"{live.stack.url}/admin/downloads/storedfile/add/"
    admin.get(add_url, timeout=10).raise_for_status()
    content = b"%PDF-1.7\n" + b"uploaded through nginx and gunicorn\n" * 100
    with django_db_blocker.unblock():
        owner = User.objects.get(username=USER)
    response = admin.post(
        add_url,
        data={
            "csrfmiddlewaretoken": admin.cookies["csrftoken"],
            "name": "",
            "description": "",
            "owner": str(owner.pk),
            "grants-TOTAL_FORMS": "0",
            "grants-INITIAL_FORMS": "0",
            "grants-MIN_NUM_FORMS": "0",
            "grants-MAX_NUM_FORMS": "1000",
        },
        files={"file": ("Uploaded report.pdf", content, "application/pdf")},
        headers={"Referer": add_url},
        allow_redirects=False,
        timeout=30,
    )
    assert response.status_code == 302, response.text[:2000]

    with django_db_blocker.unblock():
        stored = StoredFile.objects.get(name="Uploaded report.pdf")
    in_bucket = moto_s3.client().get_object(Bucket=moto_s3.bucket, Key=stored.file.name)
    assert in_bucket["Body"].read() == content
    assert (stored.size, stored.content_type) == (len(content), "application/pdf")

    downloaded = live.session.get(live.url(stored), timeout=10)
    assert downloaded.status_code == 200
    assert downloaded.content == content
