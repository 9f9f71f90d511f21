"""The admin, through Django's test client: upload, replace, delete, grants, the log, the policy."""

import re
from datetime import timedelta

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission, User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from downloads.models import DownloadLog, Grant, StoredFile
from tests.conftest import sha256, stored_keys

pytestmark = pytest.mark.django_db

ADD_URL = reverse("admin:downloads_storedfile_add")
LIST_URL = reverse("admin:downloads_storedfile_changelist")
PDF = b"%PDF-1.7\n" + b"0" * 100


def change_url(stored: StoredFile) -> str:
    return reverse("admin:downloads_storedfile_change", args=[stored.pk])


def grant_rows(rows: list[dict], initial: int = 0) -> dict[str, str]:
    """The grants inline's management form and rows, as the browser posts them."""
    data = {
        "grants-TOTAL_FORMS": str(len(rows)),
        "grants-INITIAL_FORMS": str(initial),
        "grants-MIN_NUM_FORMS": "0",
        "grants-MAX_NUM_FORMS": "1000",
    }
    for n, row in enumerate(rows):
        data.update({f"grants-{n}-{field}": value for field, value in row.items()})
    return data


def file_form(owner: User, upload=None, rows: list[dict] = (), initial: int = 0, **fields):
    data = {"name": "", "description": "", "owner": str(owner.pk), **fields}
    if upload is not None:
        data["file"] = upload
    return {**data, **grant_rows(list(rows), initial)}


def existing_grant_rows(stored: StoredFile) -> list[dict]:
    rows = []
    for grant in stored.grants.order_by("pk"):
        rows.append(
            {
                "id": str(grant.pk),
                "file": str(stored.pk),
                "user": str(grant.user_id or ""),
                "group": str(grant.group_id or ""),
                "expires_at_0": f"{grant.expires_at:%Y-%m-%d}" if grant.expires_at else "",
                "expires_at_1": f"{grant.expires_at:%H:%M:%S}" if grant.expires_at else "",
            }
        )
    return rows


def form_errors(response) -> str:
    """Every error the admin page shows, as text, for assertion messages."""
    return " | ".join(re.findall(r'class="errorlist[^"]*"[^>]*>(.*?)</ul>', response.text, re.S))


# --- upload, replace, delete -----------------------------------------------------------------


def test_upload_with_a_user_grant_and_a_group_grant(
    admin_client, alice, bob, reviewers, private_media, django_capture_on_commit_callbacks
):
    until = (timezone.now() + timedelta(days=7)).replace(second=0, microsecond=0)
    data = file_form(
        alice,
        SimpleUploadedFile("Quarterly report.pdf", PDF, content_type="text/html"),
        rows=[
            {"user": str(bob.pk), "group": ""},
            {
                "user": "",
                "group": str(reviewers.pk),
                "expires_at_0": f"{until:%Y-%m-%d}",
                "expires_at_1": f"{until:%H:%M}",
            },
        ],
        description="Q3",
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(ADD_URL, data)
    assert response.status_code == 302, form_errors(response)

    stored = StoredFile.objects.get()
    assert (stored.name, stored.owner, stored.description) == ("Quarterly report.pdf", alice, "Q3")
    # The browser's claimed type is ignored: the bytes say PDF.
    assert stored.content_type == "application/pdf"
    assert (stored.size, stored.sha256) == (len(PDF), sha256(PDF))
    assert list(stored_keys(private_media)) == [stored.file.name]
    assert (private_media / stored.file.name).read_bytes() == PDF
    by_user = Grant.objects.get(file=stored, user=bob)
    assert by_user.expires_at is None
    by_group = Grant.objects.get(file=stored, group=reviewers)
    assert by_group.expires_at == until


def test_add_form_defaults_the_owner_to_the_uploader(admin_client, admin_user):
    response = admin_client.get(ADD_URL)
    assert response.status_code == 200
    assert response.context["adminform"].form.initial["owner"] == admin_user.pk


def test_replacing_the_bytes_in_the_change_form(
    admin_client, alice, bob, private_media, make_file, django_capture_on_commit_callbacks
):
    stored = make_file(b"version one", name="notes.txt", share_with=bob)
    old_key = stored.file.name
    data = file_form(
        alice,
        SimpleUploadedFile("notes-v2.txt", b"version two, longer"),
        rows=existing_grant_rows(stored),
        initial=1,
        name="notes.txt",
    )
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = admin_client.post(change_url(stored), data)
        assert (private_media / old_key).exists(), "old bytes went before the commit"
    assert response.status_code == 302, form_errors(response)
    assert callbacks, "the old bytes' removal waits for the commit"

    stored.refresh_from_db()
    assert stored.name == "notes.txt"
    assert stored.sha256 == sha256(b"version two, longer")
    assert stored.size == len(b"version two, longer")
    assert list(stored_keys(private_media)) == [stored.file.name]
    assert stored.file.name != old_key
    assert Grant.objects.filter(file=stored, user=bob).count() == 1


def test_editing_without_a_new_file_keeps_the_bytes(
    admin_client, alice, private_media, make_file, django_capture_on_commit_callbacks
):
    stored = make_file(b"same bytes", name="a.txt")
    data = file_form(alice, name="renamed.txt", description="now described")
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(change_url(stored), data)
    assert response.status_code == 302, form_errors(response)
    fresh = StoredFile.objects.get(pk=stored.pk)
    assert (fresh.name, fresh.description) == ("renamed.txt", "now described")
    assert (fresh.file.name, fresh.sha256, fresh.updated) == (
        stored.file.name,
        stored.sha256,
        stored.updated,
    )
    assert list(stored_keys(private_media)) == [stored.file.name]


def test_delete_through_the_confirmation_page(
    admin_client, private_media, make_file, django_capture_on_commit_callbacks
):
    stored = make_file(b"to be deleted")
    url = reverse("admin:downloads_storedfile_delete", args=[stored.pk])
    assert admin_client.get(url).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(url, {"post": "yes"})
    assert response.status_code == 302
    assert not StoredFile.objects.exists()
    assert list(stored_keys(private_media)) == []


def test_bulk_delete_action(
    admin_client, bob, private_media, make_file, django_capture_on_commit_callbacks
):
    doomed = [make_file(f"file {n}".encode(), name=f"{n}.txt") for n in range(3)]
    kept = make_file(b"kept", owner=bob)
    selected = {"action": "delete_selected", ACTION_CHECKBOX_NAME: [str(f.pk) for f in doomed]}
    confirm = admin_client.post(LIST_URL, selected)
    assert confirm.status_code == 200
    assert "Are you sure" in confirm.text
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(LIST_URL, {**selected, "post": "yes"})
    assert response.status_code == 302
    assert list(StoredFile.objects.all()) == [kept]
    assert list(stored_keys(private_media)) == [kept.file.name]


def test_an_upload_over_the_limit_is_a_form_error(admin_client, alice, private_media, settings):
    settings.DOWNLOADS_MAX_UPLOAD_BYTES = 10
    response = admin_client.post(
        ADD_URL, file_form(alice, SimpleUploadedFile("big.bin", b"x" * 11))
    )
    assert response.status_code == 200
    assert "the limit is 10" in form_errors(response)
    assert not StoredFile.objects.exists()
    assert list(stored_keys(private_media)) == []


def test_an_upload_at_the_limit_is_fine(admin_client, alice, settings):
    settings.DOWNLOADS_MAX_UPLOAD_BYTES = 10
    response = admin_client.post(ADD_URL, file_form(alice, SimpleUploadedFile("ok.bin", b"x" * 10)))
    assert response.status_code == 302, form_errors(response)
    assert StoredFile.objects.get().size == 10


def test_a_replacement_over_the_limit_keeps_the_old_bytes(
    admin_client, alice, private_media, make_file, settings
):
    stored = make_file(b"small")
    settings.DOWNLOADS_MAX_UPLOAD_BYTES = 10
    data = file_form(alice, SimpleUploadedFile("big.bin", b"x" * 11), name=stored.name)
    response = admin_client.post(change_url(stored), data)
    assert response.status_code == 200
    assert "the limit is 10" in form_errors(response)
    assert StoredFile.objects.get().sha256 == stored.sha256
    assert list(stored_keys(private_media)) == [stored.file.name]


def test_an_add_without_a_file_is_a_form_error(admin_client, alice, private_media):
    response = admin_client.post(ADD_URL, file_form(alice))
    assert response.status_code == 200
    assert "This field is required" in form_errors(response)
    assert not StoredFile.objects.exists()


@pytest.mark.parametrize(
    "row",
    [
        pytest.param({"user": "{bob}", "group": "{reviewers}"}, id="user-and-group"),
        pytest.param(
            {"user": "", "group": "", "expires_at_0": "2030-01-01", "expires_at_1": "10:00"},
            id="neither",
        ),
        pytest.param(
            {"user": "{bob}", "group": "", "expires_at_0": "not a date", "expires_at_1": "x"},
            id="bad-expiry",
        ),
        pytest.param({"user": "999999", "group": ""}, id="unknown-user"),
    ],
)
def test_a_failing_grant_row_stores_nothing(
    admin_client, alice, bob, reviewers, private_media, row
):
    filled = {k: v.format(bob=bob.pk, reviewers=reviewers.pk) for k, v in row.items()}
    data = file_form(alice, SimpleUploadedFile("x.txt", b"orphan?"), rows=[filled])
    response = admin_client.post(ADD_URL, data)
    assert response.status_code == 200
    assert form_errors(response)
    assert not StoredFile.objects.exists()
    assert not Grant.objects.exists()
    assert list(stored_keys(private_media)) == []


def test_two_rows_for_one_user_are_a_form_error_not_a_500(admin_client, alice, bob, private_media):
    rows = [{"user": str(bob.pk), "group": ""}, {"user": str(bob.pk), "group": ""}]
    data = file_form(alice, SimpleUploadedFile("x.txt", b"orphan?"), rows=rows)
    response = admin_client.post(ADD_URL, data)
    assert response.status_code == 200
    assert form_errors(response)
    assert not StoredFile.objects.exists()
    assert list(stored_keys(private_media)) == []


def test_two_rows_for_one_group_are_a_form_error_not_a_500(
    admin_client, alice, reviewers, private_media
):
    rows = [{"user": "", "group": str(reviewers.pk)}, {"user": "", "group": str(reviewers.pk)}]
    data = file_form(alice, SimpleUploadedFile("x.txt", b"orphan?"), rows=rows)
    response = admin_client.post(ADD_URL, data)
    assert response.status_code == 200
    assert form_errors(response)
    assert list(stored_keys(private_media)) == []


def test_a_new_row_repeating_an_existing_grant_is_a_form_error(admin_client, alice, bob, make_file):
    stored = make_file(share_with=bob)
    rows = [*existing_grant_rows(stored), {"user": str(bob.pk), "group": ""}]
    response = admin_client.post(
        change_url(stored), file_form(alice, rows=rows, initial=1, name=stored.name)
    )
    assert response.status_code == 200
    assert "more than one grant" in form_errors(response)
    assert Grant.objects.filter(file=stored).count() == 1


def test_a_grant_can_be_deleted_and_given_again_in_one_save(admin_client, alice, bob, make_file):
    stored = make_file(share_with=bob)
    (existing,) = existing_grant_rows(stored)
    rows = [{**existing, "DELETE": "on"}, {"user": str(bob.pk), "group": ""}]
    response = admin_client.post(
        change_url(stored), file_form(alice, rows=rows, initial=1, name=stored.name)
    )
    assert response.status_code == 302, form_errors(response)
    assert Grant.objects.filter(file=stored, user=bob).count() == 1


def test_a_failing_grant_row_on_replace_keeps_the_old_bytes(
    admin_client, alice, bob, reviewers, private_media, make_file
):
    stored = make_file(b"old")
    rows = [{"user": str(bob.pk), "group": str(reviewers.pk)}]
    data = file_form(alice, SimpleUploadedFile("new.txt", b"new"), rows=rows, name=stored.name)
    response = admin_client.post(change_url(stored), data)
    assert response.status_code == 200
    assert form_errors(response)
    assert StoredFile.objects.get().file.name == stored.file.name
    assert list(stored_keys(private_media)) == [stored.file.name]


# --- the list ---------------------------------------------------------------------------------


@pytest.fixture
def listed(make_file, alice, bob):
    report = make_file(PDF, name="Quarterly report.pdf")
    photo = make_file(b"\x89PNG\r\n\x1a\n" + bytes(2000), name="harbour.png", owner=bob)
    notes = make_file(b"plain notes", name="notes.txt")
    for status in (200, 206, 206):
        DownloadLog.objects.create(file=report, file_name=report.name, user=bob, status=status)
    return {"report": report, "photo": photo, "notes": notes}


def cell(html: str, field: str, row_name: str) -> str:
    """The text of one column in the changelist row that names `row_name`."""
    for row in re.findall(r"<tr>(.*?)</tr>", html, re.S):
        if f">{row_name}<" in row:
            found = re.search(rf'class="field-{field}[^"]*"[^>]*>(.*?)</t[dh]>', row, re.S)
            assert found, f"no {field} column in {row!r}"
            return re.sub(r"<[^>]+>", "", found[1]).strip()
    raise AssertionError(f"no row for {row_name}")


def test_changelist_columns(admin_client, listed):
    response = admin_client.get(LIST_URL)
    assert response.status_code == 200
    html = response.text
    for header in ("File name", "Owner", "Content type", "Size", "Updated", "Downloads"):
        assert f">{header}<" in html or f">{header.lower()}<" in html.lower(), header
    assert cell(html, "owner", "Quarterly report.pdf") == "alice"
    assert cell(html, "owner", "harbour.png") == "bob"
    assert cell(html, "content_type", "harbour.png") == "image/png"
    assert cell(html, "size_display", "Quarterly report.pdf") == "109\xa0bytes"
    assert cell(html, "size_display", "harbour.png") == "2.0\xa0KB"
    assert cell(html, "download_count", "Quarterly report.pdf") == "3"
    assert cell(html, "download_count", "notes.txt") == "0"
    updated = listed["notes"].updated
    assert str(updated.year) in cell(html, "updated", "notes.txt")


def test_changelist_sorts_by_download_count(admin_client, listed):
    columns = admin_client.get(LIST_URL).context["cl"].list_display
    by_count = columns.index("download_count")
    response = admin_client.get(LIST_URL, {"o": f"-{by_count}"})
    assert response.status_code == 200
    assert response.context["cl"].result_list[0] == listed["report"]


def changelist_names(client, **params) -> set[str]:
    response = client.get(LIST_URL, params)
    assert response.status_code == 200
    return {stored.name for stored in response.context["cl"].result_list}


def test_changelist_search(admin_client, listed):
    assert changelist_names(admin_client, q="report") == {"Quarterly report.pdf"}
    assert changelist_names(admin_client, q="bob") == {"harbour.png"}
    assert changelist_names(admin_client, q=listed["notes"].sha256) == {"notes.txt"}
    assert changelist_names(admin_client, q="nothing like it") == set()


def test_changelist_filters(admin_client, listed, bob):
    assert changelist_names(admin_client, content_type="image/png") == {"harbour.png"}
    assert changelist_names(admin_client, owner__id__exact=str(bob.pk)) == {"harbour.png"}
    year = listed["notes"].updated.year
    assert len(changelist_names(admin_client, updated__year=str(year))) == 3
    assert changelist_names(admin_client, updated__year=str(year - 1)) == set()


def test_change_page_shows_the_stored_facts_and_a_download_link(admin_client, listed):
    stored = listed["report"]
    response = admin_client.get(change_url(stored))
    assert response.status_code == 200
    assert stored.sha256 in response.text
    assert f'href="{stored.get_download_url()}"' in response.text


def file_field_row(html: str) -> str:
    found = re.search(
        r'<div class="form-row field-file">(.*?)<div class="form-row field-name">', html, re.S
    )
    assert found, "no file field on the page"
    return found[1]


def test_the_file_field_shows_what_is_stored_and_a_download_that_works(
    admin_client, admin_user, make_file, private_media
):
    content = b"the stored bytes\n"
    stored = make_file(content, name="notes.txt")
    response = admin_client.get(change_url(stored))
    assert response.status_code == 200
    # Django's widget linked the storage key to MEDIA_URL, which nothing serves.
    assert "/media/" not in response.text
    row = file_field_row(response.text)
    for fact in ("notes.txt", "17\xa0bytes", "text/plain", stored.sha256, str(stored.updated.year)):
        assert fact in row, fact
    assert re.findall(r'href="([^"]*)"', row) == [stored.get_download_url()]
    # The replace-file input is still there.
    assert re.search(r'<input type="file" name="file"', row)

    downloaded = admin_client.get(stored.get_download_url())
    assert downloaded.status_code == 200
    assert b"".join(downloaded.streaming_content) == content
    assert DownloadLog.objects.get().user == admin_user


def test_the_file_field_never_shows_a_presigned_bucket_url(admin_client, s3_media, make_file):
    stored = make_file(b"in the bucket", name="remote.txt")
    row = file_field_row(admin_client.get(change_url(stored)).text)
    assert "X-Amz-Signature" not in row
    assert s3_media.endpoint_url not in row
    assert re.findall(r'href="([^"]*)"', row) == [stored.get_download_url()]


def test_the_add_form_has_only_the_file_input(admin_client):
    row = file_field_row(admin_client.get(ADD_URL).text)
    assert "Stored:" not in row
    assert re.search(r'<input type="file" name="file"', row)


# --- grant to a group -------------------------------------------------------------------------


def test_grant_selected_files_to_a_group(admin_client, make_file, reviewers, bob):
    files = [make_file(name="a.txt"), make_file(name="b.txt")]
    other = make_file(name="c.txt")
    selected = {"action": "grant_to_group", ACTION_CHECKBOX_NAME: [str(f.pk) for f in files]}

    intermediate = admin_client.post(LIST_URL, selected)
    assert intermediate.status_code == 200
    assert "admin/downloads/grant_to_group.html" in [t.name for t in intermediate.templates]
    assert "a.txt" in intermediate.text
    assert "b.txt" in intermediate.text
    assert not Grant.objects.exists()

    until = (timezone.now() + timedelta(days=30)).replace(second=0, microsecond=0)
    response = admin_client.post(
        LIST_URL,
        {**selected, "apply": "1", "group": reviewers.pk, "expires_at": f"{until:%Y-%m-%d %H:%M}"},
        follow=True,
    )
    assert response.status_code == 200
    assert "Granted 2 file(s)" in response.text
    grants = Grant.objects.filter(group=reviewers)
    assert sorted(g.file_id for g in grants) == sorted(f.pk for f in files)
    assert {g.expires_at for g in grants} == {until}
    assert not Grant.objects.filter(file=other).exists()

    # Again, now without end: the grants are updated, not duplicated.
    admin_client.post(LIST_URL, {**selected, "apply": "1", "group": reviewers.pk})
    assert Grant.objects.filter(group=reviewers).count() == 2
    assert set(Grant.objects.values_list("expires_at", flat=True)) == {None}


def test_grant_action_with_a_bad_group_shows_the_form_again(admin_client, make_file):
    stored = make_file()
    response = admin_client.post(
        LIST_URL,
        {
            "action": "grant_to_group",
            ACTION_CHECKBOX_NAME: [str(stored.pk)],
            "apply": "1",
            "group": "999999",
            "expires_at": "soon",
        },
    )
    assert response.status_code == 200
    assert "admin/downloads/grant_to_group.html" in [t.name for t in response.templates]
    assert form_errors(response)
    assert not Grant.objects.exists()


# --- the download log -------------------------------------------------------------------------


def test_download_log_is_read_only(admin_client, make_file, bob):
    stored = make_file()
    entry = DownloadLog.objects.create(file=stored, file_name=stored.name, user=bob, status=200)
    changelist = admin_client.get(reverse("admin:downloads_downloadlog_changelist"))
    assert changelist.status_code == 200
    assert stored.name in changelist.text
    assert "delete_selected" not in changelist.text

    assert admin_client.get(reverse("admin:downloads_downloadlog_add")).status_code == 403

    change = reverse("admin:downloads_downloadlog_change", args=[entry.pk])
    view = admin_client.get(change)
    assert view.status_code == 200
    assert view.context["has_change_permission"] is False
    assert 'name="_save"' not in view.text
    assert admin_client.post(change, {"status": "500"}).status_code == 403

    delete = reverse("admin:downloads_downloadlog_delete", args=[entry.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    entry.refresh_from_db()
    assert entry.status == 200


# --- staff with limited permissions -----------------------------------------------------------


@pytest.fixture
def clerk(db) -> User:
    """Staff who may manage files in the admin but not download any file."""
    user = User.objects.create_user("clerk", password="pw-clerk", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="downloads",
            codename__in=[
                "view_storedfile",
                "add_storedfile",
                "change_storedfile",
                "delete_storedfile",
                "view_downloadlog",
            ],
        )
    )
    return user


@pytest.fixture
def clerk_client(client, clerk):
    client.force_login(clerk)
    return client


def test_staff_see_only_files_they_may_download(clerk_client, clerk, make_file, alice):
    mine = make_file(name="clerk's.txt", owner=clerk)
    shared = make_file(name="shared.txt", share_with=clerk)
    hidden = make_file(name="alice only.txt", owner=alice)
    assert changelist_names(clerk_client) == {mine.name, shared.name}
    assert clerk_client.get(change_url(shared)).status_code == 200
    # Another's file is as absent here as on the site.
    response = clerk_client.get(change_url(hidden))
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:index")
    delete = reverse("admin:downloads_storedfile_delete", args=[hidden.pk])
    assert clerk_client.post(delete, {"post": "yes"}).status_code == 302
    assert StoredFile.objects.filter(pk=hidden.pk).exists()


def test_staff_bulk_actions_skip_files_they_cannot_see(clerk_client, clerk, make_file, reviewers):
    mine = make_file(name="mine.txt", owner=clerk)
    hidden = make_file(name="hidden.txt")
    clerk_client.post(
        LIST_URL,
        {
            "action": "grant_to_group",
            ACTION_CHECKBOX_NAME: [str(mine.pk), str(hidden.pk)],
            "apply": "1",
            "group": reviewers.pk,
        },
    )
    assert list(Grant.objects.values_list("file_id", flat=True)) == [mine.pk]


def test_staff_with_download_any_see_everything(clerk_client, clerk, make_file):
    clerk.user_permissions.add(Permission.objects.get(codename="download_any"))
    make_file(name="a.txt")
    make_file(name="b.txt")
    assert changelist_names(clerk_client) == {"a.txt", "b.txt"}


def test_staff_can_upload(clerk_client, clerk, private_media, django_capture_on_commit_callbacks):
    data = file_form(clerk, SimpleUploadedFile("mine.txt", b"clerk's upload"))
    with django_capture_on_commit_callbacks(execute=True):
        response = clerk_client.post(ADD_URL, data)
    assert response.status_code == 302, form_errors(response)
    stored = StoredFile.objects.get()
    assert stored.owner == clerk
    assert list(stored_keys(private_media)) == [stored.file.name]


def test_staff_without_view_permission_get_403(client, make_file):
    bare = User.objects.create_user("bare", password="pw", is_staff=True)
    client.force_login(bare)
    assert client.get(LIST_URL).status_code == 403


# --- names as they enter ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uploaded", "typed", "expected"),
    [
        pytest.param("re\u200bport\ufeff.pdf", "", "report.pdf", id="uploaded-name"),
        pytest.param("x.pdf", "Q3\u2060 re\u00adport\u180e.pdf", "Q3 report.pdf", id="typed-name"),
        pytest.param("evil\u202egpj.exe", "", "evilgpj.exe", id="bidi-override"),
        pytest.param("x.pdf", "\u200b\u2060", "x.pdf", id="typed-only-invisible"),
    ],
)
def test_names_lose_invisible_characters_when_stored(
    admin_client, alice, uploaded, typed, expected
):
    data = file_form(alice, SimpleUploadedFile(uploaded, PDF), name=typed)
    response = admin_client.post(ADD_URL, data)
    assert response.status_code == 302, form_errors(response)
    assert StoredFile.objects.get().name == expected
