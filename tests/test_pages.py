"""The pages (My files, a file's page, login, 404) and the JSON list for scripts."""

import json
import uuid
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from downloads.models import Grant, StoredFile

pytestmark = pytest.mark.django_db

LIST_URL = reverse("downloads:file-list")
API_URL = reverse("downloads:api-files")
LOGIN_URL = reverse("login")
PDF = b"%PDF-1.7\n" + b"0" * 100
HTML = b"<!doctype html><html><script>alert(1)</script></html>"


@pytest.fixture
def library(make_file, alice, bob, carol, reviewers):
    """Files around bob: his own, one shared with him, one via his group, others he can't see."""
    return {
        "own": make_file(b"bob's own", name="bob notes.txt", owner=bob),
        "direct": make_file(PDF, name="Quarterly report.pdf", share_with=bob),
        "group": make_file(
            b"\x89PNG\r\n\x1a\n" + bytes(40), name="harbour.png", share_with=reviewers
        ),
        "alice": make_file(b"alice only", name="alice diary.txt"),
        "carol": make_file(b"carol's", name="carol plans.txt", owner=carol),
        "expired": _expired(make_file(b"gone", name="old share.txt"), bob),
    }


def _expired(stored: StoredFile, user) -> StoredFile:
    Grant.objects.create(file=stored, user=user, expires_at=timezone.now() - timedelta(minutes=1))
    return stored


@pytest.fixture
def bob_client(client, bob):
    client.force_login(bob)
    return client


def listed_names(response) -> list[str]:
    return [stored.name for stored in response.context["page"].object_list]


# --- My files ---------------------------------------------------------------------------------


def test_my_files_lists_own_and_shared_files_only(bob_client, library):
    response = bob_client.get(LIST_URL)
    assert response.status_code == 200
    assert sorted(listed_names(response)) == sorted(
        ["bob notes.txt", "Quarterly report.pdf", "harbour.png"]
    )
    for hidden in ("alice diary", "carol plans", "old share"):
        assert hidden not in response.text


def test_my_files_shows_name_type_size_date_and_owner(bob_client, library):
    html = bob_client.get(LIST_URL).text
    report = library["direct"]
    assert f'<a href="{report.get_absolute_url()}">Quarterly report.pdf</a>' in html
    assert "application/pdf" in html
    assert "109\xa0bytes" in html
    assert f"{report.updated:%Y-%m-%d %H:%M}" in html
    assert "<td>alice</td>" in html  # a shared file names its owner
    assert "<td>me</td>" in html  # bob's own file
    assert f'href="{report.get_download_url()}"' in html


def test_names_are_escaped(alice_client, make_file):
    make_file(name="<img src=x onerror=alert(1)>.txt")
    html = alice_client.get(LIST_URL).text
    assert "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;.txt" in html


def test_search_by_name(bob_client, library):
    assert listed_names(bob_client.get(LIST_URL, {"q": "REPORT"})) == ["Quarterly report.pdf"]
    # Only among his own files: another's match stays hidden.
    assert listed_names(bob_client.get(LIST_URL, {"q": "diary"})) == []
    response = bob_client.get(LIST_URL, {"q": "no such file"})
    assert "No file matches" in response.text


def test_pagination(bob_client, bob, make_file, settings):
    settings.DOWNLOADS_PAGE_SIZE = 2
    for n in range(5):
        make_file(name=f"file {n}.txt", owner=bob)
    first = bob_client.get(LIST_URL)
    assert len(listed_names(first)) == 2
    assert "Page 1 of 3" in first.text
    assert 'href="?page=2"' in first.text
    last = bob_client.get(LIST_URL, {"page": "3"})
    assert len(listed_names(last)) == 1
    seen = {*listed_names(first), *listed_names(bob_client.get(LIST_URL, {"page": "2"}))}
    assert len(seen | set(listed_names(last))) == 5


def test_pagination_keeps_the_search(bob_client, bob, make_file, settings):
    settings.DOWNLOADS_PAGE_SIZE = 1
    make_file(name="match one.txt", owner=bob)
    make_file(name="match two.txt", owner=bob)
    make_file(name="other.txt", owner=bob)
    response = bob_client.get(LIST_URL, {"q": "match"})
    assert "Page 1 of 2" in response.text
    assert 'href="?q=match&amp;page=2"' in response.text


@pytest.mark.parametrize("page", ["abc", "0", "-1", "999", ""])
def test_odd_page_numbers_show_a_page_not_an_error(bob_client, library, settings, page):
    settings.DOWNLOADS_PAGE_SIZE = 2
    response = bob_client.get(LIST_URL, {"page": page})
    assert response.status_code == 200
    assert listed_names(response)


def test_anonymous_is_sent_to_log_in(client):
    response = client.get(LIST_URL)
    assert response.status_code == 302
    assert response["Location"] == f"{LOGIN_URL}?next={LIST_URL}"


# --- a file's page ----------------------------------------------------------------------------


def test_file_page_shows_details_and_buttons(bob_client, library):
    report = library["direct"]
    response = bob_client.get(report.get_absolute_url())
    assert response.status_code == 200
    html = response.text
    for fact in ("Quarterly report.pdf", "application/pdf", "109\xa0bytes", report.sha256, "alice"):
        assert fact in html, fact
    assert f'<a class="button" href="{report.get_download_url()}">Download</a>' in html
    assert f'href="{report.get_download_url()}?inline=1"' in html
    assert ">Open</a>" in html


@pytest.mark.parametrize(
    ("content", "name"),
    [
        (HTML, "page.html"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"></svg>', "logo.svg"),
        (b"<?xml version='1.0'?><a/>", "data.xml"),
        (bytes(range(256)), "blob.bin"),
    ],
)
def test_no_open_button_for_types_that_must_not_render(alice_client, make_file, content, name):
    stored = make_file(content, name=name)
    html = alice_client.get(stored.get_absolute_url()).text
    assert ">Download</a>" in html
    assert ">Open</a>" not in html
    assert "inline=1" not in html


def test_forbidden_and_missing_file_pages_are_the_same_404(bob_client, library):
    forbidden = bob_client.get(library["alice"].get_absolute_url())
    missing = bob_client.get(reverse("downloads:file-detail", args=[uuid.uuid4()]))
    expired = bob_client.get(library["expired"].get_absolute_url())
    assert forbidden.status_code == missing.status_code == expired.status_code == 404
    assert forbidden.content == missing.content == expired.content
    assert "404.html" in [t.name for t in missing.templates]
    assert b"Not found" in missing.content


def test_unknown_url_gets_our_404_page(bob_client, client):
    for who in (bob_client, client):
        response = who.get("/no/such/page/")
        assert response.status_code == 404
        assert b"<h1>Not found</h1>" in response.content
        assert b"Traceback" not in response.content


@pytest.mark.parametrize("who", ["anonymous", "owner", "superuser"])
def test_media_is_never_served(client, alice, make_file, private_media, settings, who):
    stored = make_file(b"private bytes")
    assert (private_media / stored.file.name).read_bytes() == b"private bytes"
    if who == "owner":
        client.force_login(alice)
    elif who == "superuser":
        client.force_login(alice.__class__.objects.create_superuser("root", password="pw"))
    for path in (
        f"{settings.MEDIA_URL}{stored.file.name}",
        f"/media/{stored.file.name}",
        "/media/",
        "/media/../media/x",
        "/media/anything.txt",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert b"private bytes" not in response.content


# --- logging in and out -----------------------------------------------------------------------


@pytest.fixture
def browser(db) -> Client:
    """A client that, like a browser, must carry the CSRF token."""
    return Client(enforce_csrf_checks=True)


def post_login(browser: Client, username: str, password: str, next_url: str = ""):
    page = browser.get(LOGIN_URL, {"next": next_url} if next_url else {})
    assert page.status_code == 200
    token = browser.cookies["csrftoken"].value
    data = {"username": username, "password": password, "csrfmiddlewaretoken": token}
    if next_url:
        data["next"] = next_url
    return browser.post(LOGIN_URL, data)


def test_log_in_and_out_through_the_forms(browser, bob, library):
    response = post_login(browser, "bob", "pw-bob")
    assert response.status_code == 302
    assert response["Location"] == LIST_URL
    assert browser.get(LIST_URL).status_code == 200

    page = browser.get(LIST_URL)
    assert f'action="{reverse("logout")}"' in page.text
    token = browser.cookies["csrftoken"].value
    # Logging out is a POST (with its CSRF token), never a link a third party can trigger.
    assert browser.get(reverse("logout")).status_code == 405
    assert browser.post(reverse("logout")).status_code == 403
    response = browser.post(reverse("logout"), {"csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert response["Location"] == LOGIN_URL
    assert browser.get(LIST_URL).status_code == 302


def test_log_in_returns_to_the_page_asked_for(browser, bob, library):
    wanted = library["direct"].get_absolute_url()
    response = post_login(browser, "bob", "pw-bob", next_url=wanted)
    assert response["Location"] == wanted


def test_log_in_does_not_redirect_off_site(browser, bob):
    response = post_login(browser, "bob", "pw-bob", next_url="https://evil.example/")
    assert response["Location"] == LIST_URL


def test_a_wrong_password_is_a_form_error(browser, bob):
    response = post_login(browser, "bob", "wrong")
    assert response.status_code == 200
    assert "didn't match" in response.text
    assert browser.get(LIST_URL).status_code == 302


def test_login_without_csrf_token_is_refused(browser, bob):
    response = browser.post(LOGIN_URL, {"username": "bob", "password": "pw-bob"})
    assert response.status_code == 403


# --- the JSON list ----------------------------------------------------------------------------


def api(client, **params):
    response = client.get(API_URL, params)
    assert response["Content-Type"].startswith("application/json")
    return response, json.loads(response.content)


def test_api_lists_what_the_page_lists(bob_client, library):
    response, data = api(bob_client)
    assert response.status_code == 200
    assert data["count"] == 3
    assert data["next"] is None
    assert data["previous"] is None
    page_names = sorted(listed_names(bob_client.get(LIST_URL)))
    assert sorted(item["name"] for item in data["results"]) == page_names

    (report,) = [item for item in data["results"] if item["name"] == "Quarterly report.pdf"]
    stored = library["direct"]
    assert report["id"] == str(stored.pk)
    assert report["size"] == len(PDF)
    assert report["content_type"] == "application/pdf"
    assert report["sha256"] == stored.sha256
    assert report["modified"] == stored.updated.isoformat()
    assert report["download_url"] == f"http://testserver{stored.get_download_url()}"
    download = bob_client.get(report["download_url"])
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == PDF


def test_api_search(bob_client, library):
    _, data = api(bob_client, q="harbour")
    assert [item["name"] for item in data["results"]] == ["harbour.png"]


def test_api_pagination(bob_client, bob, make_file, settings):
    settings.DOWNLOADS_PAGE_SIZE = 2
    for n in range(5):
        make_file(name=f"match {n}.txt", owner=bob)
    _, first = api(bob_client, q="match")
    assert first["count"] == 5
    assert len(first["results"]) == 2
    assert first["previous"] is None
    assert first["next"] == f"http://testserver{API_URL}?q=match&page=2"

    _, second = api(bob_client, q="match", page="2")
    assert second["previous"] == f"http://testserver{API_URL}?q=match&page=1"
    assert second["next"] == f"http://testserver{API_URL}?q=match&page=3"

    _, last = api(bob_client, q="match", page="3")
    assert last["next"] is None
    assert len(last["results"]) == 1
    every = [item["id"] for page in (first, second, last) for item in page["results"]]
    assert len(set(every)) == 5


@pytest.mark.parametrize("page", ["abc", "1.5", "2e3", "page2"])
def test_api_invalid_page_is_a_400(bob_client, library, page):
    response, data = api(bob_client, page=page)
    assert response.status_code == 400
    assert "page" in data["detail"]


@pytest.mark.parametrize("page", ["0", "-1", "2", "99999999999999999999"])
def test_api_page_out_of_range_is_a_404(bob_client, library, page):
    response = bob_client.get(API_URL, {"page": page})
    assert response.status_code == 404
    assert response.json() == {"detail": "No such page."}


def test_api_empty_list_is_one_empty_page(client, carol):
    client.force_login(carol)
    response, data = api(client)
    assert response.status_code == 200
    assert data == {"count": 0, "next": None, "previous": None, "results": []}


def test_api_anonymous_gets_403_json_not_a_redirect(client, library):
    response, data = api(client)
    assert response.status_code == 403
    assert "Location" not in response
    assert data["detail"]


def test_api_refuses_writes(bob_client):
    assert bob_client.post(API_URL).status_code == 405


def test_api_non_ascii_names_are_plain_utf8(alice_client, make_file):
    make_file(name="résumé 2024.txt")
    make_file(name="報告書.pdf")
    response, data = api(alice_client)
    assert "résumé 2024.txt".encode() in response.content
    assert "報告書.pdf".encode() in response.content
    assert b"\\u" not in response.content
    assert {item["name"] for item in data["results"]} == {"résumé 2024.txt", "報告書.pdf"}
