"""Personal API tokens in-process: made and shown once on the account page, stored as a hash,
revoked by their owner or an admin; `Authorization: Bearer` opens the download URLs, the API and
the exports under the same access policy, without session, cookie or CSRF token, and nothing
else; a bad token is one 401 whatever the reason; tokens never in URLs, logs or the download
log; failures throttled with the address's failed logins; last_used written once a minute."""

import logging
import sys
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import Permission, User
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.views.debug import ExceptionReporter

from downloads import tokens
from downloads.logwriter import WRITER
from downloads.models import DownloadLog
from downloads.tokens import ApiToken

pytestmark = pytest.mark.django_db

TOKENS_URL = "/account/tokens/"
API_URL = "/api/files/"
ZIP_URL = "/files.zip"
CSV_URL = "/files.csv"
LIMIT = 3


@pytest.fixture(autouse=True)
def small_limit(settings):
    settings.AXES_FAILURE_LIMIT = LIMIT


@pytest.fixture
def secret(alice: User) -> str:
    return ApiToken.issue(alice, "script")[1]


def bearer(secret: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


def assert_no_cookie(response) -> None:
    assert not response.cookies, response.cookies
    assert "Set-Cookie" not in str(response.serialize_headers())


# --- The account page -------------------------------------------------------------------------


def test_a_new_token_is_shown_once_and_only_its_hash_is_kept(alice_client, alice):
    response = alice_client.post(TOKENS_URL, {"name": "backup", "expires_in_days": "30"})
    assert response.status_code == 201
    assert response["Cache-Control"] == "private, no-store"
    (token,) = ApiToken.objects.filter(user=alice)
    shown = response.context["new_secret"]
    assert shown.startswith("pdt_")
    assert len(shown) == 4 + 43
    assert shown in response.text
    assert token.key_hash == tokens.hash_of(shown)
    assert token.hint == shown[:8]
    assert token.expires_at is not None
    assert timedelta(days=29) < token.expires_at - timezone.now() <= timedelta(days=30)
    # Nowhere in the row, nor in the page once it is reloaded.
    stored = " ".join(str(value) for value in ApiToken.objects.values().get().values())
    assert shown not in stored
    listed = alice_client.get(TOKENS_URL)
    assert shown not in listed.text
    assert "backup" in listed.text
    assert token.hint in listed.text
    # And it works.
    assert Client().get(API_URL, **bearer(shown)).status_code == 200


def test_no_expiry_and_a_form_error_for_a_missing_name(alice_client, alice):
    assert alice_client.post(TOKENS_URL, {"name": "", "expires_in_days": ""}).status_code == 400
    assert alice_client.post(TOKENS_URL, {"name": "cron", "expires_in_days": ""}).status_code == 201
    assert ApiToken.objects.get(user=alice).expires_at is None
    assert alice_client.post(TOKENS_URL, {"name": "x", "expires_in_days": "9"}).status_code == 400


def test_the_owner_revokes_and_the_token_stops_at_once(alice_client, secret, bob):
    token = ApiToken.objects.get()
    bobs = Client()
    bobs.force_login(bob)
    assert bobs.post(reverse("downloads:token-revoke", args=[token.pk])).status_code == 404
    assert Client().get(API_URL, **bearer(secret)).status_code == 200
    response = alice_client.post(reverse("downloads:token-revoke", args=[token.pk]))
    assert response.status_code == 302
    assert Client().get(API_URL, **bearer(secret)).status_code == 401
    assert "revoked" in alice_client.get(TOKENS_URL).text


def test_the_account_page_needs_a_login():
    response = Client().get(TOKENS_URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


# --- What a token opens ----------------------------------------------------------------------


def test_a_token_downloads_under_the_same_policy_without_a_session(
    make_file, secret, carol, alice_client
):
    mine = make_file(b"alice's bytes")
    carols = make_file(b"carol's", owner=carol)
    sessions = Session.objects.count()  # alice_client's
    client = Client()
    response = client.get(mine.get_download_url(), **bearer(secret))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"alice's bytes"
    assert_no_cookie(response)
    # Someone else's file: the same 404 as for alice's logged-in browser, byte for byte.
    refused = client.get(carols.get_download_url(), **bearer(secret))
    assert refused.status_code == 404
    assert refused.content == alice_client.get(carols.get_download_url()).content
    assert_no_cookie(refused)
    # Range, as download managers resume.
    partial = client.get(mine.get_download_url(), HTTP_RANGE="bytes=8-", **bearer(secret))
    assert partial.status_code == 206
    assert b"".join(partial.streaming_content) == b"bytes"
    assert Session.objects.count() == sessions


def test_the_api_lists_the_tokens_users_files(make_file, secret, carol):
    make_file(b"a", name="mine.txt")
    make_file(b"c", name="carols.txt", owner=carol)
    response = Client().get(API_URL, **bearer(secret))
    assert response.status_code == 200
    assert [row["name"] for row in response.json()["results"]] == ["mine.txt"]
    assert_no_cookie(response)
    assert Client().get(API_URL).status_code == 403


def test_the_zip_needs_no_csrf_token_with_a_bearer_token(make_file, secret, alice):
    stored = make_file(b"zipped")
    client = Client(enforce_csrf_checks=True)
    response = client.post(ZIP_URL, {"file": [str(stored.pk)]}, **bearer(secret))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert_no_cookie(response)
    # A browser's session still needs one.
    client.force_login(alice)
    assert client.post(ZIP_URL, {"file": [str(stored.pk)]}).status_code == 403


def test_a_page_that_would_set_the_csrf_cookie_sets_none_for_a_bearer_request(secret):
    # An empty selection renders the "no zip" page (base.html, with the logout form's token).
    response = Client().post(ZIP_URL, {}, **bearer(secret))
    assert response.status_code == 400
    assert "csrfmiddlewaretoken" in response.text
    assert_no_cookie(response)


def test_a_bearer_request_with_a_session_cookie_leaves_the_session_alone(
    alice_client, bob, make_file
):
    bobs_secret = ApiToken.issue(bob, "bob's")[1]
    shared = make_file(b"for bob", share_with=bob)
    session_key = alice_client.cookies["sessionid"].value
    response = alice_client.get(API_URL, **bearer(bobs_secret))
    # The token's user, not the session's.
    assert [row["id"] for row in response.json()["results"]] == [str(shared.pk)]
    assert_no_cookie(response)
    assert Session.objects.filter(session_key=session_key).exists()


def test_the_csv_export_takes_a_token(make_file, secret):
    make_file(b"x", name="listed.txt")
    response = Client().get(CSV_URL, **bearer(secret))
    assert response.status_code == 200
    assert b"listed.txt" in b"".join(response.streaming_content)


@pytest.mark.parametrize("url", [TOKENS_URL, "/", "/admin/"])
def test_a_token_opens_nothing_else(url, secret, alice):
    alice.is_staff = alice.is_superuser = True
    alice.save()
    response = Client().get(url, **bearer(secret))
    assert response.status_code == 403
    assert response["WWW-Authenticate"] == 'Bearer error="insufficient_scope"'
    # Not even a new token.
    Client().post(TOKENS_URL, {"name": "more"}, **bearer(secret))
    assert ApiToken.objects.count() == 1


def test_unknown_revoked_expired_and_deactivated_are_the_same_401(make_file, alice, bob):
    stored = make_file()
    revoked, revoked_secret = ApiToken.issue(alice, "r")
    revoked.revoke()
    _, expired_secret = ApiToken.issue(alice, "e", timezone.now() - timedelta(seconds=1))
    _, bobs_secret = ApiToken.issue(bob, "b")
    bob.is_active = False
    bob.save()
    answers = [
        Client().get(stored.get_download_url(), **bearer(candidate), REMOTE_ADDR=f"10.0.0.{n}")
        for n, candidate in enumerate(
            [tokens.new_secret(), revoked_secret, expired_secret, bobs_secret, "not a token!"]
        )
    ]
    for answer in answers:
        assert answer.status_code == 401
        assert answer["WWW-Authenticate"] == 'Bearer error="invalid_token"'
        assert answer.content == answers[0].content
        assert_no_cookie(answer)


def test_an_empty_bearer_is_a_bad_request(make_file):
    response = Client().get(make_file().get_download_url(), HTTP_AUTHORIZATION="Bearer ")
    assert response.status_code == 400
    assert response["WWW-Authenticate"] == 'Bearer error="invalid_request"'


def test_other_schemes_are_left_to_the_session(make_file):
    response = Client().get(make_file().get_download_url(), HTTP_AUTHORIZATION="Basic YTpi")
    assert response.status_code == 302  # the login page, as for anyone anonymous


# --- Tokens never in URLs, logs or the download log -------------------------------------------


@pytest.mark.parametrize(
    ("url", "query"),
    [
        ("download", "access_token={secret}"),
        ("download", "token=anything"),
        (API_URL, "api_key={secret}"),
        ("/", "q={secret}"),
        (TOKENS_URL, "x={secret}"),
        ("/", "{secret}"),
        ("/", "x=%70dt%5F{rest}"),
        ("/files/{secret}/download", ""),
    ],
)
def test_a_token_in_the_url_is_refused_unread(url, query, make_file, secret):
    target = make_file().get_download_url() if url == "download" else url.format(secret=secret)
    response = Client().get(f"{target}?{query.format(secret=secret, rest=secret[4:])}")
    assert response.status_code == 400
    assert "Authorization: Bearer" in response.text
    assert ApiToken.objects.get().last_used is None


@pytest.mark.django_db(transaction=True)
def test_no_token_in_logs_error_reports_or_the_download_log(make_file, secret, caplog):
    stored = make_file()
    wrong = tokens.new_secret()
    with caplog.at_level(logging.DEBUG):
        downloaded = Client().get(stored.get_download_url(), **bearer(secret))
        b"".join(downloaded.streaming_content)
        downloaded.close()  # as the WSGI server does: the row is written when the body ends
        Client().get(stored.get_download_url(), **bearer(wrong))
        Client().get(f"/files/{stored.pk}-not-an-id/download", **bearer(secret))
        Client().get("/nowhere", **bearer(wrong))
    WRITER.flush()
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "AXES" in logged  # the failure was logged, without the token
    for value in (secret, wrong):
        assert value not in logged
        assert value[4:] not in logged
    rows = list(DownloadLog.objects.values())
    assert sorted(row["status"] for row in rows) == [200, 404]
    assert secret not in repr(rows)
    # A 500's report (mail to ADMINS, DEBUG page) shows the header cleansed.
    request = RequestFactory().get(stored.get_download_url(), **bearer(secret))
    report = ExceptionReporter(request, *sys.exc_info()).get_traceback_text()
    assert "HTTP_AUTHORIZATION" in report
    assert secret not in report


# --- Throttling --------------------------------------------------------------------------------


def test_failed_tokens_lock_the_address_out_with_429_and_retry_after(make_file, secret, alice):
    stored = make_file()
    url = stored.get_download_url()
    here, elsewhere = {"REMOTE_ADDR": "198.51.100.9"}, {"REMOTE_ADDR": "198.51.100.10"}
    statuses = [
        Client().get(url, **bearer(tokens.new_secret()), **here).status_code for _ in range(LIMIT)
    ]
    assert statuses == [401] * (LIMIT - 1) + [429]
    locked = Client().get(url, **bearer(secret), **here)
    assert locked.status_code == 429
    assert locked["Retry-After"] == str(15 * 60)
    assert_no_cookie(locked)
    # The right token from another address still works: the count is per address.
    assert Client().get(url, **bearer(secret), **elsewhere).status_code == 200
    # Counted where logins are, under a name no account can have, and by address only.
    (attempt,) = AccessAttempt.objects.all()
    assert (attempt.username, attempt.ip_address) == ("(API token)", "198.51.100.9")
    # And as for a login, the address is locked out of the login form too.
    login = Client().post("/accounts/login/", {"username": "alice", "password": "pw-alice"}, **here)
    assert login.status_code == 429


def test_failed_logins_and_tokens_share_the_address_count(make_file, secret):
    url = make_file().get_download_url()
    here = {"REMOTE_ADDR": "198.51.100.20"}
    for _ in range(LIMIT):
        Client().post("/accounts/login/", {"username": "x", "password": "y"}, **here)
    assert Client().get(url, **bearer(secret), **here).status_code == 429


def test_an_admin_deleting_the_lockout_lets_the_token_in(make_file, secret):
    url = make_file().get_download_url()
    here = {"REMOTE_ADDR": "198.51.100.30"}
    for _ in range(LIMIT):
        Client().get(url, **bearer(tokens.new_secret()), **here)
    assert Client().get(url, **bearer(secret), **here).status_code == 429
    AccessAttempt.objects.all().delete()
    assert Client().get(url, **bearer(secret), **here).status_code == 200


# --- last_used ---------------------------------------------------------------------------------


def updates_of_tokens(queries: CaptureQueriesContext) -> list[str]:
    return [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].startswith('UPDATE "downloads_apitoken"')
    ]


def test_last_used_is_written_at_most_once_a_minute(make_file, secret):
    url = make_file().get_download_url()
    with CaptureQueriesContext(connection) as first:
        Client().get(url, **bearer(secret))
    token = ApiToken.objects.get()
    assert token.last_used is not None
    assert len(updates_of_tokens(first)) == 1
    with CaptureQueriesContext(connection) as again:
        for _ in range(3):
            Client().get(url, **bearer(secret))
    assert updates_of_tokens(again) == []
    # A minute later, one write again.
    ApiToken.objects.update(last_used=token.last_used - timedelta(seconds=61))
    with CaptureQueriesContext(connection) as later:
        Client().get(url, **bearer(secret))
    assert len(updates_of_tokens(later)) == 1
    assert ApiToken.objects.get().last_used > token.last_used


# --- The admin ---------------------------------------------------------------------------------


def test_the_admin_lists_filters_and_revokes_every_token(client, alice, bob):
    admin = User.objects.create_superuser("root", password="pw-root")
    ApiToken.issue(alice, "alice's script")
    bobs, bobs_secret = ApiToken.issue(bob, "bob's script")
    client.force_login(admin)
    changelist = reverse("admin:downloads_apitoken_changelist")
    listed = client.get(changelist)
    assert "alice&#x27;s script" in listed.text
    assert "bob&#x27;s script" in listed.text
    assert client.get(reverse("admin:downloads_apitoken_add")).status_code == 403
    response = client.post(
        changelist, {"action": "revoke_selected", "_selected_action": [str(bobs.pk)]}
    )
    assert response.status_code == 302
    assert Client().get(API_URL, **bearer(bobs_secret)).status_code == 401
    revoked = client.get(changelist, {"status": "revoked"})
    assert "bob&#x27;s script" in revoked.text
    assert "alice&#x27;s script" not in revoked.text
    active = client.get(changelist, {"status": "active"})
    assert "alice&#x27;s script" in active.text
    assert "bob&#x27;s script" not in active.text


def test_staff_without_permission_cannot_see_tokens(client, alice):
    alice.is_staff = True
    alice.save()
    alice.user_permissions.add(Permission.objects.get(codename="view_storedfile"))
    client.force_login(alice)
    assert client.get(reverse("admin:downloads_apitoken_changelist")).status_code == 403


# --- Configuration -----------------------------------------------------------------------------


def run_checks() -> list[str]:
    from django.core import checks

    return [message.id for message in checks.run_checks() if message.id]


def test_the_project_passes_the_token_checks():
    assert not {"downloads.E080", "downloads.E081"} & set(run_checks())


def test_a_misplaced_bearer_middleware_stops_the_deploy(settings):
    stack = list(settings.MIDDLEWARE)
    stack.remove("downloads.tokenauth.BearerTokenMiddleware")
    settings.MIDDLEWARE = ["downloads.tokenauth.BearerTokenMiddleware", *stack]
    assert "downloads.E080" in run_checks()


def test_a_plain_lockout_list_stops_the_deploy(settings):
    settings.AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
    assert "downloads.E081" in run_checks()


def test_the_async_user_is_the_tokens_owner_too(secret, alice):
    from asgiref.sync import async_to_sync
    from django.http import HttpResponse

    from downloads.tokenauth import BearerTokenMiddleware

    seen = []

    def view(request):
        seen.append((request.user, async_to_sync(request.auser)()))
        return HttpResponse()

    request = RequestFactory().get(API_URL, **bearer(secret))
    BearerTokenMiddleware(view)(request)
    assert seen == [(alice, alice)]
