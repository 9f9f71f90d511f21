"""Private pages are never cached: every answer without a Cache-Control of its own is
`private, no-store` (downloads/cachecontrol.py); downloads and public assets keep their own."""

import uuid

import pytest
from django.contrib.auth.models import User
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from downloads.cachecontrol import PRIVATE_PAGE

pytestmark = pytest.mark.django_db


@pytest.fixture
def stored(make_file, alice):
    return make_file(b"private bytes", name="secret plan.txt", owner=alice)


def page(client, stored, what: str):
    detail = reverse("downloads:file-detail", args=[stored.pk])
    requests = {
        "list": lambda: client.get("/"),
        "search": lambda: client.get("/", {"q": "secret"}),
        "list page 2": lambda: client.get("/", {"page": "2"}),
        "api": lambda: client.get("/api/files/"),
        "api search": lambda: client.get("/api/files/", {"q": "secret"}),
        "api bad page": lambda: client.get("/api/files/", {"page": "x"}),
        "detail": lambda: client.get(detail),
        "someone else's detail (404)": lambda: client.get(
            reverse("downloads:file-detail", args=[uuid.uuid4()])
        ),
        "unknown path (404)": lambda: client.get("/no/such/page"),
        "media path (404)": lambda: client.get("/media/" + stored.file.name),
        "csv export": lambda: client.get(reverse("downloads:files-csv")),
        "zip": lambda: client.post(reverse("downloads:zip"), {"file": str(stored.pk)}),
        "zip without files (400)": lambda: client.post(reverse("downloads:zip"), {}),
        "list with POST (405)": lambda: client.post("/"),
        "api without slash (301)": lambda: client.get("/api/files"),
    }
    return requests[what]()


LOGGED_IN_PAGES = [
    "list",
    "search",
    "list page 2",
    "api",
    "api search",
    "api bad page",
    "detail",
    "someone else's detail (404)",
    "unknown path (404)",
    "media path (404)",
    "csv export",
    "zip",
    "zip without files (400)",
    "list with POST (405)",
    "api without slash (301)",
]


@pytest.mark.parametrize("what", LOGGED_IN_PAGES)
def test_logged_in_pages_are_private_and_not_stored(alice_client, stored, what):
    response = page(alice_client, stored, what)
    assert response["Cache-Control"] == PRIVATE_PAGE, response.status_code
    if what in ("list", "search", "detail", "api", "api search"):
        assert response.status_code == 200
        # The page has what must not be kept: the file's name.
        assert b"secret plan.txt" in response.content


@pytest.mark.parametrize(
    ("path", "status"),
    [
        pytest.param("/", 302, id="list-redirects-to-login"),
        pytest.param("/api/files/", 403, id="api-403"),
        pytest.param("/files.csv", 302, id="csv-redirects-to-login"),
    ],
)
def test_anonymous_answers_are_private_too(client, path, status):
    response = client.get(path)
    assert response.status_code == status
    assert response["Cache-Control"] == PRIVATE_PAGE


def cache_directives(response) -> set[str]:
    return {part.strip() for part in response["Cache-Control"].split(",")}


def test_login_page_keeps_django_s_never_cache(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    # Django's never_cache says more than the default would; the middleware leaves it alone.
    assert {"private", "no-store", "no-cache", "max-age=0"} <= cache_directives(response)


def test_admin_pages_keep_django_s_never_cache(admin_client, stored):
    for url in (
        reverse("admin:index"),
        reverse("admin:downloads_storedfile_changelist"),
        reverse("admin:downloads_downloadlog_changelist"),
    ):
        response = admin_client.get(url)
        assert response.status_code == 200
        assert {"private", "no-store"} <= cache_directives(response), url


def test_downloads_keep_their_own_no_cache(alice_client, stored):
    url = reverse("downloads:download", args=[stored.pk])
    response = alice_client.get(url)
    assert response.status_code == 200
    assert response["Cache-Control"] == "private, no-cache"
    revalidated = alice_client.get(url, HTTP_IF_NONE_MATCH=response["ETag"])
    assert revalidated.status_code == 304
    assert revalidated["Cache-Control"] == "private, no-cache"


def test_a_missing_download_is_a_private_404(alice_client):
    response = alice_client.get(reverse("downloads:download", args=[uuid.uuid4()]))
    assert response.status_code == 404
    assert response["Cache-Control"] == PRIVATE_PAGE


def every_route(resolver: URLResolver, prefix: str = "") -> list[tuple[str, URLPattern]]:
    routes = []
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            routes.extend(every_route(entry, prefix + str(entry.pattern)))
        else:
            routes.append((prefix + str(entry.pattern), entry))
    return routes


def test_every_route_outside_the_admin_is_private(client, stored, alice: User):
    """A view added later gets the header without anyone remembering: each route, GET and POST."""
    checked = []
    for route, _pattern in every_route(get_resolver()):
        if route.startswith("admin/"):
            continue  # Django's admin_view adds never_cache to every admin page
        path = "/" + route.replace("<uuid:file_id>", str(stored.pk))
        # The download route takes any id (a malformed one is logged as denied).
        path = path.replace("<str:file_id>", str(stored.pk))
        path = path.replace("<int:token_id>", "1")  # no such token: the 404 must be private too
        # Share links: a token that opens nothing, a link id that is nobody's.
        path = path.replace("<str:token>", "x" * 43).replace("<int:link_id>", "1")
        # Signed media URLs: a token with no valid signature (403).
        path = path.replace("<path:token>", "x" * 43)
        assert "<" not in path, f"a converter this test does not fill: {route}"
        for method in (client.get, client.post):
            client.force_login(alice)  # again: the logout route's POST logs out
            response = method(path)
            assert "private" in cache_directives(response), (path, response.status_code)
            assert cache_directives(response) & {"no-store", "no-cache"}, path
        checked.append(path)
    assert len(checked) >= 8
