"""Signed media URLs in the rendered nginx configuration: njs and /m/ only in delivery mode
"nginx" with local files, the media keys in a file of their own that only its owner reads, and
rotation through DJANGO_SECRET_KEY_FALLBACKS."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from deploy import media_keys
from deploy.render_nginx import NJS_MODULE, from_settings, render
from downloads.signedmedia import media_key
from harness.storages import local_storage, with_default_storage
from tests.test_settings_delivery import s3_storage

ROOT = Path(__file__).resolve().parent.parent
SIGNED_MEDIA_LINES = (
    "js_content signed_media.serve;",
    "js_import",
    "load_module " + str(NJS_MODULE),
)


def rendered(settings, tmp_path: Path, mode: str, storage: dict, **overrides: object) -> str:
    settings.DOWNLOADS_DELIVERY = mode
    settings.STORAGES = with_default_storage(storage)
    return render(
        from_settings(listen="80", upstream="127.0.0.1:8000", run_dir=tmp_path, **overrides)
    )


def test_nginx_mode_with_local_files_checks_signed_urls_itself(settings, tmp_path):
    text = rendered(settings, tmp_path, "nginx", local_storage(tmp_path / "media"))
    for line in SIGNED_MEDIA_LINES:
        assert line in text
    assert f"include {media_keys.DEFAULT_PATH};" in text
    assert "location /m/ {" in text
    assert "location /_protected/signed/file/ {" in text
    # Its two file locations are internal, like the X-Accel ones.
    blocks = [block for block in text.split("location ") if block.startswith("/_protected/")]
    assert len(blocks) == 4
    assert all("internal;" in block.split("}")[0] for block in blocks)
    assert "#if-signed-media" not in text
    assert "#end-" not in text


@pytest.mark.parametrize(
    ("mode", "storage"),
    [("django", "local"), ("s3", "s3"), ("nginx", "s3"), ("django", "s3")],
)
def test_other_modes_send_signed_urls_to_the_app(settings, tmp_path, mode, storage):
    text = rendered(
        settings,
        tmp_path,
        mode,
        local_storage(tmp_path / "media") if storage == "local" else s3_storage(),
    )
    # No location of its own: /m/ is proxied by `location /` like any other URL.
    assert "location /m/" not in text
    assert "js_" not in text
    assert "ngx_http_js_module" not in text
    assert "signed_media" not in text


def test_nginx_mode_without_njs_is_refused_not_rendered_without_it(settings, tmp_path):
    with pytest.raises(ValueError, match="libnginx-mod-http-js"):
        rendered(
            settings,
            tmp_path,
            "nginx",
            local_storage(tmp_path),
            njs_module=tmp_path / "missing.so",
        )


def test_the_keys_file_is_written_for_its_owner_alone(tmp_path):
    (tmp_path / "etc").mkdir()
    path = tmp_path / "etc" / "keys.conf"
    path.write_text("an older file, readable by all\n")
    path.chmod(0o644)
    media_keys.write(path, [media_key("new"), media_key("old")])
    assert path.stat().st_mode & 0o777 == 0o600
    text = path.read_text()
    assert f'js_var $signed_media_keys "{media_key("new").hex()} {media_key("old").hex()}";' in text
    assert "new" not in text.split('"')[1]  # the keys, never a secret
    assert [entry.name for entry in path.parent.iterdir()] == ["keys.conf"]  # no temporary left


def run_render(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("DJANGO_")}
    environment.update(
        {
            "DJANGO_SETTINGS_MODULE": "project.settings",
            "MEDIA_ROOT": str(tmp_path / "media"),
            "DOWNLOADS_DELIVERY": "nginx",
            **env,
        }
    )
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "deploy.render_nginx",
            "--run-dir",
            str(tmp_path / "run"),
            "--resolver",
            "127.0.0.53",
            "--media-keys",
            str(tmp_path / "keys.conf"),
        ],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_command_line_writes_the_keys_of_the_secret_and_its_fallbacks(tmp_path):
    result = run_render(
        tmp_path,
        DJANGO_SECRET_KEY="the new secret",
        DJANGO_SECRET_KEY_FALLBACKS="the old secret",
    )
    assert result.returncode == 0, result.stderr
    assert f"include {tmp_path / 'keys.conf'};" in result.stdout
    keys = (tmp_path / "keys.conf").read_text()
    assert f'"{media_key("the new secret").hex()} {media_key("the old secret").hex()}"' in keys
    assert (tmp_path / "keys.conf").stat().st_mode & 0o777 == 0o600


def test_the_command_line_never_writes_keys_without_the_secret(tmp_path):
    result = run_render(tmp_path)
    assert result.returncode != 0
    assert "set DJANGO_SECRET_KEY" in result.stderr
    assert not (tmp_path / "keys.conf").exists()
    assert result.stdout == ""


def test_the_headers_django_adds_to_a_download_come_from_its_settings(settings, tmp_path):
    settings.X_FRAME_OPTIONS = "SAMEORIGIN"
    settings.SECURE_REFERRER_POLICY = ("same-origin", "strict-origin")
    text = rendered(settings, tmp_path, "nginx", local_storage(tmp_path / "media"))
    assert text.count("add_header X-Frame-Options SAMEORIGIN;") == 2
    assert text.count("add_header Referrer-Policy same-origin,strict-origin;") == 2
