"""My files makes each row's links from one reverse() per page (downloads/filerows.py): they
must be the text the model's own methods give, and the dates what the `date` filter prints."""

from datetime import UTC, datetime

import pytest
from django.template import engines
from django.urls import clear_script_prefix, set_script_prefix
from django.utils import timezone

from downloads.filerows import file_rows

pytestmark = pytest.mark.django_db


def date_filter(value: datetime) -> tuple[str, str]:
    template = engines["django"].from_string("{{ value|date:'c' }}|{{ value|date:'Y-m-d H:i' }}")
    iso, shown = template.render({"value": value}).split("|")
    return iso, shown


@pytest.mark.parametrize("prefix", ["/", "/private files/"])
@pytest.mark.parametrize("zone", ["UTC", "Asia/Kolkata", "America/St_Johns"])
def test_rows_match_reverse_and_the_date_filter(make_file, prefix, zone):
    made = [make_file(name=f"{n}.txt") for n in range(3)]
    made[0].updated = datetime(2026, 3, 29, 0, 59, 30, tzinfo=UTC)
    set_script_prefix(prefix)
    try:
        with timezone.override(zone):
            rows = file_rows(made, {made[1].pk: "/m/thumb"})
            expected_dates = [date_filter(stored.updated) for stored in made]
        for row, stored, (iso, shown) in zip(rows, made, expected_dates, strict=True):
            assert row.url == stored.get_absolute_url()
            assert row.download_url == stored.get_download_url()
            assert (row.modified_iso, row.modified) == (iso, shown)
    finally:
        clear_script_prefix()
    assert [row.thumbnail for row in rows] == [None, "/m/thumb", None]
    assert rows[0].url.startswith(prefix.replace(" ", "%20"))


def test_the_list_page_links_each_row(alice_client, make_file):
    stored = make_file(name="report.pdf")
    page = alice_client.get("/").content.decode()
    assert f'href="{stored.get_absolute_url()}"' in page
    assert f'href="{stored.get_download_url()}"' in page
