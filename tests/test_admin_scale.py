"""The admin's pages without reading the whole download log: filter choices by skip scan, a
date filter instead of date_hierarchy, PostgreSQL's estimate for large page counts."""

from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from downloads import estimate
from downloads.estimate import EstimatingPaginator
from downloads.models import DownloadLog, Outcome

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:downloads_downloadlog_changelist")
EXPORT_URL = reverse("admin:downloads_downloadlog_export")
FILES = reverse("admin:downloads_storedfile_changelist")


@pytest.fixture
def rows(make_file):
    stored = make_file(name="report.pdf")
    now = timezone.now()

    def row(status: int, days_ago: int, outcome: str = Outcome.COMPLETE) -> DownloadLog:
        return DownloadLog(
            file=stored,
            file_name=stored.name,
            status=status,
            outcome=outcome,
            delivery="nginx" if status == 304 else "django",
            at=now - timedelta(days=days_ago),
        )

    return DownloadLog.objects.bulk_create(
        [row(200, 0), row(206, 1), row(304, 30), row(200, 40), row(404, 2, Outcome.DENIED)]
    )


def filter_choices(response, field: str) -> list:
    for spec in response.context["cl"].filter_specs:
        if getattr(spec, "field_path", None) == field:
            return list(spec.lookup_choices)
    raise AssertionError(f"no {field} filter")


def test_status_and_delivery_choices_are_every_value_in_the_log(admin_client, rows):
    response = admin_client.get(CHANGELIST)
    assert response.status_code == 200
    assert filter_choices(response, "status") == [200, 206, 304, 404]
    assert filter_choices(response, "delivery") == ["django", "nginx"]
    assert 'href="?status=206"' in response.text
    picked = admin_client.get(CHANGELIST, {"status__exact": "206"}).context["cl"].result_list
    assert [row.status for row in picked] == [206]


def test_an_empty_log_has_no_choices(admin_client, db):
    assert filter_choices(admin_client.get(CHANGELIST), "status") == []


def test_the_date_filter_narrows_the_list_and_the_export(admin_client, rows):
    response = admin_client.get(CHANGELIST)
    assert response.context["cl"].date_hierarchy is None
    assert 'href="?at__gte=' in response.text  # "Past 7 days" and the rest
    since = (timezone.now() - timedelta(days=7)).isoformat()
    recent = admin_client.get(CHANGELIST, {"at__gte": since}).context["cl"].result_list
    assert sorted(row.status for row in recent) == [200, 206, 404]
    exported = b"".join(admin_client.get(EXPORT_URL, {"at__gte": since}).streaming_content)
    lines = exported.decode("utf-8-sig").strip().splitlines()
    assert len(lines) == 1 + 3


def test_no_full_count_beside_the_filtered_one(admin_client, rows):
    for url in (CHANGELIST, FILES):
        changelist = admin_client.get(url).context["cl"]
        assert changelist.show_full_result_count is False
        assert changelist.full_result_count is None


def test_small_results_are_counted_exactly(rows):
    paginator = EstimatingPaginator(DownloadLog.objects.all(), 2)
    assert paginator.count == 5
    assert paginator.estimated is False
    assert paginator.num_pages == 3


def test_large_results_are_the_planners_estimate_on_postgresql(rows, monkeypatch, admin_client):
    monkeypatch.setattr(estimate, "EXACT_BELOW", 1)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE downloads_downloadlog")
    whole = EstimatingPaginator(DownloadLog.objects.all(), 2)
    filtered = EstimatingPaginator(DownloadLog.objects.filter(status=200), 2)
    page = admin_client.get(CHANGELIST).text
    if connection.vendor == "sqlite":
        # No estimate to ask for: counted, but no further than EXACT_BELOW + 1 rows.
        assert (whole.count, whole.estimated, whole.capped) == (1, False, True)
        assert (filtered.count, filtered.capped) == (1, True)
        assert "more than 1 download log" in page
        monkeypatch.setattr(estimate, "EXACT_BELOW", 5)
        exact = EstimatingPaginator(DownloadLog.objects.all(), 2)
        assert (exact.count, exact.capped) == (5, False)
        # The pages reach the first EXACT_BELOW rows (then 1), which are the real ones.
        assert [row.pk for row in whole.page(1).object_list] == [
            DownloadLog.objects.order_by("-at", "-pk").first().pk
        ]
        return
    # The page says the count is an estimate.
    assert "about " in page
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples FROM pg_class WHERE oid = 'downloads_downloadlog'::regclass"
        )
        (reltuples,) = cursor.fetchone()
    assert whole.count == int(reltuples)
    assert whole.estimated is True
    assert filtered.count >= 1
    assert filtered.estimated is True
    # The rows of a page are the real ones whatever the count says.
    assert len(whole.page(1).object_list) == 2
