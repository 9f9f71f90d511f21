"""The stored-file admin list sorted by downloads: every file (those never downloaded too), in
the count's order with ties broken by id in the same direction, read from the counts' index
(downloads/admin_counts.py, migration 0010) instead of sorting every file."""

import pytest
from django.db import connection
from django.urls import reverse

from downloads.admin_counts import count_ordering
from downloads.models import DownloadCount, DownloadLog

pytestmark = pytest.mark.django_db

FILES = reverse("admin:downloads_storedfile_changelist")
BY_DOWNLOADS = "6"  # list_display's "downloads" column, after the action checkbox


@pytest.fixture
def downloaded(make_file):
    """Files with 3, 1, 0, 1 and 0 downloads."""
    files = [make_file(name=f"f{n}.txt") for n in range(5)]
    times = [3, 1, 0, 1, 0]
    DownloadLog.objects.bulk_create(
        [
            DownloadLog(file=stored, file_name=stored.name, status=200, delivery="django")
            for stored, count in zip(files, times, strict=True)
            for _ in range(count)
        ]
    )
    return dict(zip(files, times, strict=True))


def listed(admin_client, order: str) -> list:
    response = admin_client.get(FILES, {"o": order})
    assert response.status_code == 200
    return [(stored.download_total, stored.pk) for stored in response.context["cl"].result_list]


def test_sorted_by_downloads_lists_every_file_in_order(admin_client, downloaded):
    expected = sorted((count, stored.pk) for stored, count in downloaded.items())
    assert listed(admin_client, BY_DOWNLOADS) == expected
    assert listed(admin_client, "-" + BY_DOWNLOADS) == expected[::-1]
    # The default order shows every file with its count too.
    assert sorted(listed(admin_client, "")) == expected


def test_only_the_count_first_is_ordered_by_the_counters_columns():
    assert count_ordering(["-download_total", "-pk"]) == [
        "-download_counter__total",
        "-download_counter__file_id",
    ]
    assert count_ordering(["download_total", "name", "-pk"]) == [
        "download_counter__total",
        "name",
        "download_counter__file_id",
    ]
    for unchanged in (["name", "download_total", "-pk"], ["-updated", "name", "-pk"], ["-pk"]):
        assert count_ordering(list(unchanged)) == unchanged


def test_a_file_without_a_counter_row_is_still_listed_by_default(admin_client, downloaded):
    # Should a row ever be missing (every path makes one: test_download_counts.py), the default
    # list still shows the file, with 0: only the sort by downloads needs the inner join.
    quiet = next(stored for stored, count in downloaded.items() if count == 0)
    DownloadCount.objects.filter(file=quiet).delete()
    assert (0, quiet.pk) in listed(admin_client, "")


def test_the_sorted_page_is_read_from_the_counts_index(admin_client, downloaded):
    for order in (BY_DOWNLOADS, "-" + BY_DOWNLOADS):
        queryset = admin_client.get(FILES, {"o": order}).context["cl"].queryset[:100]
        sql, params = queryset.query.sql_with_params()
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                # Five rows: PostgreSQL would rightly sort them. Told that sorting is dear, it
                # shows that the index holds the whole order (no Sort node above it).
                cursor.execute("SET LOCAL enable_sort = off")
                cursor.execute("EXPLAIN " + sql, params)
            else:
                cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
            plan = "\n".join(str(line[-1]) for line in cursor.fetchall())
        assert "downloadcount_total_file" in plan, plan
        assert "TEMP B-TREE" not in plan, plan
        assert "Sort" not in plan, plan
