"""Delivery and storage settings: chosen by environment variables alone, and inconsistent
combinations stopped by the system checks (`manage.py check`), never served around."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from harness.storages import with_default_storage

ROOT = Path(__file__).resolve().parent.parent

# Prints what the project's settings make of the environment.
PROBE = """
import json, django
django.setup()
from django.conf import settings
from django.core.files.storage import storages
storage = storages["default"]
config = getattr(storage, "client_config", None)
print(json.dumps({
    "class": f"{type(storage).__module__}.{type(storage).__name__}",
    "bucket": getattr(storage, "bucket_name", None),
    "endpoint": getattr(storage, "endpoint_url", None),
    "region": getattr(storage, "region_name", None),
    "signature": getattr(config, "signature_version", None),
    "addressing": (getattr(config, "s3", None) or {}).get("addressing_style"),
    "expire": getattr(storage, "querystring_expire", None),
    "acl": getattr(storage, "default_acl", "unset"),
    "delivery": settings.DOWNLOADS_DELIVERY,
    "prefix": settings.DOWNLOADS_NGINX_PREFIX,
    "rate": settings.DOWNLOADS_NGINX_RATE_LIMIT,
}))
"""


def probe(**env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DOWNLOADS_"))}
    return subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env={
            **clean,
            "DJANGO_SETTINGS_MODULE": "project.settings",
            "DJANGO_SECRET_KEY": "probe",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_defaults_are_local_files_sent_by_django():
    result = probe()
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found["class"] == "django.core.files.storage.filesystem.FileSystemStorage"
    assert (found["delivery"], found["prefix"], found["rate"]) == ("django", "/_protected/", 0)


def test_a_bucket_name_alone_switches_to_s3_with_sigv4():
    result = probe(
        AWS_STORAGE_BUCKET_NAME="files-bucket",
        AWS_S3_ENDPOINT_URL="https://objects.example.net",
        AWS_S3_REGION_NAME="eu-central-1",
        AWS_S3_ADDRESSING_STYLE="path",
        AWS_QUERYSTRING_EXPIRE="90",
        DOWNLOADS_DELIVERY="s3",
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "class": "storages.backends.s3.S3Storage",
        "bucket": "files-bucket",
        "endpoint": "https://objects.example.net",
        "region": "eu-central-1",
        "signature": "s3v4",
        "addressing": "path",
        "expire": 90,
        "acl": None,
        "delivery": "s3",
        "prefix": "/_protected/",
        "rate": 0,
    }


def test_nginx_settings_from_the_environment():
    result = probe(
        DOWNLOADS_DELIVERY="nginx",
        DOWNLOADS_NGINX_PREFIX="/_bytes/",
        DOWNLOADS_NGINX_RATE_LIMIT="1048576",
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert (found["delivery"], found["prefix"], found["rate"]) == ("nginx", "/_bytes/", 1048576)


def test_an_unknown_storage_stops_the_start():
    result = probe(DOWNLOADS_STORAGE="ftp")
    assert result.returncode != 0
    assert "DOWNLOADS_STORAGE='ftp' is not local or s3" in result.stderr


# --- system checks -----------------------------------------------------------------------------


def s3_storage(**options: object) -> dict:
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": "files-bucket",
            "signature_version": "s3v4",
            "querystring_expire": 300,
            **options,
        },
    }


def use_storage(settings, default: dict) -> None:
    settings.STORAGES = with_default_storage(default)


@pytest.mark.parametrize("mode", ["django", "nginx", "s3"])
def test_every_mode_passes_with_s3_storage(settings, mode):
    use_storage(settings, s3_storage())
    settings.DOWNLOADS_DELIVERY = mode
    call_command("check")


@pytest.mark.parametrize("mode", ["django", "nginx"])
def test_local_modes_pass_with_local_storage(settings, mode):
    settings.DOWNLOADS_DELIVERY = mode
    call_command("check")


@pytest.mark.parametrize(
    ("change", "check_id", "words"),
    [
        ({"DOWNLOADS_DELIVERY": "s3"}, "downloads.E010", "needs the S3 storage"),
        ({"DOWNLOADS_NGINX_PREFIX": "_protected"}, "downloads.E012", "starts and ends with '/'"),
        ({"DOWNLOADS_NGINX_PREFIX": "/a b/"}, "downloads.E012", "DOWNLOADS_NGINX_PREFIX"),
        ({"DOWNLOADS_NGINX_RATE_LIMIT": -1}, "downloads.E013", "DOWNLOADS_NGINX_RATE_LIMIT"),
    ],
)
def test_inconsistent_delivery_settings_fail_the_check(settings, change, check_id, words):
    for name, value in change.items():
        setattr(settings, name, value)
    with pytest.raises(SystemCheckError, match=check_id) as failure:
        call_command("check")
    assert words in str(failure.value)


def test_nginx_mode_needs_a_storage_it_can_reach(settings):
    use_storage(settings, {"BACKEND": "django.core.files.storage.InMemoryStorage"})
    settings.DOWNLOADS_DELIVERY = "nginx"
    with pytest.raises(SystemCheckError, match=r"downloads\.E011"):
        call_command("check")


@pytest.mark.parametrize(
    ("options", "check_id"),
    [
        ({"bucket_name": ""}, "downloads.E014"),
        ({"signature_version": "s3"}, "downloads.E015"),
        ({"querystring_expire": 0}, "downloads.E016"),
        ({"querystring_expire": 8 * 24 * 3600}, "downloads.E016"),
    ],
)
def test_inconsistent_s3_settings_fail_the_check(settings, options, check_id):
    use_storage(settings, s3_storage(**options))
    with pytest.raises(SystemCheckError, match=check_id):
        call_command("check")
