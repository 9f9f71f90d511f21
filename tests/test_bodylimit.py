"""Request bodies over DOWNLOADS_MAX_REQUEST_BODY_BYTES are refused from their headers, unread,
everywhere but the admin's upload for staff allowed to use it (downloads/bodylimit.py).

These go through Django's whole middleware stack in-process with a request body that records
every read; tests/test_bodylimit_live.py sends the same over real sockets to gunicorn and nginx.
"""

import uuid
from urllib.parse import urlencode

import pytest
from django.contrib.auth.models import Permission, User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse

from downloads.models import StoredFile
from tests.test_admin import ADD_URL, file_form, form_errors

pytestmark = pytest.mark.django_db

HUGE = 200 * 1024**2


class UnreadBody:
    """A request body that must never be read: it records any attempt."""

    def __init__(self) -> None:
        self.reads = 0

    def read(self, *args: object) -> bytes:
        self.reads += 1
        return b""

    def readline(self, *args: object) -> bytes:
        return self.read()


def post_unread(client, url, length=HUGE, **extra):
    """POST headers that announce `length` body bytes of a multipart form (which Django would
    parse), over a body that records reads. The test client sets neither header for an empty
    body: they are given here."""
    body = UnreadBody()
    response = client.post(
        url,
        CONTENT_TYPE="multipart/form-data; boundary=xyz",
        CONTENT_LENGTH=str(length),
        **{"wsgi.input": body},
        **extra,
    )
    return response, body


@pytest.mark.parametrize(
    "url", ["/accounts/login/", "/files.zip", "/accounts/logout/", "/admin/login/", "/nowhere"]
)
def test_an_anonymous_large_body_is_refused_unread(client, url):
    response, body = post_unread(client, url)
    assert response.status_code == 413
    assert body.reads == 0
    assert "Nothing was read or stored" in response.text
    assert "200.0\xa0MB" in response.text  # what was announced
    assert "1.0\xa0MB" in response.text  # the limit


def test_a_logged_in_user_gets_the_same_on_the_zip(alice_client):
    response, body = post_unread(alice_client, reverse("downloads:zip"))
    assert response.status_code == 413
    assert body.reads == 0


def test_a_body_at_the_limit_is_read(client, settings):
    settings.DOWNLOADS_MAX_REQUEST_BODY_BYTES = 100
    data = urlencode({"username": "x" * 60, "password": "y"})
    data += "&" + "z" * (100 - len(data) - 1)
    assert len(data) == 100
    # Read: the login form answers that the password is wrong.
    response = client.post("/accounts/login/", data, "application/x-www-form-urlencoded")
    assert response.status_code == 200
    assert "didn't match" in response.text
    too_long = client.post("/accounts/login/", data + "z", "application/x-www-form-urlencoded")
    assert too_long.status_code == 413


def test_a_chunked_body_without_a_length_is_411_and_unread(client):
    body = UnreadBody()
    response = client.generic(
        "POST", "/accounts/login/", HTTP_TRANSFER_ENCODING="chunked", **{"wsgi.input": body}
    )
    assert response.status_code == 411
    assert "Content-Length" in response.text
    assert body.reads == 0


def test_a_length_that_is_not_a_number_is_400(client):
    response, body = post_unread(client, "/accounts/login/", length="12abc")  # type: ignore[arg-type]
    assert response.status_code == 400
    assert body.reads == 0


def test_the_largest_zip_form_fits_with_room(alice_client, settings):
    """DOWNLOADS_ZIP_MAX_FILES ticked ids, as the page posts them: read, answered by the view."""
    ids = [str(uuid.uuid4()) for _ in range(settings.DOWNLOADS_ZIP_MAX_FILES)]
    body = urlencode([("file", file_id) for file_id in ids])
    assert len(body) * 10 < settings.DOWNLOADS_MAX_REQUEST_BODY_BYTES
    response = alice_client.post(
        reverse("downloads:zip"), body, "application/x-www-form-urlencoded"
    )
    assert response.status_code == 404  # ids nobody has: the view's answer, so the body was read


def test_a_limit_too_small_for_the_zip_form_stops_check(settings):
    from django.core.management.base import SystemCheckError

    settings.DOWNLOADS_MAX_REQUEST_BODY_BYTES = 1000
    with pytest.raises(SystemCheckError, match=r"downloads.E030"):
        call_command("check")


# --- the admin upload: staff allowed to upload may send DOWNLOADS_MAX_UPLOAD_BYTES ------------


@pytest.fixture
def small_limits(settings):
    settings.DOWNLOADS_MAX_REQUEST_BODY_BYTES = 100_000
    settings.DOWNLOADS_MAX_UPLOAD_BYTES = 300_000


def test_staff_upload_past_the_small_limit(admin_client, alice, small_limits):
    upload = SimpleUploadedFile("big.bin", b"x" * 200_000)
    response = admin_client.post(ADD_URL, file_form(alice, upload))
    assert response.status_code == 302, form_errors(response)
    assert StoredFile.objects.get().size == 200_000


def test_staff_upload_over_the_upload_limit_is_still_the_form_error(
    admin_client, alice, small_limits
):
    upload = SimpleUploadedFile("big.bin", b"x" * 300_001)
    response = admin_client.post(ADD_URL, file_form(alice, upload))
    assert response.status_code == 200
    assert "the limit is 293.0" in form_errors(response)
    assert not StoredFile.objects.exists()


def test_staff_past_the_upload_limit_and_its_allowance_is_413_unread(admin_client, small_limits):
    from downloads.bodylimit import MULTIPART_ALLOWANCE

    response, body = post_unread(admin_client, ADD_URL, length=300_000 + MULTIPART_ALLOWANCE + 1)
    assert response.status_code == 413
    assert body.reads == 0


def test_staff_change_view_takes_an_upload(admin_client, alice, make_file, small_limits):
    stored = make_file(b"small")
    url = reverse("admin:downloads_storedfile_change", args=[stored.pk])
    response, body = post_unread(admin_client, url, length=200_000)
    # Past the small limit but allowed: the body is read (this one is empty, so the form fails).
    assert response.status_code != 413, response.status_code
    assert body.reads > 0, response.status_code


@pytest.mark.parametrize("who", ["anonymous", "user", "staff without permission"])
def test_others_get_413_on_the_upload_url(client, alice, small_limits, who):
    if who == "user":
        client.force_login(alice)
    elif who == "staff without permission":
        alice.is_staff = True
        alice.save()
        alice.user_permissions.add(Permission.objects.get(codename="view_storedfile"))
        client.force_login(alice)
    response, body = post_unread(client, ADD_URL, length=200_000)
    assert response.status_code == 413
    assert body.reads == 0


def test_staff_with_the_add_permission_may_upload(client, alice, small_limits):
    clerk = User.objects.create_user("clerk", is_staff=True)
    clerk.user_permissions.add(Permission.objects.get(codename="add_storedfile"))
    client.force_login(clerk)
    response, body = post_unread(client, ADD_URL, length=200_000)
    assert response.status_code != 413, response.status_code
    assert body.reads > 0, response.status_code
