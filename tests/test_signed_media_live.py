"""The /m/ contract in django mode through real servers: gunicorn alone (`make run`) and the
rendered nginx in front of it (which proxies /m/ to the app in django mode). The URL is taken
from the file page the server renders for a logged-in user; every refusal is a 403 with no
file byte, whoever asks."""

import re
import time
from html import unescape
from typing import Any

import pytest
import requests
from django.core.files.base import ContentFile
from django.test import override_settings

from downloads.signedmedia import URL_PREFIX, SignedMedia, media_key, sign, signed_for
from downloads.views_media import REFUSED_BODY
from harness.login import login
from harness.storages import local_storage, with_default_storage
from tests.livefiles import NAMED, PASSWORD, USER, Files, _stored
from tests.servers import SECRET_KEY

pytestmark = pytest.mark.integration

PNG = NAMED["pic.png"]
TIMEOUT = 10  # answered, not hung


class Target:
    def __init__(self, url: str, session: requests.Session, files: Files) -> None:
        self.url, self.session, self.files = url, session, files
        self.anonymous = requests.Session()

    def get(self, path: str, **headers: str) -> requests.Response:
        return self.anonymous.get(self.url + path, headers=headers, timeout=TIMEOUT)


@pytest.fixture(scope="module", params=["gunicorn", "nginx"])
def target(request, live_stack, live_files) -> Target:
    # The server first (it sets the test database up), then the files and their user.
    if request.param == "gunicorn":
        url = request.getfixturevalue("gunicorn_server").url
    else:
        url = live_stack("django").url
    files = live_files("local")
    return Target(url, login(url, USER, PASSWORD), files)


def page_url(target: Target, name: str = "pic.png") -> str:
    stored = target.files.named[name]
    page = target.session.get(target.url + stored.get_absolute_url(), timeout=TIMEOUT)
    assert page.status_code == 200
    (src,) = re.findall(r'<img[^>]* src="([^"]+)"', page.text)
    return unescape(src)


def signed(stored: Any, **changes: Any) -> str:
    media = signed_for(stored, inline=True, expires=int(time.time()) + 300)
    return sign(SignedMedia(**{**media.__dict__, **changes}), media_key(SECRET_KEY))


def assert_refused(response: requests.Response) -> None:
    assert response.status_code == 403
    assert response.content == REFUSED_BODY
    assert response.headers["Cache-Control"] == "private, no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_the_page_url_serves_the_image_inline_with_the_contract(target):
    url = page_url(target)
    assert url.startswith(URL_PREFIX)
    stored = target.files.named["pic.png"]
    # No cookie at all: the URL alone opens it.
    answer = target.get(url)
    assert answer.status_code == 200
    assert answer.content == PNG
    assert answer.headers["Content-Type"] == "image/png"
    assert answer.headers["Content-Disposition"] == 'inline; filename="pic.png"'
    assert answer.headers["Content-Security-Policy"] == "sandbox"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["ETag"] == stored.etag
    assert answer.headers["Content-Length"] == str(len(PNG))
    assert "Set-Cookie" not in answer.headers
    ranged = target.get(url, Range="bytes=2-5")
    assert (ranged.status_code, ranged.content) == (206, PNG[2:6])
    assert ranged.headers["Content-Range"] == f"bytes 2-5/{len(PNG)}"
    several = target.get(url, Range="bytes=0-1,4-5")
    assert several.status_code == 206
    assert several.headers["Content-Type"].startswith("multipart/byteranges; boundary=")
    assert target.get(url, **{"If-None-Match": stored.etag}).status_code == 304
    head = target.anonymous.head(target.url + url, timeout=TIMEOUT)
    assert (head.status_code, head.content) == (200, b"")


def test_every_refusal_is_a_403_with_no_bytes(target):
    stored = target.files.named["pic.png"]
    other = target.files.named["notes.txt"]
    token = signed(stored).removeprefix(URL_PREFIX)
    payload, signature = token.split(".")
    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    expires = int(time.time()) + 300
    later = signed_for(stored, inline=True, expires=expires + 3600).payload()
    refused = {
        "flipped bit": f"{URL_PREFIX}{payload}.{flipped}",
        "other file": f"{URL_PREFIX}{signed(other).removeprefix(URL_PREFIX).split('.')[0]}."
        f"{signature}",
        "later expiry": f"{URL_PREFIX}{later}.{signature}",
        "expired": signed(stored, expires=int(time.time()) - 1),
        "foreign key": sign(signed_for(stored, inline=True, expires=expires), media_key("x")),
        "garbage": URL_PREFIX + "not-a-token",
    }
    for why, url in refused.items():
        response = target.get(url)
        assert response.status_code == 403, why
        assert_refused(response)
        assert PNG not in response.content
    # A path out of /m/: nginx refuses it itself (400), gunicorn reaches the view (403).
    traversal = target.get(URL_PREFIX + "..%2F..%2Fsettings.py")
    assert traversal.status_code in (400, 403)
    assert b"SECRET" not in traversal.content


def test_replaced_bytes_and_deleted_files_end_their_urls(target, django_db_blocker, live_media):
    with (
        django_db_blocker.unblock(),
        override_settings(STORAGES=with_default_storage(local_storage(live_media))),
    ):
        owner = target.files.named["pic.png"].owner
        replaced = _stored("replaced.png", PNG, owner)
        deleted = _stored("deleted.png", PNG, owner)
    old, gone = signed(replaced), signed(deleted)
    assert target.get(old).content == PNG
    with (
        django_db_blocker.unblock(),
        override_settings(STORAGES=with_default_storage(local_storage(live_media))),
    ):
        replaced.file.save("replaced.png", ContentFile(PNG[::-1]), save=False)
        replaced.save()
        deleted.delete()
    assert_refused(target.get(old))
    assert_refused(target.get(gone))
    assert target.get(signed(replaced)).content == PNG[::-1]


def test_the_checked_download_stays_checked(target):
    stored = target.files.named["pic.png"]
    anonymous = target.anonymous.get(
        target.url + stored.get_download_url(), allow_redirects=False, timeout=TIMEOUT
    )
    assert anonymous.status_code == 302  # to the login page, as before
    assert target.files.foreign.get_download_url() not in page_url(target)
