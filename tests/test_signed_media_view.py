"""Signed media URLs in the app (issue 11): the pages embed them, /m/ serves them with no
session, user or access query, refuses every URL it did not sign for these bytes (403, no
bytes), and the download log records each one issued."""

import re
import time
from datetime import timedelta
from html import unescape

import pytest
from django.core.files.base import ContentFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from downloads.downloadlog import SIGNED_DELIVERY
from downloads.models import DownloadCount, DownloadLog, Outcome
from downloads.signedmedia import URL_PREFIX, SignedMedia, media_key, sign, signed_for
from downloads.views_media import REFUSED_BODY
from tests.test_access import without_savepoints

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
SRC = re.compile(r'<img[^>]* src="([^"]+)"')


@pytest.fixture
def image(make_file):
    return make_file(PNG, name="Zürich.png")


def embedded(html: bytes) -> list[str]:
    return [unescape(src) for src in SRC.findall(html.decode())]


def page_media_url(client, stored) -> str:
    response = client.get(stored.get_absolute_url())
    assert response.status_code == 200
    (url,) = embedded(response.content)
    return url


def signed_url(stored, *, expires: int | None = None, inline: bool = True) -> str:
    expires = int(time.time()) + 300 if expires is None else expires
    return sign(signed_for(stored, inline=inline, expires=expires))


def read(response) -> bytes:
    # The test client closes a streamed body once read (the log row is written then).
    return response.getvalue()


# --- the pages ---------------------------------------------------------------------------------


def test_the_file_page_embeds_a_signed_url_and_keeps_the_checked_download(alice_client, image):
    response = alice_client.get(image.get_absolute_url())
    html = response.content.decode()
    (url,) = embedded(response.content)
    assert url.startswith(URL_PREFIX)
    assert f'href="{image.get_download_url()}"' in html  # Download: the checked view
    assert f'src="{image.get_download_url()}' not in html


def test_the_list_page_shows_a_sized_lazy_thumbnail_per_image_only(alice_client, image, make_file):
    make_file(b"plain words\n", name="notes.txt")
    make_file(b'<svg xmlns="http://www.w3.org/2000/svg"/>', name="pic.svg")
    html = alice_client.get(reverse("downloads:file-list")).content.decode()
    thumbs = re.findall(r"<img [^>]*>", html)
    assert len(thumbs) == 1
    (thumb,) = thumbs
    for attribute in ('loading="lazy"', 'width="48"', 'height="48"'):
        assert attribute in thumb
    assert embedded(thumb.encode())[0].startswith(URL_PREFIX)


def test_each_url_issued_is_logged_with_its_expiry_and_counts_no_download(
    alice, alice_client, image, settings
):
    settings.DOWNLOADS_SIGNED_MEDIA_SECONDS = 120
    before = time.time()
    page_media_url(alice_client, image)
    row = DownloadLog.objects.get(outcome=Outcome.ISSUED)
    assert (row.user, row.file, row.delivery, row.status) == (alice, image, SIGNED_DELIVERY, 0)
    assert before + 119 <= row.expires_at.timestamp() <= time.time() + 121
    assert not DownloadCount.objects.filter(file=image, total__gt=0).exists()


def test_a_page_of_images_hands_its_rows_to_the_writer_in_one_batch(
    alice_client, make_file, monkeypatch
):
    from downloads.logwriter import WRITER

    for n in range(5):
        make_file(PNG, name=f"img-{n}.png")
    batches: list[int] = []
    submit = WRITER.submit
    monkeypatch.setattr(WRITER, "submit", lambda rows: [batches.append(len(rows)), submit(rows)])
    alice_client.get(reverse("downloads:file-list"))
    assert batches == [5]


# --- /m/ serves what it was signed for, with no session, user or access query -------------------


def test_a_signed_url_serves_the_file_inline_with_one_query(alice_client, image):
    url = page_media_url(alice_client, image)
    # The session cookie goes along, as a browser sends it with an <img>: it is never read.
    with CaptureQueriesContext(connection) as captured:
        response = alice_client.get(url)
        body = read(response)
    ours = without_savepoints(captured.captured_queries)
    assert len(ours) == 1, ours
    assert '"downloads_storedfile"' in ours[0]
    assert not any(
        table in sql
        for sql in ours
        for table in ("django_session", "auth_user", "downloads_grant", "auth_group")
    )
    assert response.status_code == 200
    assert body == PNG
    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"].startswith("inline;")
    assert response["Content-Security-Policy"] == "sandbox"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["ETag"] == image.etag
    assert "Set-Cookie" not in response
    assert response.cookies == {}


def test_answers_through_the_url_add_no_log_row(alice_client, image):
    """The row is the URL issued; each answer is in the server's access log (README)."""
    url = page_media_url(alice_client, image)
    read(alice_client.get(url, HTTP_RANGE="bytes=0-9"))
    assert list(DownloadLog.objects.values_list("outcome", flat=True)) == [Outcome.ISSUED]


def test_the_url_works_without_any_session(client, image):
    response = client.get(signed_url(image))
    assert response.status_code == 200
    assert read(response) == PNG


def test_ranges_head_and_conditional_requests_follow_the_contract(client, image):
    url = signed_url(image)
    ranged = client.get(url, HTTP_RANGE="bytes=8-15")
    assert ranged.status_code == 206
    assert read(ranged) == PNG[8:16]
    assert ranged["Content-Range"] == f"bytes 8-15/{len(PNG)}"
    several = client.get(url, HTTP_RANGE="bytes=0-1,10-11")
    assert several.status_code == 206
    assert several["Content-Type"].startswith("multipart/byteranges")
    read(several)
    head = client.head(url)
    assert (head.status_code, head.content) == (200, b"")
    assert head["Content-Length"] == str(len(PNG))
    assert client.get(url, HTTP_IF_NONE_MATCH=image.etag).status_code == 304
    assert client.get(url, HTTP_RANGE="bytes=99999-").status_code == 416
    stale = client.get(url, HTTP_RANGE="bytes=0-1", HTTP_IF_RANGE='"stale"')
    assert stale.status_code == 200
    read(stale)


def test_the_headers_are_the_ones_signed_for(client, image):
    """A URL signed as an attachment stays one, and a name changed since does not change it."""
    url = signed_url(image, inline=False)
    image.name = "renamed.png"
    image.save()
    response = client.get(url)
    assert response["Content-Disposition"] == 'attachment; filename="Zurich.png"; ' + (
        "filename*=UTF-8''Z%C3%BCrich.png"
    )
    assert "Content-Security-Policy" not in response
    read(response)


# --- every refusal: 403, short, no-store, never a byte ----------------------------------------


def assert_refused(response) -> None:
    assert response.status_code == 403
    assert response.content == REFUSED_BODY
    assert response["Cache-Control"] == "private, no-store"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Type"] == "text/plain; charset=utf-8"


def _token(url: str) -> str:
    return url.removeprefix(URL_PREFIX)


def test_a_flipped_bit_is_refused(client, image):
    token = _token(signed_url(image))
    for position in (0, len(token) // 2, -1):
        char = token[position]
        flipped = chr(ord(char) ^ 1)
        if not re.fullmatch(r"[A-Za-z0-9_-]", flipped):
            flipped = "A" if char != "A" else "B"
        index = position % len(token)
        assert_refused(client.get(URL_PREFIX + token[:index] + flipped + token[index + 1 :]))


def test_another_files_payload_with_this_signature_is_refused(client, image, make_file):
    other = make_file(b"other bytes", name="other.png")
    _, signature = _token(signed_url(image)).split(".")
    payload, _ = _token(signed_url(other)).split(".")
    assert_refused(client.get(f"{URL_PREFIX}{payload}.{signature}"))


def test_a_later_expiry_is_refused(client, image):
    expires = int(time.time()) + 300
    media = signed_for(image, inline=True, expires=expires)
    _, signature = _token(sign(media)).split(".")
    later = SignedMedia(**{**media.__dict__, "expires": expires + 3600})
    assert_refused(client.get(f"{URL_PREFIX}{later.payload()}.{signature}"))


def test_an_expired_url_is_refused(client, image):
    assert_refused(client.get(signed_url(image, expires=int(time.time()) - 1)))


def test_replaced_bytes_end_the_old_urls(client, image):
    url = signed_url(image)
    image.file.save("new.png", ContentFile(PNG[::-1]), save=False)
    image.save()
    assert_refused(client.get(url))
    fresh = client.get(signed_url(image))
    assert read(fresh) == PNG[::-1]


def test_a_deleted_file_ends_its_urls(client, image):
    url = signed_url(image)
    image.delete()
    assert_refused(client.get(url))


def test_a_url_signed_with_another_key_is_refused(client, image):
    media = signed_for(image, inline=True, expires=int(time.time()) + 300)
    assert_refused(client.get(sign(media, media_key("someone else's secret"))))


@pytest.mark.parametrize(
    "garbage",
    ["x", "abc.def", "..%2F..%2Fetc%2Fpasswd", "a" * 5000 + "." + "b" * 43, "é.é"],
)
def test_garbage_is_refused(client, garbage):
    assert_refused(client.get(URL_PREFIX + garbage))


def test_refusals_cost_no_query_before_the_signature_holds(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert_refused(client.get(URL_PREFIX + "abc." + "b" * 43))


def test_methods_other_than_get_and_head_are_refused(client, image):
    assert client.post(signed_url(image)).status_code == 405


def test_storage_that_lost_the_bytes_is_a_short_503(client, image, private_media):
    url = signed_url(image)
    (private_media / image.file.name).unlink()
    response = client.get(url)
    assert response.status_code == 503
    assert response["Cache-Control"] == "private, no-store"
    image.refresh_from_db()
    assert image.bytes_missing_since is not None


def test_the_url_prefix_is_the_routed_one():
    assert reverse("downloads:signed-media", args=["p.s"]) == URL_PREFIX + "p.s"


def test_revoking_a_grant_stops_the_page_not_the_url_already_issued(client, bob, make_file):
    from downloads.models import Grant

    stored = make_file(PNG, name="shared.png", share_with=bob)
    client.force_login(bob)
    url = page_media_url(client, stored)
    Grant.objects.filter(file=stored, user=bob).delete()
    assert client.get(stored.get_absolute_url()).status_code == 404
    assert client.get(stored.get_download_url()).status_code == 404
    assert read(client.get(url)) == PNG  # until it expires (README, Signed media URLs)


def test_the_lifetime_setting_sets_the_expiry(alice_client, image, settings):
    # Not 1 s: a URL that short-lived expires whenever the fetch crosses a second boundary.
    settings.DOWNLOADS_SIGNED_MEDIA_SECONDS = 7
    url = page_media_url(alice_client, image)
    assert alice_client.get(url).status_code == 200
    row = DownloadLog.objects.get(outcome=Outcome.ISSUED)
    # Expiries are whole seconds; the row's time is not.
    assert timedelta(seconds=6) <= row.expires_at - row.at <= timedelta(seconds=8)


def test_in_nginx_mode_the_view_hands_the_bytes_to_nginx_with_the_signed_headers(
    client, image, settings
):
    """Behind nginx, nginx answers /m/ itself (deploy/); reached anyway (nginx proxying /m/),
    the app hands the file over as a checked download would, with the signed headers."""
    settings.DOWNLOADS_DELIVERY = "nginx"
    response = client.get(signed_url(image), HTTP_RANGE="bytes=0-9")
    assert response.status_code == 200
    assert response["X-Accel-Redirect"] == f"/_protected/ranges/{image.file.name}"
    assert response["Content-Disposition"].startswith("inline;")
    assert response["Content-Security-Policy"] == "sandbox"
    assert response.content == b""
