"""The admin's "view on site" (/admin/r/<content_type_id>/<object_id>/) tells no staff user which
file ids exist: a file outside the policy is answered byte for byte as a missing one."""

import uuid

import pytest
from django.contrib.auth.models import Permission, User
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse

from downloads.models import StoredFile

pytestmark = pytest.mark.django_db


@pytest.fixture
def clerk(db) -> User:
    user = User.objects.create_user("clerk", password="pw-clerk", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_storedfile", "change_storedfile"])
    )
    return user


def view_on_site(client, object_id, content_type_id=None):
    if content_type_id is None:
        content_type_id = ContentType.objects.get_for_model(StoredFile).pk
    return client.get(reverse("admin:view_on_site", args=[content_type_id, object_id]))


def answer(response) -> tuple[int, bytes, dict[str, str]]:
    return response.status_code, response.content, dict(response.items())


def test_own_file_redirects_to_its_page(client, clerk, make_file):
    mine = make_file(owner=clerk)
    client.force_login(clerk)
    # The change page links there.
    change = client.get(reverse("admin:downloads_storedfile_change", args=[mine.pk])).text
    link = reverse(
        "admin:view_on_site", args=[ContentType.objects.get_for_model(StoredFile).pk, mine.pk]
    )
    assert f'href="{link}"' in change
    response = client.get(link)
    assert response.status_code == 302
    assert response["Location"] == f"http://testserver{mine.get_absolute_url()}"


@pytest.mark.parametrize(
    "absent",
    [
        pytest.param(lambda: str(uuid.uuid4()), id="missing-uuid"),
        pytest.param(lambda: "not-a-uuid", id="not-an-id"),
    ],
)
def test_a_file_outside_the_policy_answers_as_a_missing_one(client, clerk, make_file, absent):
    hidden = make_file(name="alice's.txt")
    client.force_login(clerk)
    outside = view_on_site(client, hidden.pk)
    missing = view_on_site(client, absent())
    assert outside.status_code == 404
    assert answer(outside) == answer(missing)
    assert hidden.name.encode() not in outside.content


def test_staff_with_download_any_and_superusers_are_redirected(client, clerk, make_file):
    hidden = make_file()
    clerk.user_permissions.add(Permission.objects.get(codename="download_any"))
    client.force_login(clerk)
    assert view_on_site(client, hidden.pk).status_code == 302
    root = User.objects.create_superuser("root", password="pw-root")
    client.force_login(root)
    assert view_on_site(client, hidden.pk)["Location"].endswith(hidden.get_absolute_url())


def test_unknown_content_types_are_django_s_404(client, clerk):
    client.force_login(clerk)
    assert view_on_site(client, "1", content_type_id=999999).status_code == 404
    assert view_on_site(client, "1", content_type_id="x").status_code == 404


def test_users_who_are_not_staff_are_sent_to_the_admin_login(client, alice, make_file):
    stored = make_file(owner=alice)
    client.force_login(alice)
    existing = view_on_site(client, stored.pk)
    missing = view_on_site(client, uuid.uuid4())
    assert existing.status_code == missing.status_code == 302
    assert existing["Location"].startswith(reverse("admin:login"))
    assert missing["Location"].startswith(reverse("admin:login"))
