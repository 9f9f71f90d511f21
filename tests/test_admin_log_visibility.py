"""Who sees which download log rows in the admin: the changelist, its filters, search, a row's
own pages, and both CSV exports all start from the access policy (downloads/logaccess.py)."""

import codecs
import csv
import io
import re
import uuid
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Group, Permission, User
from django.urls import reverse
from django.utils import timezone

from downloads.logaccess import sees_every_log_entry, visible_log_entries
from downloads.models import DownloadLog, Grant, Outcome, StoredFile

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:downloads_downloadlog_changelist")
EXPORT_URL = reverse("admin:downloads_downloadlog_export")


@dataclass
class Log:
    """One row of each kind, by what the clerk below may download."""

    own: DownloadLog  # a file the clerk owns
    user_grant: DownloadLog  # shared with the clerk
    group_grant: DownloadLog  # shared with a group the clerk is in
    expired_grant: DownloadLog  # shared with the clerk until yesterday
    others: DownloadLog  # alice's file, never shared
    deleted: DownloadLog  # its file was deleted since: file NULL
    denied: DownloadLog  # a denied request for alice's file: file NULL, requested_id set
    missing: DownloadLog  # a denied request for an id that never existed
    hidden_file: StoredFile

    def every_row(self) -> set[int]:
        return {row.pk for row in vars(self).values() if isinstance(row, DownloadLog)}

    def clerks_rows(self) -> set[int]:
        return {self.own.pk, self.user_grant.pk, self.group_grant.pk}


@pytest.fixture
def clerk(db) -> User:
    """Staff who may read the download log, and download only what the policy gives them."""
    user = User.objects.create_user("clerk", password="pw-clerk", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_downloadlog"))
    return user


@pytest.fixture
def log(clerk, alice, bob, make_file) -> Log:
    team = Group.objects.create(name="team")
    team.user_set.add(clerk)
    own = make_file(name="clerk's own.txt", owner=clerk)
    shared = make_file(name="shared with clerk.txt", share_with=clerk)
    team_file = make_file(name="shared with team.txt", share_with=team)
    expired = make_file(name="expired grant.txt")
    Grant.objects.create(file=expired, user=clerk, expires_at=timezone.now() - timedelta(days=1))
    hidden = make_file(name="alice's secret.txt")
    gone = make_file(name="deleted since.txt", owner=clerk)

    def row(stored: StoredFile | None, status: int = 200, **fields) -> DownloadLog:
        name = stored.name if stored else fields.pop("file_name")
        return DownloadLog.objects.create(
            file=stored, file_name=name, user=bob, status=status, **fields
        )

    deleted = row(gone, outcome=Outcome.COMPLETE)
    gone.delete()
    return Log(
        own=row(own, outcome=Outcome.COMPLETE, bytes_planned=12, bytes_sent=12),
        user_grant=row(shared, outcome=Outcome.ABORTED, bytes_planned=12, bytes_sent=3),
        group_grant=row(team_file, outcome=Outcome.HANDED_OVER),
        expired_grant=row(expired),
        # 207: a status only a hidden row has, to see the filter's choices.
        others=row(hidden, status=207),
        deleted=DownloadLog.objects.get(pk=deleted.pk),
        denied=row(None, 404, file_name="", outcome=Outcome.DENIED, requested_id=hidden.pk),
        missing=row(None, 404, file_name="", outcome=Outcome.DENIED, requested_id=uuid.uuid4()),
        hidden_file=hidden,
    )


def give(user: User, codename: str) -> User:
    user.user_permissions.add(Permission.objects.get(codename=codename))
    return User.objects.get(pk=user.pk)  # a fresh object: has_perm caches per instance


def changelist_rows(client, **params) -> set[int]:
    response = client.get(CHANGELIST, params)
    assert response.status_code == 200
    return {row.pk for row in response.context["cl"].result_list}


def csv_rows(response) -> list[list[str]]:
    assert response.status_code == 200
    data = b"".join(response.streaming_content)
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))[1:]


def exported_names(response) -> list[str]:
    return sorted(row[1] for row in csv_rows(response))


def names(rows: set[int]) -> list[str]:
    return sorted(DownloadLog.objects.filter(pk__in=rows).values_list("file_name", flat=True))


# --- every kind of staff user -------------------------------------------------------------


KINDS = ["policy-only", "view_every_log_entry", "download_any", "by-group", "superuser"]


def staff_of_kind(kind: str, clerk: User) -> User:
    if kind == "policy-only":
        return clerk
    if kind == "superuser":
        return User.objects.create_superuser("root", password="pw-root")
    if kind == "by-group":
        auditors = Group.objects.create(name="auditors")
        auditors.permissions.add(Permission.objects.get(codename="view_every_log_entry"))
        auditors.user_set.add(clerk)
        return User.objects.get(pk=clerk.pk)
    return give(clerk, kind)


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_of_staff_sees_its_rows_everywhere(client, clerk, log, kind):
    user = staff_of_kind(kind, clerk)
    expected = log.clerks_rows() if kind == "policy-only" else log.every_row()
    client.force_login(user)

    assert changelist_rows(client) == expected
    assert set(visible_log_entries(user).values_list("pk", flat=True)) == expected
    # "Export all N as CSV", with no filter.
    assert exported_names(client.get(EXPORT_URL)) == names(expected)
    # The action, with every row's id posted, hidden ones included...
    every_id = [str(pk) for pk in log.every_row()]
    action = {"action": "export_csv", ACTION_CHECKBOX_NAME: every_id}
    assert exported_names(client.post(CHANGELIST, action)) == names(expected)
    # ...and with "select all N matching".
    across = {**action, "select_across": "1"}
    assert exported_names(client.post(CHANGELIST, across)) == names(expected)
    # The page says how many there are; it counts only these.
    assert f"Export all {len(expected)} as CSV" in client.get(CHANGELIST).text


def test_the_policy_holds_with_filters_and_search(client, clerk, log):
    client.force_login(clerk)
    assert changelist_rows(client, status__exact="207") == set()
    assert changelist_rows(client, q="secret") == set()
    assert changelist_rows(client, q="shared") == {log.user_grant.pk, log.group_grant.pk}
    assert exported_names(client.get(EXPORT_URL, {"q": "secret"})) == []
    # A file's id finds nothing the clerk may not see, not even the denied request naming it.
    assert changelist_rows(client, q=str(log.hidden_file.pk)) == set()
    assert changelist_rows(client, outcome__exact=Outcome.DENIED) == set()


def test_the_filters_offer_only_values_of_visible_rows(client, clerk, log):
    client.force_login(clerk)
    page = client.get(CHANGELIST).text
    assert 'href="?status=207"' not in page
    assert 'href="?status=200"' in page


def test_denied_requests_are_filterable_and_found_by_the_id_they_named(client, clerk, log):
    client.force_login(give(clerk, "view_every_log_entry"))
    assert changelist_rows(client, outcome__exact=Outcome.DENIED) == {
        log.denied.pk,
        log.missing.pk,
    }
    assert changelist_rows(client, q=str(log.hidden_file.pk)) == {log.others.pk, log.denied.pk}
    assert changelist_rows(client, q=str(log.missing.requested_id)) == {log.missing.pk}


def test_revoking_a_grant_hides_its_rows_at_once(client, clerk, log):
    client.force_login(clerk)
    assert log.user_grant.pk in changelist_rows(client)
    Grant.objects.filter(user=clerk, file=log.user_grant.file).delete()
    assert log.user_grant.pk not in changelist_rows(client)


def test_download_any_counts_only_for_staff_as_in_the_policy(alice):
    alice = give(alice, "download_any")
    assert not sees_every_log_entry(alice)
    alice.is_staff = True
    assert sees_every_log_entry(alice)
    alice.is_active = False
    assert not sees_every_log_entry(alice)


# --- a single row by id: a hidden row is a missing row --------------------------------------


def row_page(client, view: str, pk: int):
    """The first answer, and the message the page it leads to shows."""
    response = client.get(reverse(f"admin:downloads_downloadlog_{view}", args=[pk]))
    shown = ""
    if response.status_code == 302:
        landing = client.get(response["Location"]).text
        shown = "".join(re.findall(r'<ul class="messagelist">.*?</ul>', landing, re.S))
    return response, shown


@pytest.mark.parametrize("view", ["change", "history", "delete"])
def test_a_hidden_row_answers_exactly_as_a_missing_one(client, clerk, log, view):
    client.force_login(clerk)
    visible, _ = row_page(client, view, log.own.pk)
    assert visible.status_code == (403 if view == "delete" else 200)

    absent_pk = DownloadLog.objects.order_by("-pk").first().pk + 1000
    for hidden in (log.others, log.deleted, log.denied, log.missing):
        hidden_answer, hidden_said = row_page(client, view, hidden.pk)
        absent_answer, absent_said = row_page(client, view, absent_pk)
        assert hidden_answer.status_code == absent_answer.status_code
        assert hidden_answer.status_code in (302, 403)
        assert hidden_answer.get("Location") == absent_answer.get("Location")
        assert hidden_answer.content == absent_answer.content
        # The message names the id the user typed; apart from it, the same words.
        assert hidden_said.replace(f"“{hidden.pk}”", "ID") == absent_said.replace(
            f"“{absent_pk}”", "ID"
        )
        if view != "delete":
            assert "exist. Perhaps it was deleted?" in hidden_said


def test_the_change_page_shows_the_new_fields(client, clerk, log):
    client.force_login(give(clerk, "view_every_log_entry"))
    page = client.get(reverse("admin:downloads_downloadlog_change", args=[log.denied.pk])).text
    assert str(log.denied.requested_id) in page
    assert "denied" in page


# --- the new columns --------------------------------------------------------------------------


def test_changelist_and_export_show_outcome_bytes_planned_and_requested_id(client, clerk, log):
    client.force_login(give(clerk, "view_every_log_entry"))
    page = client.get(CHANGELIST).text
    for column in ("outcome", "bytes_planned", "bytes_sent", "requested_id"):
        assert f"column-{column}" in page, column
    # bytes planned stands right before bytes sent.
    assert page.index("column-bytes_planned") < page.index("column-bytes_sent")
    assert "cut off" in page  # an outcome's label
    assert "outcome__exact=denied" in page  # the filter offers denied requests

    rows = csv_rows(client.get(EXPORT_URL, {"q": "shared with clerk"}))
    header = csv_rows_header(client.get(EXPORT_URL))
    (row,) = rows
    by_header = dict(zip(header, row, strict=True))
    assert by_header["outcome"] == "aborted"
    assert (by_header["bytes planned"], by_header["bytes sent"]) == ("12", "3")
    (denied,) = csv_rows(client.get(EXPORT_URL, {"q": str(log.missing.requested_id)}))
    assert dict(zip(header, denied, strict=True))["requested id"] == str(log.missing.requested_id)
    assert dict(zip(header, denied, strict=True))["outcome"] == "denied"


def csv_rows_header(response) -> list[str]:
    data = b"".join(response.streaming_content)
    assert data.startswith(codecs.BOM_UTF8)
    return next(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
