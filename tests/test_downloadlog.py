"""What each download log row says, through Django: outcomes, planned and sent bytes, denied
requests. The real server's side (sendfile, cut connections, a stopping worker) is in
test_downloadlog_live.py."""

import gc
import uuid

import pytest
from django.core.signals import request_finished
from django.db import close_old_connections
from django.test import Client
from django.urls import reverse

from downloads import views
from downloads.downloadlog import finish_open_bodies
from downloads.logwriter import WRITER
from downloads.models import DownloadLog, Outcome

CONTENT = bytes(range(256)) * 4096  # 1 MiB: four of the view's 256 KiB chunks


@pytest.fixture
def stored(make_file):
    return make_file(CONTENT, name="data.bin")


@pytest.fixture
def url(stored):
    return reverse("downloads:download", args=[stored.pk])


def only_row() -> DownloadLog:
    (row,) = DownloadLog.objects.all()
    return row


def test_a_whole_download_read_to_its_end_is_complete(alice_client, url, stored):
    response = alice_client.get(url)
    assert not DownloadLog.objects.exists()  # not before the body ends
    assert response.getvalue() == CONTENT
    row = only_row()
    assert (row.outcome, row.bytes_planned, row.bytes_sent, row.file, row.requested_id) == (
        Outcome.COMPLETE,
        len(CONTENT),
        len(CONTENT),
        stored,
        None,
    )


def close_as_a_server_does(response) -> None:
    """response.close(), without request_finished closing the test's database connection
    (the test client does the same)."""
    request_finished.disconnect(close_old_connections)
    try:
        response.close()
    finally:
        request_finished.connect(close_old_connections)


def view_response(rf, user, stored, **headers):
    """The view's own response, as a WSGI server gets it (the test client wraps the body)."""
    request = rf.get("/", headers=headers)
    request.user = user
    return views.download(request, str(stored.pk))


def test_a_body_closed_early_counts_only_the_chunks_the_server_asked_past(rf, alice, stored):
    response = view_response(rf, alice, stored)
    chunks = iter(response.streaming_content)
    next(chunks)
    next(chunks)
    # The server asked for a second chunk: it took the first. The second is in its hands,
    # not known to have left.
    close_as_a_server_does(response)
    row = only_row()
    assert (row.outcome, row.bytes_planned, row.bytes_sent) == (
        Outcome.ABORTED,
        len(CONTENT),
        256 * 1024,
    )


def test_the_file_position_a_sendfile_leaves_is_the_count(rf, alice, stored):
    # CPython's socket.sendfile() seeks the file to start + bytes sent when it returns or fails.
    response = view_response(rf, alice, stored, Range="bytes=1000-")
    response.file_to_stream.seek(1000 + 12345)
    close_as_a_server_does(response)
    row = only_row()
    assert (row.outcome, row.status, row.bytes_planned, row.bytes_sent) == (
        Outcome.ABORTED,
        206,
        len(CONTENT) - 1000,
        12345,
    )


def test_several_ranges_count_the_multipart_body(alice_client, url):
    response = alice_client.get(url, headers={"Range": "bytes=0-9, 20-29"})
    body = response.getvalue()
    row = only_row()
    assert (row.outcome, row.bytes_planned, row.bytes_sent) == (
        Outcome.COMPLETE,
        len(body),
        len(body),
    )


@pytest.mark.parametrize(
    ("method", "headers", "status"),
    [
        ("head", {}, 200),
        ("get", {"If-None-Match": "etag"}, 304),
        ("get", {"If-Match": '"other"'}, 412),
        ("get", {"Range": "bytes=99999999-"}, 416),
    ],
)
def test_answers_without_file_bytes_are_complete_with_none(
    alice_client, url, stored, method, headers, status
):
    headers = {name: stored.etag if v == "etag" else v for name, v in headers.items()}
    response = getattr(alice_client, method)(url, headers=headers)
    assert response.status_code == status
    row = only_row()
    assert (row.outcome, row.status, row.bytes_planned, row.bytes_sent) == (
        Outcome.COMPLETE,
        status,
        0,
        0,
    )


def test_nginx_mode_says_the_bytes_were_handed_over(alice_client, url, stored, settings):
    settings.DOWNLOADS_DELIVERY = "nginx"
    alice_client.get(url, headers={"Range": "bytes=0-99"})
    row = only_row()
    assert (row.outcome, row.status, row.bytes_planned, row.bytes_sent, row.delivery) == (
        Outcome.HANDED_OVER,
        206,
        100,
        100,
        "nginx",
    )


# --- denied requests -----------------------------------------------------------------------


@pytest.fixture
def carols_file(make_file, carol):
    return make_file(b"carol's", name="carol.txt", owner=carol)


def test_denied_requests_are_logged_and_answered_exactly_alike(
    alice_client, alice, carols_file, django_assert_num_queries
):
    missing_id = uuid.uuid4()
    forbidden = alice_client.get(
        reverse("downloads:download", args=[carols_file.pk]), REMOTE_ADDR="192.0.2.5"
    )
    missing = alice_client.get(reverse("downloads:download", args=[missing_id]))
    malformed = alice_client.get("/files/not-a-file-id/download")
    nowhere = alice_client.get("/no/such/page/")
    assert forbidden.status_code == missing.status_code == malformed.status_code == 404
    assert forbidden.content == missing.content == malformed.content == nowhere.content
    assert dict(forbidden.headers) == dict(missing.headers)
    rows = list(DownloadLog.objects.order_by("pk"))
    assert [(r.requested_id, r.file, r.status, r.outcome, r.user) for r in rows] == [
        (carols_file.pk, None, 404, Outcome.DENIED, alice),
        (missing_id, None, 404, Outcome.DENIED, alice),
        (None, None, 404, Outcome.DENIED, alice),
    ]
    assert rows[0].ip == "192.0.2.5"


@pytest.mark.django_db(transaction=True)
def test_a_denied_request_costs_what_a_missing_one_does_and_no_query_more(
    client, alice, carols_file, django_assert_num_queries
):
    client.force_login(alice)
    client.get(reverse("downloads:download", args=[uuid.uuid4()]))  # compiles the access check
    # The session, the user, the access check: the row goes to the writer thread.
    with django_assert_num_queries(3) as forbidden:
        client.get(reverse("downloads:download", args=[carols_file.pk]))
    with django_assert_num_queries(3) as missing:
        client.get(reverse("downloads:download", args=[uuid.uuid4()]))
    # The same statements, the file id aside.
    assert [q["sql"].split(" WHERE ")[0] for q in forbidden.captured_queries] == [
        q["sql"].split(" WHERE ")[0] for q in missing.captured_queries
    ]
    WRITER.flush()
    assert DownloadLog.objects.filter(outcome=Outcome.DENIED).count() == 3


def test_anonymous_requests_go_to_the_login_page_and_log_nothing(url):
    assert Client().get(url).status_code == 302
    assert not DownloadLog.objects.exists()


def test_answers_given_outside_the_download_view_log_nothing(alice_client, url, carols_file):
    # What the README says is not logged: a refused method, other pages' 404s.
    assert alice_client.post(url).status_code == 405
    assert alice_client.get(carols_file.get_absolute_url()).status_code == 404
    assert alice_client.get("/no/such/page/").status_code == 404
    assert not DownloadLog.objects.exists()


# --- a process that exits while bodies are open ------------------------------------------


def test_bodies_still_open_at_exit_are_logged_as_far_as_they_got_and_only_once(rf, alice, stored):
    # Earlier tests' responses that the test client never closed, and nothing refers to.
    gc.collect()
    response = view_response(rf, alice, stored)
    chunks = iter(response.streaming_content)
    next(chunks)
    next(chunks)
    finish_open_bodies()  # gunicorn's worker_exit, before the body's close()
    row = only_row()
    assert (row.outcome, row.bytes_sent) == (Outcome.ABORTED, 256 * 1024)
    close_as_a_server_does(response)  # a close() that comes after all writes nothing more
    assert DownloadLog.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_denied_rows_survive_atomic_requests(client, alice, carols_file, settings):
    settings.DATABASES["default"]["ATOMIC_REQUESTS"] = True
    client.force_login(alice)
    try:
        assert client.get(reverse("downloads:download", args=[carols_file.pk])).status_code == 404
        assert client.post("/files.zip", {"file": [str(carols_file.pk)]}).status_code == 404
    finally:
        settings.DATABASES["default"]["ATOMIC_REQUESTS"] = False
    WRITER.flush()
    assert list(DownloadLog.objects.order_by("pk").values_list("requested_id", "delivery")) == [
        (carols_file.pk, "django"),
        (carols_file.pk, "zip"),
    ]
