"""Sessions (downloads/sessions.py) and users (downloads/backends.py) read with prepared queries:
still read from the database on every request, so logging out, expiry and deactivation hold at
once for every copy of the cookie."""

from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone

pytestmark = pytest.mark.django_db


@pytest.fixture
def logged_in(alice, make_file):
    stored = make_file()
    first = Client()
    # django-axes' backend counts the attempt against a request.
    first.login(
        request=RequestFactory().post("/accounts/login/"), username="alice", password="pw-alice"
    )
    # The same cookie in a second client: another tab, another worker, a copied cookie.
    second = Client()
    second.cookies["sessionid"] = first.cookies["sessionid"].value
    return first, second, reverse("downloads:download", args=[stored.pk])


def test_the_session_works_for_every_copy_of_the_cookie(logged_in):
    first, second, url = logged_in
    assert first.get(url).status_code == 200
    assert second.get(url).status_code == 200


def test_logging_out_ends_the_session_for_every_copy(logged_in):
    first, second, url = logged_in
    first.post(reverse("logout"))
    assert second.get(url).status_code == 302


def test_an_expired_session_is_no_session(logged_in):
    _, second, url = logged_in
    Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))
    assert second.get(url).status_code == 302


def test_a_deactivated_user_is_logged_out(logged_in, alice):
    _, second, url = logged_in
    alice.is_active = False
    alice.save()
    assert second.get(url).status_code == 302


def test_a_changed_password_ends_other_sessions(logged_in, alice):
    _, second, url = logged_in
    alice.set_password("a-new-password")
    alice.save()
    assert second.get(url).status_code == 302
