"""The changelists' row checkbox (downloads/adminrows.py) is Django's own HTML, made without a
template render per row."""

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.urls import reverse

from downloads.admin import DownloadLogAdmin, StoredFileAdmin
from downloads.models import DownloadLog, StoredFile

pytestmark = pytest.mark.django_db

AWKWARD = "Q1 <b>\"report\"</b> & 'notes' — été.pdf"


def test_the_checkbox_is_djangos_html(make_file):
    stored = make_file(name=AWKWARD)
    row = DownloadLog.objects.create(
        file=stored,
        file_name=stored.name,
        user=User.objects.create(username="<i>x</i>"),
        status=200,
    )
    for model, ours, obj in (
        (StoredFile, StoredFileAdmin, stored),
        (DownloadLog, DownloadLogAdmin, row),
    ):
        djangos = admin.ModelAdmin(model, admin.site).action_checkbox(obj)
        assert ours(model, admin.site).action_checkbox(obj) == djangos
        assert "&lt;b&gt;" in djangos


def test_the_changelists_still_select_rows(admin_client, make_file):
    stored = make_file(name=AWKWARD)
    DownloadLog.objects.create(file=stored, file_name=stored.name, status=200)
    for url in ("admin:downloads_storedfile_changelist", "admin:downloads_downloadlog_changelist"):
        page = admin_client.get(reverse(url)).text
        assert 'id="action-toggle"' in page
        assert page.count('class="action-select"') == 1
