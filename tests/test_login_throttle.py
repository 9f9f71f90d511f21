"""Login throttling (django-axes): per username and per client address, in the database, the
address taken as the download log takes it, a clear 429 page, no password hashed once locked
out, the admin's login throttled too, and a lockout a staff user can clear in the admin."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.hashers import MD5PasswordHasher
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"
ADMIN_LOGIN = "/admin/login/"
LIMIT = 3


@pytest.fixture(autouse=True)
def small_limit(settings):
    settings.AXES_FAILURE_LIMIT = LIMIT


def attempt(client, username, password, url=LOGIN, **extra):
    return client.post(url, {"username": username, "password": password}, **extra)


def logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def fail(client, username, times=LIMIT, **extra):
    """`times` wrong passwords: the form again each time, and the lockout page for the one
    that reaches the limit."""
    for n in range(1, times + 1):
        response = attempt(client, username, "wrong", **extra)
        assert response.status_code == (429 if n == LIMIT else 200)


def test_the_right_password_after_the_limit_is_refused_with_the_lockout_page(alice, settings):
    client = Client()
    fail(client, "alice")
    response = attempt(client, "alice", "pw-alice")
    assert response.status_code == 429
    assert not logged_in(client)
    assert "Too many failed logins" in response.text
    assert "Try again in 15 minutes at the latest" in response.text
    assert "ask an administrator" in response.text
    assert response["Retry-After"] == str(15 * 60)


def test_below_the_limit_the_right_password_logs_in(alice):
    client = Client()
    fail(client, "alice", LIMIT - 1)
    assert attempt(client, "alice", "pw-alice").status_code == 302
    assert logged_in(client)


def test_per_username_from_any_address(alice):
    for n in range(LIMIT):
        attempt(Client(), "alice", "wrong", REMOTE_ADDR=f"198.51.100.{n + 1}")
    response = attempt(Client(), "alice", "pw-alice", REMOTE_ADDR="203.0.113.99")
    assert response.status_code == 429


def test_per_address_whatever_the_username(alice, bob):
    for name in ("mallory", "trudy", "eve"):
        attempt(Client(), name, "wrong", REMOTE_ADDR="198.51.100.7")
    assert attempt(Client(), "bob", "pw-bob", REMOTE_ADDR="198.51.100.7").status_code == 429
    # Another address, another user: untouched.
    assert attempt(Client(), "alice", "pw-alice", REMOTE_ADDR="198.51.100.8").status_code == 302


def test_the_address_is_the_download_logs_behind_trusted_proxies(alice, bob, settings):
    """One proxy trusted: the address the proxy saw counts, not the proxy's own, and not what
    a client wrote further left."""
    settings.DOWNLOADS_TRUSTED_PROXIES = 1
    for n, name in enumerate(("mallory", "trudy", "eve")):
        attempt(
            Client(),
            name,
            "wrong",
            REMOTE_ADDR="127.0.0.1",
            HTTP_X_FORWARDED_FOR=f"10.9.9.{n}, 198.51.100.7",
        )
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"198.51.100.7"}
    locked = attempt(
        Client(), "bob", "pw-bob", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.7"
    )
    assert locked.status_code == 429
    other = attempt(
        Client(), "alice", "pw-alice", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.8"
    )
    assert other.status_code == 302


def test_the_admin_login_is_throttled_the_same_way(alice):
    alice.is_staff = True
    alice.save()
    client = Client()
    for _ in range(LIMIT):
        attempt(client, "alice", "wrong", url=ADMIN_LOGIN)
    assert attempt(client, "alice", "pw-alice", url=ADMIN_LOGIN).status_code == 429
    # One count for both forms: locked on the site's login too.
    assert attempt(client, "alice", "pw-alice").status_code == 429


class CountingHasher(MD5PasswordHasher):
    """The tests' MD5 hasher, counting every hash it computes."""

    hashes = 0

    def encode(self, password, salt):
        CountingHasher.hashes += 1
        return super().encode(password, salt)


def test_a_locked_out_attempt_costs_no_password_hash(alice, settings):
    settings.PASSWORD_HASHERS = [f"{__name__}.CountingHasher"]
    client = Client()
    CountingHasher.hashes = 0
    fail(client, "alice")
    assert CountingHasher.hashes == LIMIT  # each wrong password was hashed to be compared
    CountingHasher.hashes = 0
    for password in ("pw-alice", "wrong", "wrong"):
        assert attempt(client, "alice", password).status_code == 429
    attempt(Client(), "nobody-by-this-name", "x", REMOTE_ADDR="127.0.0.1")  # address locked too
    assert CountingHasher.hashes == 0


def test_the_cool_off_ends_the_lockout_and_refused_tries_do_not_extend_it(alice, settings):
    client = Client()
    fail(client, "alice")
    locked_at = AccessAttempt.objects.get().attempt_time
    for _ in range(3):
        assert attempt(client, "alice", "wrong").status_code == 429
    assert AccessAttempt.objects.get().attempt_time == locked_at
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    assert attempt(client, "alice", "pw-alice").status_code == 302


@pytest.fixture
def lockout_clerk(db) -> User:
    """Staff, not superuser, allowed only to see and delete access attempts."""
    clerk = User.objects.create_user("clerk", password="pw-clerk", is_staff=True)
    clerk.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="axes",
            codename__in=["view_accessattempt", "delete_accessattempt"],
        )
    )
    return clerk


def test_a_staff_user_clears_a_lockout_in_the_admin(alice, lockout_clerk):
    victim = Client()
    fail(victim, "alice")
    assert attempt(victim, "alice", "pw-alice").status_code == 429

    staff = Client()
    staff.force_login(lockout_clerk)
    changelist = reverse("admin:axes_accessattempt_changelist")
    page = staff.get(changelist)
    assert page.status_code == 200
    assert "alice" in page.text
    ids = [str(pk) for pk in AccessAttempt.objects.values_list("pk", flat=True)]
    confirm = staff.post(changelist, {"action": "delete_selected", "_selected_action": ids})
    assert confirm.status_code == 200  # "Are you sure?"
    done = staff.post(
        changelist, {"action": "delete_selected", "_selected_action": ids, "post": "yes"}
    )
    assert done.status_code == 302
    assert not AccessAttempt.objects.exists()

    assert attempt(victim, "alice", "pw-alice").status_code == 302
    assert logged_in(victim)


def test_logging_in_to_ones_own_account_does_not_wipe_the_count(alice, bob):
    """Between guesses at alice's password, bob logs in as himself from the same address: the
    guesses still count, for alice's name and for the address."""
    attacker = Client()
    fail(attacker, "alice", LIMIT - 1)
    assert attempt(Client(), "bob", "pw-bob").status_code == 302
    assert attempt(attacker, "alice", "wrong").status_code == 429


def test_an_address_that_is_not_one_is_counted_not_crashed_on(alice, settings):
    """A forwarded "address" the download log would not believe (downloads/clientip.py) is None
    here too: such attempts share one count, and the login form still answers."""
    settings.DOWNLOADS_TRUSTED_PROXIES = 1
    response = attempt(Client(), "alice", "wrong", HTTP_X_FORWARDED_FOR="not-an-address")
    assert response.status_code == 200
    assert AccessAttempt.objects.get().ip_address is None
    ok = attempt(Client(), "alice", "pw-alice", HTTP_X_FORWARDED_FOR="198.51.100.1:4321")
    assert ok.status_code == 302
