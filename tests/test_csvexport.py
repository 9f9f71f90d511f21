"""CSV exports: the user's file list and the download log (admin action and "export all" link)."""

import codecs
import csv
import datetime
import io
from pathlib import Path

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from downloads.csvexport import csv_chunks, neutralise
from downloads.models import DownloadLog
from downloads.sharelinks import create_link
from downloads.views_exports import export_files_csv

MiB = 1024 * 1024
EXPORT_URL = reverse("admin:downloads_downloadlog_export")
LOG_CHANGELIST = reverse("admin:downloads_downloadlog_changelist")
HOSTILE = '=HYPERLINK("http://x","y")'


def rows_of(response) -> list[list[str]]:
    data = b"".join(response.streaming_content)
    assert data.startswith(codecs.BOM_UTF8)
    text = data.decode("utf-8-sig")
    assert "\r\n" in text
    assert "\n" not in text.replace("\r\n", "")
    return list(csv.reader(io.StringIO(text, newline="")))


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("=1+1", "'=1+1"),
        (HOSTILE, "'" + HOSTILE),
        ("+49 30 1234", "'+49 30 1234"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tindent", "'\tindent"),
        ("\rreturn", "'\rreturn"),
        ("report.pdf", "report.pdf"),
        ("a=b", "a=b"),
        ("", ""),
        (-2, -2),
        (None, None),
    ],
)
def test_cells_that_would_be_formulas_become_text(cell, expected):
    assert neutralise(cell) == expected


def test_bom_header_and_crlf_lines():
    data = b"".join(csv_chunks(["name", "size"], [["a,b", 1], ['quote"d', 2], ["ü", None]]))
    assert data == codecs.BOM_UTF8 + 'name,size\r\n"a,b",1\r\n"quote""d",2\r\nü,\r\n'.encode()


def test_my_files_export_honours_the_search_and_the_policy(alice_client, make_file, carol):
    make_file(b"x", HOSTILE + " holiday.txt")
    make_file(b"yy", "Übersicht 報告 holiday.txt")
    make_file(b"zzz", "work.txt")
    make_file(b"c", "carol's holiday.txt", owner=carol)
    response = alice_client.get(reverse("downloads:files-csv"), {"q": "holiday"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="my-files-')
    assert response["Cache-Control"] == "private, no-store"
    assert response["X-Accel-Buffering"] == "no"
    assert response["X-Content-Type-Options"] == "nosniff"
    header, *rows = rows_of(response)
    assert header == [
        "name",
        "size (bytes)",
        "type",
        "modified (UTC)",
        "owner",
        "SHA-256",
        "download",
    ]
    assert sorted(row[0] for row in rows) == [
        "'" + HOSTILE + " holiday.txt",
        "Übersicht 報告 holiday.txt",
    ]
    assert all(row[4] == "alice" for row in rows)
    assert all(row[6].startswith("http://testserver/files/") for row in rows)


def test_head_gives_the_headers_without_running_the_export(rf, alice, make_file):
    make_file(b"x", "a.txt")
    request = rf.head(reverse("downloads:files-csv"))
    request.user = alice
    with CaptureQueriesContext(connection) as queries:
        response = export_files_csv(request)
        rows = rows_of(response)  # what the server would iterate, and then drop
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert rows == [
        ["name", "size (bytes)", "type", "modified (UTC)", "owner", "SHA-256", "download"]
    ]
    assert not [q for q in queries if "downloads_storedfile" in q["sql"]]


def test_my_files_export_needs_a_login(client):
    response = client.get(reverse("downloads:files-csv"))
    assert response.status_code == 302


# --- the download log, in the admin ------------------------------------------------------


@pytest.fixture
def staff_client(client, alice):
    alice.is_staff = True
    alice.save()
    # These rows name no file, which only those who see every log entry may read (who sees
    # which rows is tests/test_admin_log_visibility.py's subject).
    alice.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_downloadlog", "view_every_log_entry"])
    )
    client.force_login(alice)
    return client


@pytest.fixture
def log_rows(alice, bob):
    at = timezone.now() - datetime.timedelta(days=1)
    return DownloadLog.objects.bulk_create(
        [
            DownloadLog(file_name="report.pdf", user=alice, status=200, at=at, bytes_sent=10),
            DownloadLog(file_name="report.pdf", user=bob, status=404, at=at, range="=cmd|x"),
            DownloadLog(file_name=HOSTILE, user=bob, status=404, at=at, ip="10.0.0.1"),
            DownloadLog(file_name="Ünïcødé 文件.txt", user=None, status=206, at=at),
        ]
    )


def test_export_link_honours_the_changelist_filters_and_search(staff_client, log_rows):
    response = staff_client.get(EXPORT_URL, {"status__exact": "404", "q": "report"})
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="download-log-')
    header, *rows = rows_of(response)
    assert header[:4] == ["at (UTC)", "file name", "file id", "user"]
    assert rows == [
        [
            log_rows[1].at.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S"),
            "report.pdf",
            "",
            "bob",
            "",
            "404",
            "",
            "'=cmd|x",
            "0",
            "0",
            "",
            "",
            "",
            "",  # URL expires: a signed media URL issued (none here)
        ]
    ]


def test_a_row_that_came_through_a_share_link_names_the_link(staff_client, alice, make_file):
    stored = make_file(owner=alice)
    link, _token = create_link(
        alice,
        [stored],
        expires_at=timezone.now() + datetime.timedelta(days=1),
        max_downloads=None,
        note="",
    )
    DownloadLog.objects.create(file=stored, file_name=stored.name, status=200, share_link=link)
    header, row = rows_of(staff_client.get(EXPORT_URL))
    assert dict(zip(header, row, strict=True))["share link"] == str(link.pk)


def test_export_link_without_filters_has_every_row(staff_client, log_rows):
    _header, *rows = rows_of(staff_client.get(EXPORT_URL))
    assert sorted(row[1] for row in rows) == sorted(
        ["report.pdf", "report.pdf", "'" + HOSTILE, "Ünïcødé 文件.txt"]
    )


def test_changelist_links_to_the_export_with_its_filters(staff_client, log_rows):
    page = staff_client.get(LOG_CHANGELIST, {"status__exact": "404"}).content.decode()
    assert f'href="{EXPORT_URL}?status__exact=404">Export all 2 as CSV</a>' in page


def test_a_bad_filter_is_a_400(staff_client, log_rows):
    assert staff_client.get(EXPORT_URL, {"nonsense__exact": "1"}).status_code == 400


def test_export_needs_the_view_permission(client, alice, log_rows):
    alice.is_staff = True
    alice.save()
    client.force_login(alice)
    assert client.get(EXPORT_URL).status_code == 403


def test_action_on_all_matching_rows_honours_the_filter(staff_client, log_rows):
    response = staff_client.post(
        f"{LOG_CHANGELIST}?status__exact=404",
        {"action": "export_csv", "select_across": "1", ACTION_CHECKBOX_NAME: [str(log_rows[1].pk)]},
    )
    assert response.status_code == 200
    _header, *rows = rows_of(response)
    assert sorted(row[1] for row in rows) == sorted(["report.pdf", "'" + HOSTILE])


def test_action_on_selected_rows(staff_client, log_rows):
    response = staff_client.post(
        LOG_CHANGELIST,
        {"action": "export_csv", ACTION_CHECKBOX_NAME: [str(log_rows[3].pk)]},
    )
    _header, *rows = rows_of(response)
    assert [row[1] for row in rows] == ["Ünïcødé 文件.txt"]


def insert_log_rows(count: int, user_id: int) -> None:
    """`count` download log rows in one statement (bulk_create takes seconds for 100,000)."""
    table = DownloadLog._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %s)
            INSERT INTO {table} (file_name, user_id, at, ip, status, range, bytes_sent,
                                 bytes_planned, outcome, delivery)
            SELECT 'file number ' || i || ' with a longish name.pdf', %s, %s, '192.0.2.1', 200,
                   '', i, i, 'complete', 'django'
            FROM n
            """,  # noqa: S608 - the table name is the model's own
            [count, user_id, timezone.now()],
        )


def peak_rss_kib() -> int:
    return rss_field("VmHWM")


def rss_field(name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return int(line.split()[1])
    raise AssertionError(f"no {name} in /proc/self/status")


def test_100000_log_rows_export_with_flat_memory(staff_client, alice):
    insert_log_rows(100_000, alice.pk)
    response = staff_client.get(EXPORT_URL)
    assert response.status_code == 200
    # Nothing is read until the body is iterated: the measure covers the query and the rows.
    # Writing 5 to clear_refs resets this process's peak RSS (VmHWM) to its current RSS.
    Path("/proc/self/clear_refs").write_text("5")
    before = rss_field("VmRSS")
    received = lines = 0
    for chunk in response.streaming_content:
        received += len(chunk)
        lines += chunk.count(b"\r\n")
    growth_mib = (peak_rss_kib() - before) / 1024
    assert lines == 100_001
    assert received > 8 * MiB
    # The export is ~9 MiB of text and far more as 100,000 model instances; neither is held.
    assert growth_mib < 10, f"RSS grew by {growth_mib:.1f} MiB"
