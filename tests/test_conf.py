"""downloads/conf.py: the app's DOWNLOADS_* settings, defaults and valid values, in one place."""

import dataclasses
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from downloads import conf
from downloads.conf import DEFAULTS, AppSettings, app_settings, setting_name
from downloads.delivery import MODES

ROOT = Path(__file__).resolve().parent.parent
FIELDS = [spec.name for spec in dataclasses.fields(AppSettings)]

# --- defaults ---------------------------------------------------------------------------------


def test_the_defaults_are_the_documented_ones():
    # The README's Configuration table says these; a change to one is a change to the contract.
    documented = AppSettings(
        delivery="django",
        nginx_prefix="/_protected/",
        nginx_rate_limit=0,
        s3_check_object=True,
        max_ranges=16,
        max_upload_bytes=2147483648,
        max_request_body_bytes=1048576,
        page_size=25,
        trusted_proxies=0,
        zip_max_files=1000,
        zip_max_bytes=10737418240,
        zip_deflate_max_bytes=67108864,
        log_submit_timeout_ms=100,
        log_retry_seconds=30,
        log_status_dir=DEFAULTS.log_status_dir,
    )
    assert documented == DEFAULTS
    assert DEFAULTS.log_status_dir.endswith("protected-downloads-log")


def test_a_setting_left_out_takes_its_default(tmp_path):
    # A project of its own need not set any of them: its settings module has none, and the app
    # starts, passes its checks and reads the defaults.
    (tmp_path / "bare_settings.py").write_text(
        "from tests.settings import *\n"
        "for _name in [n for n in list(globals()) if n.startswith('DOWNLOADS_')]:\n"
        "    del globals()[_name]\n"
    )
    probe = (
        "import django; django.setup()\n"
        "from django.conf import settings\n"
        "from django.core.management import call_command\n"
        "from downloads.conf import DEFAULTS, app_settings\n"
        "assert not [n for n in dir(settings) if n.startswith('DOWNLOADS_')]\n"
        "assert app_settings() == DEFAULTS, app_settings()\n"
        "call_command('check')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "bare_settings",
            "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_project_settings_fill_every_field_from_the_environment():
    # Every field is read by project/settings.py (a field added here but not there would be
    # stuck at its default), with the same default when the variable is unset.
    names = [setting_name(f) for f in FIELDS]
    probe = (
        "import json, django; django.setup(); from django.conf import settings; "
        f"print(json.dumps({{n: getattr(settings, n) for n in {names}}}))"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DOWNLOADS_")}
    env = {**clean, "DJANGO_SETTINGS_MODULE": "project.settings", "DJANGO_SECRET_KEY": "probe"}
    unset = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert unset.returncode == 0, unset.stderr
    assert json.loads(unset.stdout) == {setting_name(f): getattr(DEFAULTS, f) for f in FIELDS}
    chosen = {"DOWNLOADS_PAGE_SIZE": "7", "DOWNLOADS_S3_CHECK_OBJECT": "0"}
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env={**env, **chosen},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    read = json.loads(result.stdout)
    assert (read["DOWNLOADS_PAGE_SIZE"], read["DOWNLOADS_S3_CHECK_OBJECT"]) == (7, False)


def test_every_setting_is_in_the_readme_table():
    readme = (ROOT / "README.md").read_text()
    for name in FIELDS:
        assert f"| `{setting_name(name)}` |" in readme, setting_name(name)


def test_the_delivery_modes_are_the_ones_delivery_knows():
    assert set(conf.DELIVERY_MODES) == set(MODES)


def test_no_module_reads_the_settings_around_this_one():
    # One place for defaults and validation only holds while nothing else reads them directly.
    direct = re.compile(r"settings\.DOWNLOADS_")
    readers = [
        str(path.relative_to(ROOT))
        for folder in ("downloads", "deploy")
        for path in (ROOT / folder).rglob("*.py")
        if path.name != "conf.py"
        for line in path.read_text().splitlines()
        if direct.search(line) and not line.lstrip().startswith(("#", '"""'))
    ]
    assert readers == []


# --- invalid values: the same clear error on read, in `manage.py check` and at start -----------

INVALID = [
    ("DOWNLOADS_DELIVERY", "ftp", "downloads.E001", "is not a delivery mode"),
    ("DOWNLOADS_DELIVERY", "", "downloads.E001", "is not a delivery mode"),
    ("DOWNLOADS_DELIVERY", 1, "downloads.E001", "is not a string"),
    ("DOWNLOADS_MAX_RANGES", 0, "downloads.E002", "must be at least 1"),
    ("DOWNLOADS_MAX_RANGES", "16", "downloads.E002", "is not a whole number"),
    ("DOWNLOADS_MAX_RANGES", 16.0, "downloads.E002", "is not a whole number"),
    ("DOWNLOADS_MAX_UPLOAD_BYTES", 0, "downloads.E003", "must be at least 1"),
    ("DOWNLOADS_NGINX_PREFIX", "_protected", "downloads.E012", "starts and ends with '/'"),
    ("DOWNLOADS_NGINX_PREFIX", "/a/../b/", "downloads.E012", "starts and ends with '/'"),
    ("DOWNLOADS_NGINX_RATE_LIMIT", -1, "downloads.E013", "must be at least 0 (0: no limit)"),
    ("DOWNLOADS_ZIP_MAX_FILES", 0, "downloads.E020", "must be at least 1"),
    ("DOWNLOADS_ZIP_MAX_BYTES", 0, "downloads.E021", "must be at least 1"),
    ("DOWNLOADS_ZIP_DEFLATE_MAX_BYTES", -1, "downloads.E022", "must be at least 0"),
    ("DOWNLOADS_LOG_SUBMIT_TIMEOUT_MS", -1, "downloads.E040", "must be at least 0"),
    ("DOWNLOADS_LOG_RETRY_SECONDS", -1, "downloads.E041", "must be at least 0"),
    ("DOWNLOADS_MAX_REQUEST_BODY_BYTES", 0, "downloads.E060", "must be at least 1"),
    ("DOWNLOADS_PAGE_SIZE", 0, "downloads.E061", "must be at least 1"),
    # True is an int to Python; as a page size it would silently be 1.
    ("DOWNLOADS_PAGE_SIZE", True, "downloads.E061", "is not a whole number"),
    ("DOWNLOADS_TRUSTED_PROXIES", -1, "downloads.E062", "must be at least 0"),
    ("DOWNLOADS_S3_CHECK_OBJECT", "no", "downloads.E063", "is not True or False"),
    ("DOWNLOADS_S3_CHECK_OBJECT", 0, "downloads.E063", "is not True or False"),
    ("DOWNLOADS_LOG_STATUS_DIR", "", "downloads.E064", "must name a directory"),
    ("DOWNLOADS_LOG_STATUS_DIR", None, "downloads.E064", "is not a string"),
]


@pytest.mark.parametrize(("setting", "value", "check_id", "words"), INVALID)
def test_a_bad_value_is_refused_on_read(settings, setting, value, check_id, words):
    setattr(settings, setting, value)
    with pytest.raises(ImproperlyConfigured) as refused:
        app_settings()
    message = str(refused.value)
    assert message.startswith(f"{setting}={value!r} ")
    assert words in message
    assert check_id in message


@pytest.mark.parametrize(("setting", "value", "check_id", "words"), INVALID)
def test_a_bad_value_fails_the_system_check(settings, setting, value, check_id, words):
    setattr(settings, setting, value)
    with pytest.raises(SystemCheckError) as failure:
        call_command("check")
    report = str(failure.value)
    assert f"({check_id}) {setting}={value!r} " in report
    assert words in report


def test_every_bad_value_is_named_at_once(settings):
    settings.DOWNLOADS_PAGE_SIZE = 0
    settings.DOWNLOADS_DELIVERY = "ftp"
    with pytest.raises(SystemCheckError) as failure:
        call_command("check")
    assert "downloads.E061" in str(failure.value)
    assert "downloads.E001" in str(failure.value)
    assert "Use one of: django, nginx, s3." in str(failure.value)


def test_settings_that_do_not_fit_together_fail_the_check_only(settings):
    # Each value is fine, so the app reads them (tests narrow one limit on purpose); `manage.py
    # check` says that a zip of the most files allowed would not fit in a request body.
    settings.DOWNLOADS_MAX_REQUEST_BODY_BYTES = 1000
    assert app_settings().max_request_body_bytes == 1000
    with pytest.raises(SystemCheckError, match=r"downloads\.E030") as failure:
        call_command("check")
    assert "Set it to at least 46096." in str(failure.value)


def start(*command: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DOWNLOADS_", "GUNICORN_"))}
    return subprocess.run(
        command,
        cwd=ROOT,
        env={
            **clean,
            "DJANGO_SETTINGS_MODULE": "project.settings",
            "DJANGO_SECRET_KEY": "k" * 50,
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_bad_value_stops_any_command_at_start():
    result = start(sys.executable, "manage.py", "migrate", "--check", DOWNLOADS_PAGE_SIZE="0")
    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line == (
        "django.core.exceptions.ImproperlyConfigured: "
        "DOWNLOADS_PAGE_SIZE=0 must be at least 1. (downloads.E061)"
    )


# --- read fresh where settings change ---------------------------------------------------------


def test_override_settings_is_honoured_and_undone():
    before = app_settings()
    assert app_settings() is before  # read once, not on every call
    with override_settings(DOWNLOADS_MAX_RANGES=3, DOWNLOADS_DELIVERY="nginx"):
        assert (app_settings().max_ranges, app_settings().delivery) == (3, "nginx")
    assert app_settings() == before


def test_the_pytest_settings_fixture_is_honoured(settings):
    settings.DOWNLOADS_PAGE_SIZE = 2
    assert app_settings().page_size == 2


def test_the_view_cannot_be_changed_behind_the_settings():
    with pytest.raises(dataclasses.FrozenInstanceError):
        app_settings().max_ranges = 1000  # type: ignore[misc]


@override_settings(DOWNLOADS_MAX_RANGES=2)
def test_a_page_served_after_an_override_sees_it(alice_client, make_file):
    # Three ranges past a limit of two: the whole file (200), not a multipart answer (206).
    stored = make_file(b"0123456789")
    response = alice_client.get(f"/files/{stored.pk}/download", HTTP_RANGE="bytes=0-0,2-2,4-4")
    assert response.status_code == 200
