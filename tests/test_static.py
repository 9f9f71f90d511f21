"""Public static files: collectstatic with the compressed manifest storage, served by WhiteNoise.

In-process, the test settings' plain storage is swapped for the project's real one and a fresh
client (hence a fresh WhiteNoise middleware, which scans STATIC_ROOT when it starts) serves the
result. Live, the project's gunicorn serves what the project's own collectstatic produced.
"""

import gzip
import hashlib
import json
from pathlib import Path

import brotli
import pytest
import requests
from django.conf import settings as django_settings
from django.core.management import call_command
from django.test import Client, override_settings

from harness.gunicorn import Gunicorn

IMMUTABLE = "max-age=315360000, public, immutable"
SHORT = "max-age=60, public"
MANIFEST_STORAGE = "whitenoise.storage.CompressedManifestStaticFilesStorage"


def hashed_name(static_root: Path, name: str) -> str:
    manifest = json.loads((static_root / "staticfiles.json").read_text())
    return manifest["paths"][name]


@pytest.fixture(scope="module")
def collected(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One collectstatic for the module, run in-process with the project's real storage."""
    static_root = tmp_path_factory.mktemp("static")
    with override_settings(STATIC_ROOT=static_root, STORAGES=storages_with_manifest()):
        call_command("collectstatic", interactive=False, verbosity=0)
    return static_root


def storages_with_manifest() -> dict:
    return {**django_settings.STORAGES, "staticfiles": {"BACKEND": MANIFEST_STORAGE}}


@pytest.fixture
def served(collected: Path, settings) -> Client:
    settings.STATIC_ROOT = collected
    settings.STORAGES = storages_with_manifest()
    return Client()  # a new handler: its WhiteNoise reads this STATIC_ROOT


def test_collectstatic_writes_hashed_and_compressed_files(collected):
    hashed = hashed_name(collected, "css/app.css")
    content = (collected / hashed).read_bytes()
    # The name carries the content's hash: new bytes, new name, so caching for ever is safe.
    assert hashed == f"css/app.{hashlib.md5(content).hexdigest()[:12]}.css"  # noqa: S324
    assert content == (collected / "css" / "app.css").read_bytes()
    assert gzip.decompress((collected / f"{hashed}.gz").read_bytes()) == content
    assert brotli.decompress((collected / f"{hashed}.br").read_bytes()) == content
    assert (collected / "admin" / "css" / "base.css").exists()


def test_hashed_asset_is_cached_for_ever(served, collected):
    hashed = hashed_name(collected, "css/app.css")
    response = served.get(f"/static/{hashed}")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == (collected / hashed).read_bytes()
    assert response["Cache-Control"] == IMMUTABLE
    assert response["Content-Type"].startswith("text/css")


@pytest.mark.parametrize("encoding", ["br", "gzip"])
def test_compressed_variants(served, collected, encoding):
    hashed = hashed_name(collected, "css/app.css")
    response = served.get(f"/static/{hashed}", headers={"Accept-Encoding": f"{encoding}"})
    assert response.status_code == 200
    assert response["Content-Encoding"] == encoding
    assert response["Vary"] == "Accept-Encoding"
    suffix = {"br": ".br", "gzip": ".gz"}[encoding]
    assert b"".join(response.streaming_content) == (collected / f"{hashed}{suffix}").read_bytes()


def test_unhashed_name_gets_a_short_cache(served):
    response = served.get("/static/css/app.css")
    assert response.status_code == 200
    assert response["Cache-Control"] == SHORT


@pytest.mark.django_db
def test_pages_link_the_hashed_asset(served, collected):
    page = served.get("/accounts/login/")
    assert page.status_code == 200
    assert f'href="/static/{hashed_name(collected, "css/app.css")}"' in page.text


def test_a_missing_static_file_is_a_404(served):
    assert served.get("/static/css/nothing.css").status_code == 404


# --- the live server --------------------------------------------------------------------------


@pytest.mark.integration
def test_live_hashed_asset_with_brotli(gunicorn_server: Gunicorn, live_static: Path):
    hashed = hashed_name(live_static, "css/app.css")
    url = f"{gunicorn_server.url}/static/{hashed}"

    plain = requests.get(url, headers={"Accept-Encoding": "identity"}, timeout=10)
    assert plain.status_code == 200
    assert plain.content == (live_static / hashed).read_bytes()
    assert plain.headers["Cache-Control"] == IMMUTABLE
    assert "Content-Encoding" not in plain.headers

    # Undecoded: the bytes on the wire are the brotli file collectstatic wrote.
    with requests.get(url, headers={"Accept-Encoding": "br"}, timeout=10, stream=True) as br:
        assert br.status_code == 200
        assert br.headers["Content-Encoding"] == "br"
        assert br.headers["Cache-Control"] == IMMUTABLE
        assert br.raw.read(decode_content=False) == (live_static / f"{hashed}.br").read_bytes()


@pytest.mark.integration
def test_live_unhashed_asset_gets_a_short_cache(gunicorn_server: Gunicorn):
    response = requests.get(f"{gunicorn_server.url}/static/css/app.css", timeout=10)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == SHORT


@pytest.mark.integration
def test_live_media_is_a_404(gunicorn_server: Gunicorn, live_media: Path):
    # Bytes that really are in the server's MEDIA_ROOT: still no URL reaches them.
    key = "files/ab/ab" + "0" * 30
    target = live_media / key
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(b"private bytes")
    try:
        for path in (f"/media/{key}", "/media/", "/media/anything"):
            response = requests.get(f"{gunicorn_server.url}{path}", timeout=10)
            assert response.status_code == 404, path
            assert b"private bytes" not in response.content
    finally:
        target.unlink()
