"""The access policy is one function of plain values, and the compiled one-file check follows it
exactly for every kind of user; a policy it could not follow is refused, at `manage.py check`."""

import socket
import uuid
from dataclasses import FrozenInstanceError
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser, Group, Permission, User
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from downloads import access
from downloads.access import Subject, downloadable_file, downloadable_files
from downloads.models import Grant, StoredFile
from tests.bareenv import manage


@pytest.fixture
def fresh_one_file_check():
    """The process's compiled check forgotten before and after: a test compiles its own."""
    access._one_file_query.cache_clear()
    yield
    access._one_file_query.cache_clear()


def download_any() -> Permission:
    return Permission.objects.get(codename="download_any", content_type__app_label="downloads")


# --- every kind of user, every kind of file ---------------------------------------------------


def everyone(make_file):
    """Users of every kind, with filler users made first and between them, so no one asking has
    the id 1 or 2 (the compiler's stand-ins); the fillers hold download_any as staff, so a check
    compiled from whoever has those ids would give files away."""
    fillers = iter(range(100))

    def filler() -> User:
        user = User.objects.create_user(f"filler-{next(fillers)}", is_staff=True)
        user.user_permissions.add(download_any())
        return user

    def person(name: str, **flags: bool) -> User:
        filler()
        return User.objects.create_user(name, **flags)

    for _ in range(6):
        filler()
    nobody = filler()
    people = {
        "owner": person("owner"),
        "direct grant": person("direct"),
        "group grant": person("grouped"),
        "expired user grant": person("expired-direct"),
        "expired group grant": person("expired-grouped"),
        "grant until tomorrow": person("future"),
        "staff, no permission": person("staff", is_staff=True),
        "staff, permission": person("trusted", is_staff=True),
        "staff, permission by group": person("trusted-by-group", is_staff=True),
        "permission, not staff": person("not-staff"),
        "superuser": person("root", is_superuser=True),
        "superuser and staff": person("root-staff", is_superuser=True, is_staff=True),
        "inactive": person("inactive", is_active=False),
    }
    people["staff, permission"].user_permissions.add(download_any())
    people["permission, not staff"].user_permissions.add(download_any())
    admins = Group.objects.create(name="admins")
    admins.permissions.add(download_any())
    admins.user_set.add(people["staff, permission by group"])
    readers = Group.objects.create(name="readers")
    readers.user_set.add(people["group grant"])
    lapsed = Group.objects.create(name="lapsed")
    lapsed.user_set.add(people["expired group grant"])

    past = timezone.now() - timedelta(seconds=1)
    files = {
        "own": make_file(name="own.txt", owner=people["owner"]),
        "direct": make_file(name="direct.txt", owner=nobody),
        "group": make_file(name="group.txt", owner=nobody, share_with=readers),
        "expired": make_file(name="expired.txt", owner=nobody),
        "until tomorrow": make_file(name="future.txt", owner=nobody),
        "inactive's": make_file(name="inactive.txt", owner=people["inactive"]),
        "nobody's": make_file(name="nobody.txt", owner=nobody),
    }
    for grantee in ("direct grant", "staff, no permission", "inactive"):
        Grant.objects.create(file=files["direct"], user=people[grantee])
    Grant.objects.create(file=files["expired"], user=people["expired user grant"], expires_at=past)
    Grant.objects.create(file=files["expired"], group=lapsed, expires_at=past)
    Grant.objects.create(
        file=files["until tomorrow"],
        user=people["grant until tomorrow"],
        expires_at=timezone.now() + timedelta(days=1),
    )
    return people, files


EVERY_FILE = {"own", "direct", "group", "expired", "until tomorrow", "inactive's", "nobody's"}
EXPECTED = {
    "owner": {"own"},
    "direct grant": {"direct"},
    "group grant": {"group"},
    "expired user grant": set(),
    "expired group grant": set(),
    "grant until tomorrow": {"until tomorrow"},
    "staff, no permission": {"direct"},
    "staff, permission": EVERY_FILE,
    "staff, permission by group": EVERY_FILE,
    "permission, not staff": set(),
    "superuser": EVERY_FILE,
    "superuser and staff": EVERY_FILE,
    # The policy answers for whoever asks; an inactive user cannot ask, since Django's
    # ModelBackend refuses them a session (tests/test_sessions.py).
    "inactive": {"direct", "inactive's"},
    "anonymous": set(),
}


@pytest.mark.django_db
@pytest.mark.usefixtures("fresh_one_file_check")
def test_the_compiled_check_and_the_queryset_agree_for_every_kind_of_user(make_file):
    people, files = everyone(make_file)
    assert not {user.pk for user in people.values()} & {1, 2}
    names = {stored.pk: name for name, stored in files.items()}
    for kind, user in [*people.items(), ("anonymous", AnonymousUser())]:
        allowed = {names[stored.pk] for stored in downloadable_files(user)}
        assert allowed == EXPECTED[kind], kind
        for name, stored in files.items():
            found = downloadable_file(user, stored.pk)
            assert found == (stored if name in allowed else None), (kind, name)
            if found is not None:
                assert (found.name, found.size, found.updated) == (
                    stored.name,
                    stored.size,
                    stored.updated,
                )


@pytest.mark.django_db
def test_a_revoked_permission_takes_effect_at_once(make_file, alice):
    # Staff permission is read by the SQL on every call, never remembered from a compile.
    trusted = User.objects.create_user("trusted", is_staff=True)
    trusted.user_permissions.add(download_any())
    stored = make_file(owner=alice)
    assert downloadable_file(User.objects.get(pk=trusted.pk), stored.pk) == stored
    trusted.user_permissions.remove(download_any())
    assert downloadable_file(User.objects.get(pk=trusted.pk), stored.pk) is None


# --- the Subject: plain values, nothing behind them -------------------------------------------


@pytest.mark.django_db
def test_the_subject_holds_only_plain_values(bob):
    subject = Subject.of(bob)
    assert subject == Subject(user_id=bob.pk, is_superuser=False, is_staff=False)
    assert Subject.of(AnonymousUser()) is None
    with pytest.raises(AttributeError):
        subject.organisation_id  # noqa: B018  (nothing to read but what it declares)
    with pytest.raises(FrozenInstanceError):
        subject.is_staff = True  # type: ignore[misc]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("user_id", "is_superuser", "is_staff", "complaint"),
    [
        ("the user", False, False, "is an id"),
        (None, False, False, "is an id"),
        (True, False, False, "is an id"),
        (7, 1, False, "are bools"),
        (7, False, "yes", "are bools"),
    ],
)
def test_the_subject_refuses_anything_but_plain_values(
    bob, user_id, is_superuser, is_staff, complaint
):
    # A user object in place of the id would put every attribute back within the policy's reach.
    user_id = bob if user_id == "the user" else user_id
    with pytest.raises(TypeError, match=complaint):
        Subject(user_id=user_id, is_superuser=is_superuser, is_staff=is_staff)


# --- policies the compiled check could not follow are refused ----------------------------------


def asks_has_perm(real_policy):
    """The issue's refactor: the folded permission subquery replaced by user.has_perm()."""

    def policy(subject, now):
        if subject.is_staff and not subject.is_superuser:
            user = get_user_model().objects.get(pk=subject.user_id)
            if user.has_perm("downloads.download_any"):
                return StoredFile.objects.all()
        return real_policy(subject, now)

    return policy


@pytest.mark.django_db
@pytest.mark.usefixtures("fresh_one_file_check")
def test_a_policy_that_reads_the_user_from_the_database_is_refused(monkeypatch, make_file):
    # Stand-ins that are real staff holding the permission: compiled from them, the staff
    # variant would hand every file to every staff account.
    first, second = (User.objects.create_user(n, is_staff=True) for n in ("first", "second"))
    for user in (first, second):
        user.user_permissions.add(download_any())
    user_pk = get_user_model()._meta.pk
    monkeypatch.setattr(access, "allowed_files", asks_has_perm(access.allowed_files))
    monkeypatch.setattr(
        access,
        "_subject_values",
        lambda: {"user_id": (user_pk, (first.pk, second.pk))},
    )
    untrusted = User.objects.create_user("untrusted", is_staff=True)
    stored = make_file()

    with pytest.raises(SystemCheckError, match=r"downloads\.E050") as failure:
        call_command("check")
    assert "is_staff=True" in str(failure.value)
    assert "ran SQL" in str(failure.value)
    # Without `manage.py check`, the first download of a staff account fails, closed.
    with pytest.raises(ImproperlyConfigured, match="ran SQL"):
        downloadable_file(untrusted, stored.pk)
    # Users whose variant the rule does not touch still compile and get their answer.
    assert downloadable_file(stored.owner, stored.pk) == stored


@pytest.mark.django_db
@pytest.mark.usefixtures("fresh_one_file_check")
def test_a_rule_that_loses_the_user_is_refused(monkeypatch):
    # A rule written against a fact the Subject does not carry compares with a constant (the
    # issue's `IS NULL`): its SQL no longer depends on who asks.
    def without_the_user(subject, now):
        if subject.is_superuser:
            return StoredFile.objects.all()
        return StoredFile.objects.filter(owner__last_login__isnull=True)

    monkeypatch.setattr(access, "allowed_files", without_the_user)
    with pytest.raises(SystemCheckError, match=r"downloads\.E050") as failure:
        call_command("check")
    assert "'user_id' lands in no SQL parameter" in str(failure.value)


@pytest.mark.django_db
@pytest.mark.usefixtures("fresh_one_file_check")
def test_a_superuser_rule_that_names_the_user_is_refused(monkeypatch):
    # The superuser variants declare the user unused: using it anyway is a mismatch.
    real = access.allowed_files

    def superuser_by_owner(subject, now):
        if subject.is_superuser:
            return StoredFile.objects.exclude(owner_id=subject.user_id)
        return real(subject, now)

    monkeypatch.setattr(access, "allowed_files", superuser_by_owner)
    with pytest.raises(SystemCheckError, match="declared unused by variant"):
        call_command("check")


@pytest.mark.django_db
@pytest.mark.usefixtures("fresh_one_file_check")
def test_a_subject_value_the_compiled_check_does_not_declare_is_refused(monkeypatch):
    # What Subject would hold after `organisation_id: int` is added to it and to Subject.of(),
    # without declaring it for the compiled check.
    monkeypatch.setattr(access, "VALUES", (*access.VALUES, "organisation_id"))
    with pytest.raises(SystemCheckError, match=r"downloads\.E050") as failure:
        call_command("check")
    assert "Subject.organisation_id is not declared" in str(failure.value)


@pytest.mark.usefixtures("fresh_one_file_check")
def test_the_subjects_fast_paths_are_held_to_its_fields(monkeypatch):
    # variant(), values() and the type checks are written out for speed; the check makes sure
    # they still say what the fields say.
    for name, drifted in [
        ("values", lambda self: {}),
        ("variant", lambda self: (self.is_staff, self.is_superuser)),
    ]:
        monkeypatch.setattr(Subject, name, drifted)
        with pytest.raises(SystemCheckError, match="does not follow FLAGS, VALUES"):
            call_command("check")
        monkeypatch.undo()
    monkeypatch.setattr(access, "_ID_TYPES", (int, str, uuid.UUID, type(None)))
    with pytest.raises(SystemCheckError, match="Subject accepts user_id=None"):
        call_command("check")


# --- manage.py check ----------------------------------------------------------------------------


def test_check_compiles_every_variant_without_the_database():
    # No django_db mark: pytest-django fails any attempt to connect.
    call_command("check")


@pytest.mark.django_db
def test_check_with_the_database_runs_every_variant_once():
    with CaptureQueriesContext(connection) as captured:
        call_command("check", databases=["default"])
    runs = [
        q["sql"] for q in captured.captured_queries if 'FROM "downloads_storedfile"' in q["sql"]
    ]
    assert len(runs) == 4


@pytest.mark.django_db
@pytest.mark.usefixtures("fresh_one_file_check")
def test_check_with_the_database_reports_sql_the_database_refuses(monkeypatch):
    real = access.allowed_files

    def with_a_typo(subject, now):
        return real(subject, now).extra(where=["no_such_column = 1"])

    monkeypatch.setattr(access, "allowed_files", with_a_typo)
    call_command("check")  # compiles: the SQL's shape is fine
    with pytest.raises(SystemCheckError, match=r"downloads\.E051") as failure:
        call_command("check", databases=["default"])
    assert str(failure.value).count("downloads.E051") == 4
    assert StoredFile.objects.count() == 0  # the connection is still good


def test_check_on_a_database_not_yet_migrated(tmp_path):
    # `migrate` runs the checks before it migrates: an empty database must pass them.
    database = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    result = manage(
        "check", "--database", "default", settings="tests.settings", DATABASE_URL=database
    )
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_check_compiles_for_postgresql_without_a_server():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    nowhere = f"postgres://nobody@127.0.0.1:{port}/{uuid.uuid4().hex}"
    result = manage("check", settings="tests.settings", DATABASE_URL=nowhere)
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout
