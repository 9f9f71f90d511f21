"""Refused signed media URLs in django mode are recorded as log lines, never as database rows.

Each refusal is one WARNING on the `downloads.signed_media` logger with its reason (and the
file's id once the signature holds), never the URL or its signature; an anonymous flood of them
adds no row to the download log. The same through gunicorn, read back from its log.
"""

import base64
import hashlib
import hmac
import logging
import time

import pytest
import requests
from django.core.files.base import ContentFile

from downloads.models import DownloadLog
from downloads.signedmedia import SignedMedia, media_key, media_keys, sign, signed_for
from tests.servers import SECRET_KEY

LOGGER = "downloads.signed_media"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


def signed_payload(text: bytes, key: bytes) -> str:
    """A URL whose payload is `text`, correctly signed: what only a leaked key could make."""
    payload = base64.urlsafe_b64encode(text).rstrip(b"=").decode()
    signature = hmac.new(key, payload.encode(), hashlib.sha256).digest()
    return f"/m/{payload}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


def media(stored, **changes: object) -> SignedMedia:
    fields = signed_for(stored, inline=True, expires=int(time.time()) + 300).__dict__
    return SignedMedia(**{**fields, **changes})


def refused_urls(stored) -> dict[str, str]:
    """A URL refused for each reason the app can tell apart."""
    good = sign(media(stored))
    payload, signature = good.removeprefix("/m/").split(".")
    flipped = ("A" if signature[5] != "A" else "B").join((signature[:5], signature[6:]))
    return {
        "malformed": "/m/not-a-token",
        "signature": f"/m/{payload}.{flipped}",
        "undecodable": signed_payload(b"not json", media_keys()[0]),
        "expired": sign(media(stored, expires=int(time.time()) - 1)),
        "unknown-file": sign(media(stored, file_id="00000000-0000-4000-8000-000000000000")),
        "replaced": sign(media(stored, sha256="0" * 64)),
    }


@pytest.fixture
def image(make_file, private_media):
    return make_file(PNG, name="pic.png")


@pytest.mark.parametrize(
    "reason", ["malformed", "signature", "undecodable", "expired", "unknown-file", "replaced"]
)
def test_each_refusal_is_one_warning_with_its_reason_and_no_url(client, image, caplog, reason):
    url = refused_urls(image)[reason]
    with caplog.at_level(logging.INFO):
        response = client.get(url, REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 403
    (record,) = [record for record in caplog.records if record.name == LOGGER]
    assert record.levelno == logging.WARNING
    message = record.getMessage()
    assert f"reason={reason} " in message
    assert "client=203.0.113.9" in message
    # The file is named once the signature holds and the payload is the format.
    if reason in ("malformed", "signature", "undecodable"):
        assert "file=- " in message
    elif reason == "unknown-file":
        assert "file=00000000-0000-4000-8000-000000000000 " in message
    else:
        assert f"file={image.pk} " in message
    # Neither this line nor any other (Django's own 4xx line names the path) has the URL.
    for secret in url.removeprefix("/m/").split("."):
        assert secret not in caplog.text


def test_replaced_bytes_are_logged_as_replaced(client, image, caplog):
    url = sign(media(image))
    image.file.save("new.png", ContentFile(PNG[::-1]), save=False)
    image.save()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert client.get(url).status_code == 403
    assert "reason=replaced " in caplog.records[-1].getMessage()


def test_a_served_url_logs_nothing(client, image, caplog):
    with caplog.at_level(logging.INFO, logger=LOGGER):
        assert client.get(sign(media(image))).status_code == 200
    assert [record for record in caplog.records if record.name == LOGGER] == []


@pytest.mark.parametrize(
    ("method", "headers", "status"),
    [
        ("GET", {"HTTP_RANGE": "bytes=99999-"}, 416),
        ("GET", {"HTTP_IF_MATCH": '"x"'}, 412),
        ("POST", {}, 405),
    ],
)
def test_an_error_answer_to_a_working_url_does_not_log_it(
    client, image, caplog, method, headers, status
):
    # Django logs a 4xx with its path; this path opens the file until it expires.
    url = sign(media(image))
    with caplog.at_level(logging.INFO):
        assert client.generic(method, url, **headers).status_code == status
    for secret in url.removeprefix("/m/").split("."):
        assert secret not in caplog.text


def test_an_anonymous_flood_of_refusals_writes_no_row(client, image, caplog):
    urls = list(refused_urls(image).values())
    before = DownloadLog.objects.count()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        for _ in range(20):
            for url in urls:
                assert client.get(url).status_code == 403
    assert DownloadLog.objects.count() == before
    assert len([record for record in caplog.records if record.name == LOGGER]) == 20 * len(urls)


@pytest.mark.integration
def test_gunicorn_writes_the_refusal_to_its_log(gunicorn_server, live_gunicorn):
    # Through the app as `make run` serves it: the line is in the server's own log.
    good = sign(
        SignedMedia(
            file_id="00000000-0000-4000-8000-000000000000",
            storage_key="files/00/none.png",
            sha256="0" * 64,
            size=1,
            content_type="image/png",
            content_disposition='inline; filename="none.png"',
            last_modified=0,
            expires=int(time.time()) + 300,
        ),
        media_key(SECRET_KEY),
    )
    payload, signature = good.removeprefix("/m/").split(".")
    forged = f"/m/{payload}.{'A' * 43}"
    log = gunicorn_server.log_path
    before = log.read_text()
    for url in (forged, good):
        response = requests.get(gunicorn_server.url + url, timeout=10)
        assert response.status_code == 403
    deadline = time.monotonic() + 5  # written, not timed: the worker logs after answering
    while time.monotonic() < deadline:
        lines = [
            line
            for line in log.read_text()[len(before) :].splitlines()
            if "signed media URL refused" in line
        ]
        if len(lines) == 2:
            break
        time.sleep(0.05)
    assert len(lines) == 2, lines
    assert "reason=signature file=- client=127.0.0.1" in lines[0]
    assert "reason=unknown-file file=00000000-0000-4000-8000-000000000000" in lines[1]
    assert payload not in "".join(lines)
    assert signature not in "".join(lines)
