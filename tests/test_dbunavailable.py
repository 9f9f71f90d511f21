"""A database that cannot be used is a 503 page wherever the query happens; any other error stays
a 500 (downloads/dbunavailable.py). Against the real database and PostgreSQL servers:
tests/test_postgres_restart.py and tests/test_database_pool_live.py."""

import pytest
from django.db import OperationalError, ProgrammingError
from django.test import Client

from downloads import views


@pytest.fixture
def client_without_raising(alice):
    client = Client(raise_request_exception=False)
    client.force_login(alice)
    return client


def fail_with(monkeypatch, error: Exception) -> None:
    def refuse(*args, **kwargs):
        raise error

    monkeypatch.setattr(views, "decided_files", refuse)


@pytest.mark.django_db
def test_an_unusable_database_is_a_503_with_retry_after(client_without_raising, monkeypatch):
    fail_with(monkeypatch, OperationalError("couldn't get a connection after 5.00 sec"))
    response = client_without_raising.get("/")
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert response["Cache-Control"] == "private, no-store"
    assert "database is not answering" in response.content.decode()
    # Nothing of the error reaches the user.
    assert b"couldn" not in response.content


@pytest.mark.django_db
def test_any_other_error_stays_a_500(client_without_raising, monkeypatch):
    fail_with(monkeypatch, ProgrammingError("column does not exist"))
    response = client_without_raising.get("/")
    assert response.status_code == 500
    assert "Retry-After" not in response
