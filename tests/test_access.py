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
    # session, user, the access check, the log row.
    with django_assert_num_queries(4):
        response = download(client, stored)
    assert response.status_code == 200
