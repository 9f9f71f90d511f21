"""The `default` database as project/database.py builds it from the environment."""

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
    ],
)
def test_a_bad_value_stops_the_settings_naming_the_variable(monkeypatch, name, value):
    monkeypatch.setenv("DATABASE_URL", PG)
    monkeypatch.setenv(name, value)
    with pytest.raises(ImproperlyConfigured, match=name):
        database_settings(BASE)
