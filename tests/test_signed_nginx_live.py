"""Signed media URLs in delivery mode "nginx": nginx checks them with njs (deploy/signedmedia.js)
and serves the file itself, through the rendered configuration and Debian's njs module.

The URLs are made as the pages make them (signedmedia.sign(signed_for(...))); every accepted
answer is compared with the checked download of the same file through the same stack, and
every refusal is a 403 without a byte of the file. test_signed_nginx_alone.py holds the
known-answer vector and the proof that the app is never asked.
"""

import base64
import hashlib
import hmac
import json
import os
import time
from pathlib import Path

import pytest
import requests
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.utils.http import http_date

from downloads.models import StoredFile
from downloads.signedmedia import SignedMedia, media_key, sign, signed_for
from tests.contract_cases import BODY, SIZE, parse_multipart
from tests.livefiles import Live
from tests.servers import SECRET_KEY

pytestmark = pytest.mark.integration

REFUSED_BODY = b"This media link is not valid or has expired.\n"
# Headers that say nothing about the file: when and over which connection it was sent.
TRANSPORT = {"date", "connection", "keep-alive"}


@pytest.fixture(scope="module")
def live(live_for) -> Live:
    return live_for("nginx")


def url_for(live: Live, stored: StoredFile, *, inline: bool = False, expires: int = 0) -> str:
    return live.stack.url + sign(
        signed_for(stored, inline=inline, expires=expires or int(time.time()) + 300)
    )


def fetch(url: str, method: str = "GET", **headers: str) -> requests.Response:
    # A fresh client: a signed URL needs no session, no cookie.
    return requests.request(method, url, headers=headers, allow_redirects=False, timeout=10)


def file_headers(response: requests.Response) -> dict[str, str]:
    return {
        name.lower(): value
        for name, value in response.headers.items()
        if name.lower() not in TRANSPORT
    }


# --- Accepted: the same answer as the checked download --------------------------------------


@pytest.mark.parametrize(("name", "inline"), [("pic.png", True), ("data.bin", False)])
def test_a_signed_url_is_answered_as_the_checked_download(live: Live, name: str, inline: bool):
    stored = live.files.named[name]
    checked = live.get(stored, query="?inline=1" if inline else "")
    signed = fetch(url_for(live, stored, inline=inline))
    assert checked.status_code == signed.status_code == 200
    assert (
        signed.content
        == checked.content
        == (live.stack.nginx.media_root / stored.file.name).read_bytes()
    )
    assert file_headers(signed) == file_headers(checked)
    assert signed.headers["ETag"] == stored.etag
    assert ("Content-Security-Policy" in signed.headers) is inline


def test_head_has_the_headers_of_get_and_no_body(live: Live):
    url = url_for(live, live.files.data)
    head = fetch(url, "HEAD", Range="bytes=0-9")
    get = fetch(url)
    # HEAD ignores Range, as the checked view does.
    assert head.status_code == 200
    assert head.content == b""
    assert file_headers(head) == file_headers(get)


def test_a_single_range_is_206_as_the_checked_download(live: Live):
    stored = live.files.data
    checked = live.get(stored, headers={"Range": "bytes=100-199"})
    signed = fetch(url_for(live, stored), Range="bytes=100-199")
    assert checked.status_code == signed.status_code == 206
    assert signed.content == BODY[100:200]
    assert signed.headers["Content-Range"] == f"bytes 100-199/{SIZE}"
    assert file_headers(signed) == file_headers(checked)


def test_several_ranges_are_one_multipart_answer(live: Live):
    signed = fetch(url_for(live, live.files.data), Range="bytes=0-9,100-199,-40")
    assert signed.status_code == 206
    parts = parse_multipart(
        signed.headers["Content-Type"], signed.headers["Content-Length"], signed.content
    )
    assert parts == [
        (f"bytes 0-9/{SIZE}", BODY[0:10]),
        (f"bytes 100-199/{SIZE}", BODY[100:200]),
        (f"bytes {SIZE - 40}-{SIZE - 1}/{SIZE}", BODY[-40:]),
    ]
    assert signed.headers["ETag"] == live.files.data.etag


def test_ranges_nginx_would_read_otherwise_are_merged_as_the_app_merges_them(live: Live):
    # Overlapping ranges: nginx would send them twice; the app merges them into one, and so
    # does /m/ (test_signed_ranges_live.py holds the whole table).
    signed = fetch(url_for(live, live.files.data), Range="bytes=50-149,0-99")
    assert signed.status_code == 206
    assert signed.headers["Content-Range"] == f"bytes 0-149/{SIZE}"
    assert signed.content == BODY[:150]


@pytest.mark.parametrize("header", ["bytes=10240-", "bytes=-0"])
def test_a_range_nothing_satisfies_is_416_as_the_checked_download(live: Live, header: str):
    checked = live.get(live.files.data, headers={"Range": header})
    signed = fetch(url_for(live, live.files.data), Range=header)
    assert checked.status_code == signed.status_code == 416
    assert signed.headers["Content-Range"] == checked.headers["Content-Range"] == f"bytes */{SIZE}"
    assert BODY[:64] not in signed.content


def test_if_range_with_a_stale_tag_gets_the_whole_file(live: Live):
    url = url_for(live, live.files.data)
    fresh = fetch(url, Range="bytes=0-9", **{"If-Range": live.files.data.etag})
    stale = fetch(url, Range="bytes=0-9", **{"If-Range": '"stale"'})
    assert (fresh.status_code, fresh.content) == (206, BODY[:10])
    assert (stale.status_code, stale.content) == (200, BODY)


@pytest.mark.parametrize("condition", ["If-None-Match", "If-Modified-Since"])
def test_a_revalidation_is_304_as_the_checked_download(live: Live, condition: str):
    stored = live.files.data
    first = fetch(url_for(live, stored))
    validator = first.headers["ETag" if condition == "If-None-Match" else "Last-Modified"]
    checked = live.get(stored, headers={condition: validator})
    signed = fetch(url_for(live, stored), **{condition: validator})
    assert checked.status_code == signed.status_code == 304
    assert signed.content == b""
    for name in ("ETag", "Last-Modified", "Cache-Control", "X-Content-Type-Options"):
        assert signed.headers[name] == checked.headers[name]


def conditions(stored: StoredFile) -> list[dict[str, str]]:
    etag, modified = stored.etag, stored.last_modified
    moment = time.gmtime(modified)
    rfc850 = time.strftime("%A, %d-%b-%y %H:%M:%S GMT", moment)
    asctime = (
        time.strftime("%a %b ", moment)
        + f"{moment.tm_mday:2d}"
        + time.strftime(" %H:%M:%S %Y", moment)
    )
    return [
        {"If-None-Match": f"W/{etag}"},
        {"If-None-Match": f'"other", {etag}'},
        {"If-None-Match": "*"},
        {"If-None-Match": '"other"'},
        {"If-None-Match": "garbage"},
        {"If-Modified-Since": rfc850},
        {"If-Modified-Since": asctime},
        {"If-Modified-Since": http_date(modified - 1)},
        {"If-Modified-Since": "garbage"},
        {"If-Match": etag},
        {"If-Match": "*"},
        {"If-Match": '"other"'},
        {"If-Match": f"W/{etag}"},
        {"If-Match": etag, "Range": "bytes=5-9"},
        {"If-Unmodified-Since": http_date(modified)},
        {"If-Unmodified-Since": http_date(modified - 1)},
        {"If-Unmodified-Since": "garbage"},
        {"If-Match": etag, "If-None-Match": etag},
        {"If-None-Match": '"other"', "If-Modified-Since": http_date(modified)},
        {"If-Range": http_date(modified), "Range": "bytes=0-9"},
        {"If-Range": f"W/{etag}", "Range": "bytes=0-9"},
    ]


@pytest.mark.parametrize("case", range(21))
def test_preconditions_are_answered_as_the_checked_download(live: Live, case: int):
    stored = live.files.data
    headers = conditions(stored)[case]
    checked = live.get(stored, headers=headers)
    signed = fetch(url_for(live, stored), **headers)
    assert (signed.status_code, signed.content) == (checked.status_code, checked.content)
    for name in ("ETag", "Last-Modified", "Content-Range"):
        assert signed.headers.get(name) == checked.headers.get(name)


# --- Refused: 403, a short body, never a byte of the file -----------------------------------


def payload_fields(url: str) -> tuple[dict[str, object], str]:
    payload, signature = url.rsplit("/", 1)[1].split(".")
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))), signature


def with_fields(live: Live, fields: dict[str, object], signature: str) -> str:
    text = json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()
    return f"{live.stack.url}/m/{base64.urlsafe_b64encode(text).rstrip(b'=').decode()}.{signature}"


def flipped(text: str, position: int) -> str:
    return text[:position] + ("B" if text[position] == "A" else "A") + text[position + 1 :]


def media_of(stored: StoredFile, **changes: object) -> SignedMedia:
    media = signed_for(stored, inline=False, expires=int(time.time()) + 300)
    return SignedMedia(**{**media.__dict__, **changes})


def refused_urls(live: Live) -> dict[str, str]:
    data, other = live.files.data, live.files.named["notes.txt"]
    good = url_for(live, data)
    prefix, token = good.rsplit("/", 1)
    payload, signature = token.split(".")
    fields, _ = payload_fields(good)
    return {
        "payload bit": f"{prefix}/{flipped(payload, 20)}.{signature}",
        "signature bit": f"{prefix}/{payload}.{flipped(signature, 10)}",
        "another file's signature": f"{prefix}/{payload}.{url_for(live, other).split('.')[-1]}",
        "later expiry": with_fields(live, {**fields, "x": fields["x"] + 3600}, signature),  # type: ignore[operator]
        "expired": url_for(live, data, expires=int(time.time()) - 1),
        "another secret": live.stack.url + sign(media_of(data), media_key("another secret")),
        "garbage": f"{live.stack.url}/m/garbage",
        "empty": f"{live.stack.url}/m/",
        "too long": f"{live.stack.url}/m/{'a' * 5000}.{'b' * 43}",
        "dot-dot key": live.stack.url + sign(media_of(data, storage_key="../" + data.file.name)),
        "absolute key": live.stack.url
        + sign(media_of(data, storage_key=str(live.stack.nginx.media_root / data.file.name))),
    }


REFUSALS = [
    "payload bit",
    "signature bit",
    "another file's signature",
    "later expiry",
    "expired",
    "another secret",
    "garbage",
    "empty",
    "too long",
    "dot-dot key",
    "absolute key",
]


@pytest.mark.parametrize("case", REFUSALS)
def test_a_bad_url_is_403_without_the_file(live: Live, case: str):
    response = fetch(refused_urls(live)[case])
    assert_refused(response)


def assert_refused(response: requests.Response) -> None:
    assert response.status_code == 403
    assert response.content == REFUSED_BODY
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert "Content-Disposition" not in response.headers
    assert "ETag" not in response.headers


@pytest.fixture
def spare(live: Live, live_server_media: Path, django_db_blocker) -> StoredFile:
    """A file of its own, whose bytes a test may replace or remove."""
    with django_db_blocker.unblock():
        stored = StoredFile(owner=User.objects.get(username="contract-alice"), name="spare.bin")
        stored.file.save("spare.bin", ContentFile(BODY), save=False)
        stored.save()
    return stored


def test_replaced_or_missing_bytes_are_403(live: Live, spare: StoredFile):
    url = url_for(live, spare)
    assert fetch(url).status_code == 200
    path: Path = live.stack.nginx.media_root / spare.file.name
    path.write_bytes(BODY + b"more")  # new bytes under the old key
    assert_refused(fetch(url))
    os.unlink(path)
    assert_refused(fetch(url))


def test_methods_other_than_get_and_head_are_405(live: Live):
    response = requests.post(url_for(live, live.files.data), timeout=10)
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, HEAD"
    assert BODY[:64] not in response.content


# --- What nginx's access log records --------------------------------------------------------


def signed_lines(live: Live, before: int, count: int) -> list[str]:
    """The access log's signed-media lines after its first `before` lines, once there are
    `count` of them: nginx writes a line after its answer has gone, so the last may come a
    moment after it."""
    log = live.stack.nginx.run_dir / "access.log"
    deadline = time.monotonic() + 5  # written, not timed
    while True:
        lines = [line for line in log.read_text().splitlines()[before:] if " signed-media " in line]
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(0.02)


def log_length(live: Live) -> int:
    return (live.stack.nginx.run_dir / "access.log").read_text().count("\n")


def test_the_access_log_records_what_was_served_and_refused(live: Live):
    stored = live.files.data
    before = log_length(live)
    fetch(url_for(live, stored), Range="bytes=0-99")
    fetch(url_for(live, stored))
    fetch(refused_urls(live)["signature bit"])
    lines = signed_lines(live, before, 3)
    assert len(lines) == 3, lines
    assert f"file={stored.pk} verdict=served status=206 bytes=100 " in lines[0]
    assert 'range="bytes=0-99"' in lines[0]
    assert f"file={stored.pk} verdict=served status=200 bytes={SIZE} " in lines[1]
    assert "file=- verdict=signature status=403 " in lines[2]
    # No URL: until it expires, a signed URL opens its file.
    assert "/m/" not in "".join(lines)


def signed_payload(live: Live, text: bytes) -> str:
    """A URL whose payload is `text`, signed with the media key: what only a leaked key makes."""
    payload = base64.urlsafe_b64encode(text).rstrip(b"=").decode()
    signature = hmac.new(media_key(SECRET_KEY), payload.encode(), hashlib.sha256).digest()
    return (
        f"{live.stack.url}/m/{payload}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"
    )


# Each reason njs tells apart: a refused URL (refused_urls' case, or made here), its verdict.
REASONS = {
    "garbage": "malformed",
    "signature bit": "signature",
    "another secret": "signature",
    "expired": "expired",
    "dot-dot key": "unsafe-key",
    "not json": "undecodable",
    "deleted file": "missing",
    "other size": "replaced",
}


@pytest.mark.parametrize("case", list(REASONS))
def test_the_access_log_says_why_a_url_was_refused_and_never_the_url(live: Live, case: str):
    data = live.files.data
    urls = refused_urls(live)
    urls["not json"] = signed_payload(live, b"not json")
    urls["deleted file"] = live.stack.url + sign(media_of(data, storage_key="files/00/gone.bin"))
    # Another file's key: a file is there, but not of the size signed for.
    other_key = live.files.named["notes.txt"].file.name
    urls["other size"] = live.stack.url + sign(media_of(data, storage_key=other_key))
    before = log_length(live)
    assert_refused(fetch(urls[case]))
    (line,) = signed_lines(live, before, 1)
    verdict = REASONS[case]
    # The file's id once the signature holds and the payload is the format.
    file_id = "-" if verdict in ("malformed", "signature", "undecodable") else str(data.pk)
    assert f" file={file_id} verdict={verdict} status=403 " in line
    token = urls[case].rsplit("/", 1)[1]
    for part in token.split("."):
        if part:
            assert part not in line


# --- Other modes: /m/ is the app's --------------------------------------------------------------


def test_in_django_mode_nginx_passes_signed_urls_to_the_app(live: Live, live_stack):
    django_stack = live_stack("django")
    response = fetch(django_stack.url + sign(media_of(live.files.data)))
    # Answered by Django (its SecurityMiddleware's header), whatever its view says.
    assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert "signed-media" not in (django_stack.nginx.run_dir / "access.log").read_text()
