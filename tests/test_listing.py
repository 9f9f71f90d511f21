"""My files, the API and the CSV export narrow the policy's query to the user's grants first
(downloads/listing.py): it must list exactly what the policy allows, for every kind of user."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import AnonymousUser, Group, Permission, User
from django.utils import timezone

from downloads import listing
from downloads.access import downloadable_files
from downloads.listing import FilesPaginator, decided_files, listable_files
from downloads.models import Grant
from downloads.selection import SearchTooLongError, search_files

pytestmark = pytest.mark.django_db


@pytest.fixture
def files(make_file, alice, bob, carol, reviewers):
    """A file for each way there is to reach one, and one nobody but alice reaches."""
    made = {
        "bob owns": make_file(name="bob owns.txt", owner=bob),
        "to bob": make_file(name="to bob.txt", share_with=bob),
        "to reviewers": make_file(name="to reviewers.txt", share_with=reviewers),
        "alice only": make_file(name="alice only.txt"),
        "expired for bob": make_file(name="expired.txt"),
        "expired for reviewers": make_file(name="expired group.txt"),
        "later for bob": make_file(name="later.txt"),
    }
    yesterday, tomorrow = timezone.now() - timedelta(days=1), timezone.now() + timedelta(days=1)
    Grant.objects.create(file=made["expired for bob"], user=bob, expires_at=yesterday)
    Grant.objects.create(file=made["expired for reviewers"], group=reviewers, expires_at=yesterday)
    Grant.objects.create(file=made["later for bob"], user=bob, expires_at=tomorrow)
    # Carol is in another group with grants of its own, and in reviewers too.
    others = Group.objects.create(name="others")
    others.user_set.add(carol)
    Grant.objects.create(file=made["alice only"], group=others, expires_at=yesterday)
    return made


def staff(name: str, *, download_any: bool = False, superuser: bool = False) -> User:
    user = User.objects.create_user(name, is_staff=True, is_superuser=superuser)
    if download_any:
        user.user_permissions.add(Permission.objects.get(codename="download_any"))
    return user


def users(alice, bob, carol):
    return {
        "owner": alice,
        "grants and a group": bob,
        "only an expired group grant": carol,
        "stranger": User.objects.create_user("stranger"),
        "staff": staff("clerk"),
        "staff with download_any": staff("manager", download_any=True),
        "superuser": staff("root", superuser=True),
        "anonymous": AnonymousUser(),
    }


def test_every_kind_of_user_gets_exactly_what_the_policy_allows(files, alice, bob, carol):
    for kind, user in users(alice, bob, carol).items():
        listed = set(listable_files(user).values_list("pk", flat=True))
        allowed = set(downloadable_files(user).values_list("pk", flat=True))
        assert listed == allowed, kind


@pytest.mark.parametrize("max_listed_ids", [listing.MAX_LISTED_IDS, 1])
def test_decided_once_or_past_the_listed_ids_the_same_files(
    files, alice, bob, carol, monkeypatch, max_listed_ids
):
    # Past MAX_LISTED_IDS the list stays the policy's query instead of its ids.
    monkeypatch.setattr(listing, "MAX_LISTED_IDS", max_listed_ids)
    for kind, user in users(alice, bob, carol).items():
        listed = set(decided_files(user).files.values_list("pk", flat=True))
        allowed = set(downloadable_files(user).values_list("pk", flat=True))
        assert listed == allowed, kind


def test_the_policy_decides_once_for_a_page_and_its_count(files, bob, django_assert_num_queries):
    decided = decided_files(bob)
    # The ids were decided when the list was made: their number is the count, and the page
    # asks for its rows among those ids.
    assert decided.count == 4
    paginator = FilesPaginator(decided.files, 2, decided.count)
    with django_assert_num_queries(1) as captured:
        assert paginator.count == 4
        assert len(list(paginator.page(1).object_list)) == 2
    assert all("downloads_grant" not in query["sql"] for query in captured.captured_queries)


@pytest.mark.parametrize("query", ["to", "TO", "  later ", "nothing like it", ""])
def test_a_search_is_decided_with_the_ids(files, bob, query):
    decided = decided_files(bob, query)
    expected = set(search_files(downloadable_files(bob), query).values_list("name", flat=True))
    assert set(decided.files.values_list("name", flat=True)) == expected
    assert decided.count == len(expected)


def test_past_the_listed_ids_the_database_counts(files, bob, monkeypatch):
    monkeypatch.setattr(listing, "MAX_LISTED_IDS", 1)
    decided = decided_files(bob, "to")
    assert decided.count is None
    assert FilesPaginator(decided.files, 2, decided.count).count == 2


def test_staff_keep_the_query(files, alice):
    decided = decided_files(staff("sam", download_any=True))
    assert decided.count is None
    assert decided.files.count() == len(files)


def test_an_over_long_search_is_refused_before_any_query(bob, django_assert_num_queries):
    with django_assert_num_queries(0), pytest.raises(SearchTooLongError):
        decided_files(bob, "x" * 10_000)


def test_bob_sees_his_own_his_grants_and_his_groups(files, bob):
    names = set(listable_files(bob).values_list("name", flat=True))
    assert names == {"bob owns.txt", "to bob.txt", "to reviewers.txt", "later.txt"}


def test_a_revoked_grant_leaves_the_list(files, bob, client):
    Grant.objects.filter(file=files["to bob"], user=bob).delete()
    client.force_login(bob)
    listed = {entry["name"] for entry in client.get("/api/files/").json()["results"]}
    assert "to bob.txt" not in listed
    assert "to reviewers.txt" in listed
