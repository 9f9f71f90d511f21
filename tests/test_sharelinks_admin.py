"""Share links in the admin (list, filter, search, revoke), in `manage.py prune`, and their
settings' checks."""

from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.urls import reverse
from django.utils import timezone

from downloads.models import DownloadLog, ShareLink, ShareLinkFailure
from downloads.sharelinks import create_link

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:downloads_sharelink_changelist")


def link(owner, files, *, note="", days=7, **fields) -> ShareLink:
    made, _ = create_link(
        owner,
        files,
        expires_at=timezone.now() + timedelta(days=days),
        max_downloads=fields.pop("max_downloads", None),
        note=note,
    )
    if fields:
        ShareLink.objects.filter(pk=made.pk).update(**fields)
    return made


@pytest.fixture
def links(alice, make_file):
    report = make_file(name="report.pdf")
    return {
        "live": link(alice, [report], note="live one"),
        "expired": link(alice, [report], note="expired one", days=-1),
        "revoked": link(alice, [report], note="revoked one", revoked_at=timezone.now()),
        "used up": link(alice, [report], note="used one", max_downloads=1, download_count=1),
    }


def listed(response) -> list[str]:
    return sorted(str(row) for row in response.context["cl"].result_list)


def test_the_admin_lists_filters_and_searches_every_link(admin_client, links):
    response = admin_client.get(CHANGELIST)
    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == 4
    assert b"report.pdf" in response.content
    for state, made in links.items():
        filtered = admin_client.get(CHANGELIST, {"state": state})
        assert listed(filtered) == [str(made)], state
    assert listed(admin_client.get(CHANGELIST, {"q": "revoked one"})) == [str(links["revoked"])]
    assert len(admin_client.get(CHANGELIST, {"q": "alice"}).context["cl"].result_list) == 4


def test_the_admin_revokes_links_and_never_makes_one(admin_client, links):
    live = links["live"]
    response = admin_client.post(
        CHANGELIST, {"action": "revoke", "_selected_action": [live.pk]}, follow=True
    )
    assert b"Revoked 1 share link" in response.content
    live.refresh_from_db()
    assert live.revoked_at is not None
    assert admin_client.get(reverse("admin:downloads_sharelink_add")).status_code == 403
    change = admin_client.get(reverse("admin:downloads_sharelink_change", args=[live.pk]))
    assert change.status_code == 200
    # Neither the token's hash nor a field for it (the sidebar's "API tokens" is another model).
    page = change.content.decode()
    assert live.token_hash not in page
    assert "token_hash" not in page


def test_the_download_log_names_the_link(admin_client, links, make_file):
    DownloadLog.objects.create(
        file_name="report.pdf", status=200, share_link=links["live"], outcome="complete"
    )
    response = admin_client.get(reverse("admin:downloads_downloadlog_changelist"))
    # The link's id, read from the row itself: no join on the log's changelist (issue 13).
    assert f'<td class="field-share_link_id">{links["live"].pk}</td>'.encode() in response.content


def test_prune_removes_links_expired_long_ago_and_stale_failures(alice, make_file, settings):
    settings.DOWNLOADS_SHARE_LINK_GRACE_DAYS = 30
    stored = make_file()
    long_gone = link(alice, [stored], days=-31)
    recent = link(alice, [stored], days=-29)
    revoked_but_running = link(alice, [stored], days=3, revoked_at=timezone.now())
    ShareLinkFailure.objects.create(ip="10.0.0.1", at=timezone.now() - timedelta(hours=1))
    fresh_failure = ShareLinkFailure.objects.create(ip="10.0.0.1")
    out = StringIO()
    call_command("prune", stdout=out)
    summary = out.getvalue().strip().splitlines()[-1]
    assert "1 expired share links removed" in summary
    assert "1 share link failures removed" in summary
    assert set(ShareLink.objects.all()) == {recent, revoked_but_running}
    assert long_gone not in ShareLink.objects.all()
    assert list(ShareLinkFailure.objects.all()) == [fresh_failure]


@pytest.mark.parametrize(
    ("setting", "value", "check_id"),
    [
        ("DOWNLOADS_SHARE_LINK_DEFAULT_DAYS", 0, "downloads.E090"),
        ("DOWNLOADS_SHARE_LINK_MAX_DAYS", 0, "downloads.E091"),
        ("DOWNLOADS_SHARE_LINK_RESUME_HOURS", -1, "downloads.E092"),
        ("DOWNLOADS_SHARE_LINK_GRACE_DAYS", -1, "downloads.E093"),
        ("DOWNLOADS_SHARE_LINK_FAILURE_LIMIT", 0, "downloads.E094"),
        ("DOWNLOADS_SHARE_LINK_COOLOFF_MINUTES", 0, "downloads.E095"),
    ],
)
def test_a_bad_share_link_setting_fails_the_check(settings, setting, value, check_id):
    setattr(settings, setting, value)
    with pytest.raises(SystemCheckError, match=check_id):
        call_command("check")


def test_a_default_expiry_past_the_maximum_fails_the_check(settings):
    settings.DOWNLOADS_SHARE_LINK_DEFAULT_DAYS = 8
    settings.DOWNLOADS_SHARE_LINK_MAX_DAYS = 7
    with pytest.raises(SystemCheckError, match=r"downloads\.E096"):
        call_command("check")


def test_staff_see_only_links_to_files_they_may_download(client, links, make_file, bob):
    theirs = make_file(name="for bob.txt", share_with=bob)
    visible = link(User.objects.get(username="alice"), [theirs], note="visible to bob")
    bob.is_staff = True
    bob.save()
    bob.user_permissions.add(Permission.objects.get(codename="view_sharelink"))
    client.force_login(bob)
    assert listed(client.get(CHANGELIST)) == [str(visible)]
