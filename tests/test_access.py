"""The access matrix: who gets the bytes, who gets the one 404, who is sent to log in."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse
from django.utils import timezone

from downloads.access import downloadable_files
from downloads.models import Grant

pytestmark = pytest.mark.django_db


def download(client, stored):
    return client.get(reverse("downloads:download", args=[stored.pk]))


def download_whole(client, stored):
    """The log row is written when the body ends, as a WSGI server ends it: read it whole."""
    response = download(client, stored)
    response.getvalue()
    return response


def without_savepoints(queries) -> list[str]:
    # In the test's transaction the row is written inside a savepoint, so a row the database
    # refuses cannot break the request's transaction (logwriter.py); outside one, by the
    # writer thread.
    return [q["sql"] for q in queries if "SAVEPOINT" not in q["sql"]]


def test_owner_gets_the_bytes(client, alice, make_file):
    stored = make_file(b"alice's", owner=alice)
    client.force_login(alice)
    response = download(client, stored)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"alice's"


def test_user_grant(client, bob, make_file):
    stored = make_file(share_with=bob)
    client.force_login(bob)
    assert download(client, stored).status_code == 200


def test_group_grant(client, bob, reviewers, make_file):
    stored = make_file(share_with=reviewers)
    client.force_login(bob)
    assert download(client, stored).status_code == 200


@pytest.mark.parametrize("to_group", [False, True], ids=["user", "group"])
def test_expired_grant_is_no_grant(client, bob, reviewers, make_file, to_group):
    stored = make_file()
    Grant.objects.create(
        file=stored,
        user=None if to_group else bob,
        group=reviewers if to_group else None,
        expires_at=timezone.now() - timedelta(seconds=1),
    )
    client.force_login(bob)
    assert download(client, stored).status_code == 404


def test_grant_until_a_future_date(client, bob, make_file):
    stored = make_file()
    Grant.objects.create(file=stored, user=bob, expires_at=timezone.now() + timedelta(days=1))
    client.force_login(bob)
    assert download(client, stored).status_code == 200


def test_other_user_gets_404(client, carol, bob, make_file):
    stored = make_file(share_with=bob)
    client.force_login(carol)
    assert download(client, stored).status_code == 404


def test_anonymous_is_sent_to_log_in(client, make_file):
    stored = make_file()
    response = download(client, stored)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert "hello" not in response.content.decode()


def test_staff_without_permission_gets_404(client, make_file):
    staff = User.objects.create_user("staff", password="pw", is_staff=True)
    stored = make_file()
    client.force_login(staff)
    assert download(client, stored).status_code == 404


@pytest.mark.parametrize("via_group", [False, True], ids=["own-permission", "group-permission"])
def test_staff_with_permission_gets_the_bytes(client, make_file, reviewers, via_group):
    staff = User.objects.create_user("staff", password="pw", is_staff=True)
    permission = Permission.objects.get(codename="download_any")
    if via_group:
        reviewers.permissions.add(permission)
        staff.groups.add(reviewers)
    else:
        staff.user_permissions.add(permission)
    stored = make_file()
    client.force_login(staff)
    assert download(client, stored).status_code == 200


def test_permission_without_staff_status_is_not_enough(client, make_file):
    user = User.objects.create_user("dave", password="pw")
    user.user_permissions.add(Permission.objects.get(codename="download_any"))
    stored = make_file()
    client.force_login(user)
    assert download(client, stored).status_code == 404


def test_superuser_gets_the_bytes(client, make_file):
    root = User.objects.create_superuser("root", password="pw")
    stored = make_file()
    client.force_login(root)
    assert download(client, stored).status_code == 200


def test_forbidden_and_missing_files_give_identical_404s(client, carol, make_file):
    stored = make_file()
    client.force_login(carol)
    forbidden = download(client, stored)
    stored_id = stored.pk
    stored.delete()
    missing = client.get(reverse("downloads:download", args=[stored_id]))
    assert forbidden.status_code == missing.status_code == 404
    assert forbidden.content == missing.content
    assert sorted(forbidden.items()) == sorted(missing.items())


def test_policy_is_one_query_whatever_the_grants(django_assert_num_queries, bob, make_file):
    from django.contrib.auth.models import Group

    stored = make_file()
    for n in range(5):
        group = Group.objects.create(name=f"g{n}")
        group.user_set.add(bob)
        Grant.objects.create(file=stored, group=group)
    with django_assert_num_queries(1):
        assert downloadable_files(bob).filter(pk=stored.pk).count() == 1


def test_grants_do_not_duplicate_rows(bob, reviewers, make_file):
    stored = make_file(share_with=bob)
    Grant.objects.create(file=stored, group=reviewers)
    assert list(downloadable_files(bob)) == [stored]


def test_download_view_query_count(client, bob, reviewers, make_file, django_assert_num_queries):
    stored = make_file(share_with=reviewers)
    client.force_login(bob)
    # session, user, the access check, the log row (in a savepoint: 2 more).
    with django_assert_num_queries(6) as captured:
        response = download_whole(client, stored)
    assert len(without_savepoints(captured.captured_queries)) == 4
    assert response.status_code == 200


@pytest.mark.parametrize("groups", [1, 25])
def test_access_and_log_cost_two_queries_whatever_the_groups(
    client, bob, make_file, django_assert_num_queries, groups
):
    from django.contrib.auth.models import Group

    stored = make_file()
    for n in range(groups):
        group = Group.objects.create(name=f"readers-{n}")
        group.user_set.add(bob)
        Grant.objects.create(file=stored, group=group)
    for n in range(groups):
        other = make_file(name=f"other-{n}.txt")
        Grant.objects.create(file=other, user=bob)
    client.force_login(bob)
    download_whole(client, stored)  # the access check is compiled on first use, once per process
    # Django's own two (the session, the user), then ours: the access check and the log row.
    with django_assert_num_queries(6) as captured:
        response = download_whole(client, stored)
    assert response.status_code == 200
    ours = without_savepoints(captured.captured_queries)[2:]
    assert len(ours) == 2
    assert "downloads_grant" in ours[0]
    assert 'INSERT INTO "downloads_downloadlog"' in ours[1]


def _everyone(make_file, alice, bob, carol, reviewers):
    staff = User.objects.create_user("staff", password="pw", is_staff=True)
    trusted = User.objects.create_user("trusted", password="pw", is_staff=True)
    trusted.user_permissions.add(Permission.objects.get(codename="download_any"))
    root = User.objects.create_superuser("root", password="pw")
    soon = timezone.now() + timedelta(hours=1)
    past = timezone.now() - timedelta(seconds=1)
    files = [
        make_file(name="own.txt"),
        make_file(name="to-bob.txt", share_with=bob),
        make_file(name="to-group.txt", share_with=reviewers),
        make_file(name="carols.txt", owner=carol),
    ]
    Grant.objects.create(file=files[0], user=carol, expires_at=past)
    Grant.objects.create(file=files[3], group=reviewers, expires_at=soon)
    return [alice, bob, carol, staff, trusted, root], files


def test_one_file_check_agrees_with_the_policy(make_file, alice, bob, carol, reviewers):
    from django.contrib.auth.models import AnonymousUser

    from downloads.access import downloadable_file

    users, files = _everyone(make_file, alice, bob, carol, reviewers)
    for user in [*users, AnonymousUser()]:
        allowed = set(downloadable_files(user))
        for stored in files:
            found = downloadable_file(user, stored.pk)
            assert found == (stored if stored in allowed else None), (user, stored.name)
            if found is not None:
                assert (found.name, found.size, found.updated) == (
                    stored.name,
                    stored.size,
                    stored.updated,
                )


def test_one_file_check_reads_the_clock_on_every_call(make_file, bob):
    from downloads.access import downloadable_file

    stored = make_file()
    Grant.objects.create(file=stored, user=bob, expires_at=timezone.now() + timedelta(hours=1))
    assert downloadable_file(bob, stored.pk) == stored
    Grant.objects.filter(file=stored).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert downloadable_file(bob, stored.pk) is None


def test_one_file_check_of_a_missing_id(bob):
    import uuid

    from downloads.access import downloadable_file

    assert downloadable_file(bob, uuid.uuid4()) is None
