"""nginx checks signed media URLs with no app behind it at all: the known-answer vector of
tests/test_signedmedia.py computed by njs, and the proof that the app is never asked.

One nginx, rendered for delivery mode "nginx" with Debian's njs module, whose upstream is a
loopback port nothing listens on: any request it passed to the app would be a 502. It holds two
media keys, as after a rotation: a new one, and the known-answer key as the former one.
"""

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from django.utils.http import http_date

from downloads.signedmedia import URL_PREFIX, SignedMedia, media_key, sign
from harness.nginx import Nginx
from harness.process import free_port
from tests.test_signedmedia import KNOWN_KEY_HEX, KNOWN_SIGNATURE, MEDIA

pytestmark = pytest.mark.integration

KNOWN_KEY = bytes.fromhex(KNOWN_KEY_HEX)
NEW_KEY = media_key("the secret after a rotation")
CONTENT = bytes(range(256)) * (MEDIA.size // 256)


@pytest.fixture(scope="module")
def nginx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nginx]:
    media = tmp_path_factory.mktemp("alone-media")
    (media / MEDIA.storage_key).parent.mkdir(parents=True)
    (media / MEDIA.storage_key).write_bytes(CONTENT)
    server = Nginx(
        upstream_port=free_port(),  # nothing listens there: no app
        media_root=media,
        static_root=media,
        run_dir=tmp_path_factory.mktemp("alone-nginx"),
        signed_media=True,
        signing_keys=[NEW_KEY, KNOWN_KEY],
    ).start()
    yield server
    server.stop()


def fresh(key: bytes = KNOWN_KEY) -> str:
    return sign(SignedMedia(**{**MEDIA.__dict__, "expires": int(time.time()) + 300}), key)


def get(nginx: Nginx, path: str) -> requests.Response:
    return requests.get(nginx.url + path, timeout=10)


def _log_lines(nginx: Nginx) -> list[str]:
    path = nginx.run_dir / "access.log"
    return path.read_text().splitlines() if path.exists() else []


def verdict_of(nginx: Nginx, path: str) -> tuple[int, str]:
    """The status of GET `path`, and the verdict nginx logged for it: nginx writes its log line
    after the answer has gone, so the client may read the answer first (wait, bounded)."""
    logged = len(_log_lines(nginx))
    status = get(nginx, path).status_code
    deadline = time.monotonic() + 5
    while len(lines := _log_lines(nginx)) <= logged and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(lines) > logged, "nginx logged nothing for the request"
    return status, lines[-1].split(" verdict=")[1].split(" ")[0]


def test_njs_computes_the_known_answer(nginx: Nginx):
    known = sign(MEDIA, KNOWN_KEY)
    assert known.endswith("." + KNOWN_SIGNATURE)
    # The vector's URL expired long ago: refused, but for that reason only, which njs reaches
    # after the signature it computed matched the known one.
    assert verdict_of(nginx, known) == (403, "expired")
    flipped = known[:-1] + ("A" if known[-1] != "A" else "B")
    assert verdict_of(nginx, flipped) == (403, "signature")


@pytest.mark.parametrize("key", [NEW_KEY, KNOWN_KEY], ids=["current key", "former key"])
def test_a_url_signed_with_either_key_is_served_with_no_app_behind(nginx: Nginx, key: bytes):
    response = get(nginx, fresh(key))
    assert response.status_code == 200
    assert response.content == CONTENT
    assert response.headers["Content-Type"] == MEDIA.content_type
    assert response.headers["Content-Disposition"] == MEDIA.content_disposition
    assert response.headers["Content-Security-Policy"] == "sandbox"
    assert response.headers["ETag"] == f'"{MEDIA.sha256}"'
    assert response.headers["Last-Modified"] == http_date(MEDIA.last_modified)
    assert response.headers["Cache-Control"] == "private, no-cache"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_the_app_is_never_asked(nginx: Nginx):
    # Everything else goes to the app, which is not there; signed URLs never do.
    assert get(nginx, "/").status_code == 502
    served = get(nginx, fresh())
    ranged = requests.get(nginx.url + fresh(), headers={"Range": "bytes=5-9"}, timeout=10)
    assert (served.status_code, ranged.status_code) == (200, 206)
    assert ranged.content == CONTENT[5:10]
    assert get(nginx, URL_PREFIX + "garbage").status_code == 403


def test_a_key_from_another_secret_is_refused(nginx: Nginx):
    assert verdict_of(nginx, fresh(media_key("another secret"))) == (403, "signature")


def test_the_key_file_is_for_nginx_alone(nginx: Nginx):
    keys: Path = nginx.media_keys_path
    assert keys.stat().st_mode & 0o777 == 0o600
    text = keys.read_text()
    assert f'"{NEW_KEY.hex()} {KNOWN_KEY_HEX}"' in text
    # The rendered configuration includes the file; it never holds a key itself.
    assert KNOWN_KEY_HEX not in nginx.config_path.read_text()
