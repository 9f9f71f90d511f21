"""The async way to the session and the user (`await request.auser()`, `aget_user`, `aload`)
answers as the sync way does, in every state a session can be in: logged in, logged out, expired,
its user deactivated, its password changed since."""

from collections.abc import Callable
from datetime import timedelta
from importlib import import_module
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from django.contrib import auth
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.http import HttpRequest, JsonResponse
from django.test import AsyncClient, Client, RequestFactory
from django.urls import path
from django.utils import timezone

from downloads.prepared import PreparedQuery

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.test_sessions_async")]


# Not redirected to the login page when logged out: the answer names who the view sees.
@login_not_required
def sync_whoami(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"user": request.user.pk})


@login_not_required
async def async_whoami(request: HttpRequest) -> JsonResponse:
    user = await request.auser()
    return JsonResponse({"user": user.pk})


urlpatterns = [path("sync/", sync_whoami), path("async/", async_whoami)]


def session_store(key: str | None = None) -> Any:
    return import_module(settings.SESSION_ENGINE).SessionStore(key)


def logged_in_session(user: User) -> str:
    """A saved session of `user`, logged in by the backend that loads users on each request."""
    request = RequestFactory().post("/accounts/login/")
    request.session = session_store()
    auth.login(request, user, backend=settings.AUTHENTICATION_BACKENDS[-1])
    request.session.save()
    return str(request.session.session_key)


def request_for(key: str) -> HttpRequest:
    request = RequestFactory().get("/")
    request.session = session_store(key)
    return request


def who(user: Any) -> tuple[bool, Any]:
    return user.is_authenticated, user.pk


def log_out(user: User, keys: list[str]) -> None:
    for key in keys:
        request = request_for(key)
        request.user = user
        auth.logout(request)


def expire(user: User, keys: list[str]) -> None:
    Session.objects.filter(session_key__in=keys).update(
        expire_date=timezone.now() - timedelta(seconds=1)
    )


def deactivate(user: User, keys: list[str]) -> None:
    user.is_active = False
    user.save()


def change_password(user: User, keys: list[str]) -> None:
    user.set_password("a-new-password")
    user.save()


def nothing(user: User, keys: list[str]) -> None:
    pass


# state -> (what makes it, whether the user is still logged in)
STATES: dict[str, tuple[Callable[[User, list[str]], None], bool]] = {
    "logged in": (nothing, True),
    "logged out": (log_out, False),
    "expired": (expire, False),
    "inactive user": (deactivate, False),
    "changed password": (change_password, False),
}


@pytest.fixture(params=list(STATES))
def state(request: pytest.FixtureRequest, alice: User) -> tuple[list[str], bool]:
    """Sessions of alice in one state, one per way of asking: a session the sync way has
    flushed (a stale password hash) must not decide what the async way finds."""
    make, logged_in = STATES[request.param]
    keys = [logged_in_session(alice) for _ in range(4)]
    make(alice, keys)
    return keys, logged_in


def test_get_user_and_aget_user_agree(state, alice):
    keys, logged_in = state
    sync_user = auth.get_user(request_for(keys[0]))
    async_user = async_to_sync(auth.aget_user)(request_for(keys[1]))
    assert who(sync_user) == who(async_user)
    assert who(sync_user) == ((True, alice.pk) if logged_in else (False, None))


def test_load_and_aload_agree(state):
    keys, _ = state
    sync_store, async_store = session_store(keys[0]), session_store(keys[1])
    sync_data = sync_store.load()
    async_data = async_to_sync(async_store.aload)()
    assert sync_data.keys() == async_data.keys()
    assert sync_data.get(auth.SESSION_KEY) == async_data.get(auth.SESSION_KEY)
    # A session with no row is forgotten by both: a new key is made if anything is saved.
    assert (sync_store.session_key is None) == (async_store.session_key is None)


def test_the_backends_get_user_and_aget_user_agree(state, alice):
    backend = auth.load_backend(settings.AUTHENTICATION_BACKENDS[-1])
    sync_user = backend.get_user(alice.pk)
    async_user = async_to_sync(backend.aget_user)(alice.pk)
    assert (sync_user is None) == (async_user is None)
    if sync_user is not None:
        assert sync_user.pk == async_user.pk == alice.pk
    # The backend sees only the user: a deactivated one is refused, the rest is the session's.
    assert (sync_user is None) == (not alice.is_active)


def test_a_sync_and_an_async_view_see_the_same_user(state, alice):
    keys, logged_in = state
    sync_client, async_client = Client(), AsyncClient()
    sync_client.cookies[settings.SESSION_COOKIE_NAME] = keys[2]
    async_client.cookies[settings.SESSION_COOKIE_NAME] = keys[3]
    sync_answer = sync_client.get("/sync/")
    async_answer = async_to_sync(async_client.get)("/async/")
    assert sync_answer.status_code == async_answer.status_code == 200
    assert sync_answer.json() == async_answer.json()
    assert sync_answer.json() == {"user": alice.pk if logged_in else None}


def test_a_missing_user_is_no_user_either_way(alice):
    backend = auth.load_backend(settings.AUTHENTICATION_BACKENDS[-1])
    missing = alice.pk + 1000
    assert backend.get_user(missing) is None
    assert async_to_sync(backend.aget_user)(missing) is None


def test_the_async_way_runs_the_same_compiled_queries(alice, monkeypatch):
    """One code path: `aget_user` reads the session and the user with the prepared queries of
    downloads/sessions.py and downloads/backends.py, not with Django's own ORM lookups."""
    ran: list[list[str]] = []
    first = PreparedQuery.first

    def spy(self: PreparedQuery, variant: Any, **values: Any) -> Any:
        ran.append(sorted(values))
        return first(self, variant, **values)

    key = logged_in_session(alice)
    monkeypatch.setattr(PreparedQuery, "first", spy)
    user = async_to_sync(auth.aget_user)(request_for(key))
    assert who(user) == (True, alice.pk)
    assert ran == [["now", "session_key"], ["user_id"]]
