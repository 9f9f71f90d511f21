"""Over-long searches are a 400 with a short message on every entry point that searches, never
a database error (SQLite: "LIKE or GLOB pattern too complex" past 50,000 bytes)."""

import pytest
from django.urls import reverse

from downloads.selection import MAX_SEARCH_LENGTH

pytestmark = pytest.mark.django_db

HUGE = "x" * 60_000
AT_LIMIT = "y" * MAX_SEARCH_LENGTH
OVER = "z" * (MAX_SEARCH_LENGTH + 1)
MESSAGE = f"A search may be at most {MAX_SEARCH_LENGTH} characters long"

ADMIN_CHANGELISTS = [
    "admin:downloads_storedfile_changelist",
    "admin:downloads_downloadlog_changelist",
    "admin:downloads_downloadlog_export",
    "admin:auth_user_changelist",
    "admin:auth_group_changelist",
    "admin:axes_accessattempt_changelist",
    "admin:axes_accesslog_changelist",
]


@pytest.fixture
def user_client(alice_client, make_file):
    make_file(name="report.pdf")
    return alice_client


def site_search(client, q):
    return {
        "list": client.get("/", {"q": q}),
        "api": client.get(reverse("downloads:api-files"), {"q": q}),
        "csv": client.get(reverse("downloads:files-csv"), {"q": q}),
        "zip": client.post(reverse("downloads:zip"), {"all": "1", "q": q}),
    }


@pytest.mark.parametrize("q", [HUGE, OVER])
def test_every_site_entry_point_answers_400(user_client, q):
    for where, response in site_search(user_client, q).items():
        assert response.status_code == 400, where
        if where == "api":
            assert MESSAGE in response.json()["detail"]
        else:
            assert MESSAGE in response.content.decode(), where


def test_a_search_at_the_limit_is_run(user_client):
    answers = site_search(user_client, AT_LIMIT)
    assert answers["list"].status_code == 200
    assert answers["api"].json()["count"] == 0
    assert answers["csv"].status_code == 200
    assert answers["zip"].status_code == 400  # nothing matches: "No file to put in a zip."
    assert "No file to put in a zip" in answers["zip"].content.decode()


def test_spaces_around_a_search_do_not_count(user_client):
    response = user_client.get(reverse("downloads:api-files"), {"q": f"  {AT_LIMIT}  "})
    assert response.status_code == 200


@pytest.mark.parametrize("changelist", ADMIN_CHANGELISTS)
@pytest.mark.parametrize("q", [HUGE, OVER])
def test_every_admin_changelist_answers_400(admin_client, changelist, q):
    response = admin_client.get(reverse(changelist), {"q": q})
    assert response.status_code == 400
    assert MESSAGE in response.content.decode()


@pytest.mark.parametrize("changelist", ADMIN_CHANGELISTS)
def test_admin_search_at_the_limit_is_run(admin_client, changelist):
    assert admin_client.get(reverse(changelist), {"q": AT_LIMIT}).status_code == 200


def test_the_admin_autocomplete_answers_400(admin_client):
    params = {
        "app_label": "downloads",
        "model_name": "storedfile",
        "field_name": "owner",
        "term": HUGE,
    }
    response = admin_client.get(reverse("admin:autocomplete"), params)
    assert response.status_code == 400
    assert MESSAGE in response.content.decode()
