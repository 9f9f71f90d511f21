"""The `default` database as project/database.py builds it from the environment."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from project.database import POOL_HEADROOM, database_settings

BASE = Path("/srv/app")
PG = "postgres://app:secret@db.internal:5432/files"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in (
        "DATABASE_URL",
        "DATABASE_CONN_MAX_AGE",
        "DATABASE_CONNECT_TIMEOUT",
        "DATABASE_POOL_SIZE",
        "DATABASE_POOL_TIMEOUT",
        "DATABASE_STATEMENT_TIMEOUT",
        "GUNICORN_THREADS",
    ):
        monkeypatch.delenv(name, raising=False)


def test_sqlite_keeps_persistent_connections_and_wal():
    database = database_settings(BASE)
    assert database["ENGINE"] == "django.db.backends.sqlite3"
    assert database["NAME"] == "/srv/app/db.sqlite3"
    assert database["CONN_MAX_AGE"] == 600
    assert "pool" not in database["OPTIONS"]
    assert "journal_mode=WAL" in database["OPTIONS"]["init_command"]


def test_postgresql_gets_a_pool_sized_by_the_threads_with_deadlines(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", PG)
    monkeypatch.setenv("GUNICORN_THREADS", "4")
    database = database_settings(BASE)
    assert database["ENGINE"] == "django.db.backends.postgresql"
    # Django refuses a pool with persistent connections.
    assert database["CONN_MAX_AGE"] == 0
    assert database["CONN_HEALTH_CHECKS"] is True
    assert database["OPTIONS"]["connect_timeout"] == 5
    pool = database["OPTIONS"]["pool"]
    assert pool["max_size"] == 4 + POOL_HEADROOM
    assert pool["min_size"] == 2
    assert pool["timeout"] == 5.0
    assert pool["reconnect_timeout"] == 5.0
    assert "options" not in database["OPTIONS"]  # no statement timeout unless set


def test_a_statement_timeout_is_the_server_s_and_keeps_the_url_s_options(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", PG + "?options=-c%20search_path%3Dfiles")
    monkeypatch.setenv("DATABASE_STATEMENT_TIMEOUT", "2.5")
    options = database_settings(BASE)["OPTIONS"]
    assert options["options"] == "-c search_path=files -c statement_timeout=2500"


def test_web_processes_default_to_a_statement_timeout():
    probe = "import os, project.wsgi; print(os.environ['DATABASE_STATEMENT_TIMEOUT'])"
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_STATEMENT_TIMEOUT"}
    done = subprocess.run(
        [sys.executable, "-c", probe],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.split()[-1] == "30"


def test_the_pool_is_sized_and_timed_from_the_environment(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", PG)
    monkeypatch.setenv("DATABASE_POOL_SIZE", "1")
    monkeypatch.setenv("DATABASE_POOL_TIMEOUT", "0.5")
    monkeypatch.setenv("DATABASE_CONNECT_TIMEOUT", "3")
    database = database_settings(BASE)
    assert database["OPTIONS"]["pool"]["max_size"] == 1
    assert database["OPTIONS"]["pool"]["min_size"] == 1
    assert database["OPTIONS"]["pool"]["timeout"] == 0.5
    assert database["OPTIONS"]["connect_timeout"] == 3


def test_pool_size_zero_is_django_s_persistent_connection_per_thread(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", PG)
    monkeypatch.setenv("DATABASE_POOL_SIZE", "0")
    monkeypatch.setenv("DATABASE_CONN_MAX_AGE", "60")
    database = database_settings(BASE)
    assert "pool" not in database["OPTIONS"]
    assert database["CONN_MAX_AGE"] == 60
    assert database["OPTIONS"]["connect_timeout"] == 5


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DATABASE_POOL_SIZE", "-1"),
        ("DATABASE_POOL_SIZE", "many"),
        ("DATABASE_POOL_TIMEOUT", "0"),
        ("DATABASE_POOL_TIMEOUT", "inf"),
        # libpq reads 0 as "wait forever" and 1 as 2.
        ("DATABASE_CONNECT_TIMEOUT", "0"),
        ("DATABASE_CONN_MAX_AGE", "-5"),
        ("DATABASE_STATEMENT_TIMEOUT", "-1"),
    ],
)
def test_a_bad_value_stops_the_settings_naming_the_variable(monkeypatch, name, value):
    monkeypatch.setenv("DATABASE_URL", PG)
    monkeypatch.setenv(name, value)
    with pytest.raises(ImproperlyConfigured, match=name):
        database_settings(BASE)
