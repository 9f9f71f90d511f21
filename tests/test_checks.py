"""Configuration mistakes stop the app at start, with a message that says what to fix."""

from datetime import timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from project.env import env_bool, env_int, env_list, env_str
from tests.bareenv import manage

# --- system checks (manage.py check) ----------------------------------------------------------


def test_the_shipped_configuration_passes(settings):
    call_command("check")


@pytest.mark.parametrize(
    ("setting", "value", "check_id"),
    [
        ("DOWNLOADS_DELIVERY", "ftp", "downloads.E001"),
        ("DOWNLOADS_DELIVERY", "", "downloads.E001"),
        ("DOWNLOADS_MAX_RANGES", 0, "downloads.E002"),
        ("DOWNLOADS_MAX_RANGES", -3, "downloads.E002"),
        ("DOWNLOADS_MAX_UPLOAD_BYTES", 0, "downloads.E003"),
        ("DOWNLOADS_MAX_REQUEST_BODY_BYTES", 1000, "downloads.E030"),
        ("AXES_FAILURE_LIMIT", 0, "downloads.E031"),
        ("AXES_COOLOFF_TIME", timedelta(seconds=30), "downloads.E032"),
        ("DOWNLOADS_LOG_SUBMIT_TIMEOUT_MS", -1, "downloads.E040"),
        ("DOWNLOADS_LOG_RETRY_SECONDS", -1, "downloads.E041"),
    ],
)
def test_check_errors(settings, setting, value, check_id):
    setattr(settings, setting, value)
    with pytest.raises(SystemCheckError, match=check_id) as failure:
        call_command("check")
    assert setting in str(failure.value)


def test_an_unknown_delivery_names_the_known_ones(settings):
    settings.DOWNLOADS_DELIVERY = "ftp"
    with pytest.raises(SystemCheckError, match="Use one of: django"):
        call_command("check")


# --- the environment readers ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1", True),
        ("true", True),
        (" Yes ", True),
        ("ON", True),
        ("0", False),
        ("false", False),
        ("no", False),
        ("off", False),
        ("", False),
    ],
)
def test_env_bool_reads(monkeypatch, raw, expected):
    monkeypatch.setenv("X_FLAG", raw)
    assert env_bool("X_FLAG", default=not expected) is expected


@pytest.mark.parametrize("raw", ["maybe", "2", "tru", "enabled", "1 0"])
def test_env_bool_rejects_garbage(monkeypatch, raw):
    monkeypatch.setenv("X_FLAG", raw)
    with pytest.raises(ImproperlyConfigured, match="X_FLAG"):
        env_bool("X_FLAG")


def test_env_bool_default(monkeypatch):
    monkeypatch.delenv("X_FLAG", raising=False)
    assert env_bool("X_FLAG", default=True) is True
    assert env_bool("X_FLAG") is False


@pytest.mark.parametrize(("raw", "expected"), [("42", 42), (" 7 ", 7), ("-1", -1), ("", 16)])
def test_env_int_reads(monkeypatch, raw, expected):
    monkeypatch.setenv("X_NUMBER", raw)
    assert env_int("X_NUMBER", 16) == expected


@pytest.mark.parametrize("raw", ["ten", "1.5", "12abc", "0x10", "1e3"])
def test_env_int_rejects_garbage(monkeypatch, raw):
    monkeypatch.setenv("X_NUMBER", raw)
    with pytest.raises(ImproperlyConfigured, match="X_NUMBER"):
        env_int("X_NUMBER", 1)


def test_env_list_and_str(monkeypatch):
    monkeypatch.setenv("X_LIST", " a.example, ,b.example ,")
    assert env_list("X_LIST", ["default"]) == ["a.example", "b.example"]
    monkeypatch.setenv("X_LIST", "")
    assert env_list("X_LIST", ["default"]) == []
    monkeypatch.delenv("X_LIST")
    assert env_list("X_LIST", ["default"]) == ["default"]
    assert env_str("X_LIST", "fallback") == "fallback"


# --- starting the project with a bare environment ---------------------------------------------


def test_no_secret_key_without_debug_refuses_to_start():
    result = manage("check")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "Set DJANGO_SECRET_KEY" in result.stderr


def test_debug_brings_a_development_key():
    result = manage("check", DJANGO_DEBUG="1")
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_garbage_in_an_environment_variable_refuses_to_start():
    result = manage("check", DJANGO_SECRET_KEY="k" * 50, DOWNLOADS_MAX_RANGES="many")
    assert result.returncode != 0
    assert "DOWNLOADS_MAX_RANGES='many' is not a whole number" in result.stderr


def test_manage_py_check_reports_a_bad_delivery_mode():
    result = manage("check", DJANGO_SECRET_KEY="k" * 50, DOWNLOADS_DELIVERY="ftp")
    assert result.returncode != 0
    assert "downloads.E001" in result.stderr
