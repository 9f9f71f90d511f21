"""The download log's writer: rows leave the request at once and all of them reach the database."""

import uuid

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from downloads.logwriter import WRITER, LogWriter
from downloads.models import DownloadLog
from tests.servers import Gunicorn, login, make_live_user, server_env


def row(**fields) -> DownloadLog:
    return DownloadLog(**{"file_name": "x.txt", "status": 200, "delivery": "django", **fields})


@pytest.mark.django_db(transaction=True)
def test_the_request_writes_nothing_and_the_writer_writes_its_row(
    client, alice, make_file, django_assert_num_queries
):
    stored = make_file(b"0123456789")
    client.force_login(alice)
    url = reverse("downloads:download", args=[stored.pk])
    client.get(url).getvalue()  # the access check is compiled on first use, once per process
    WRITER.flush()
    DownloadLog.objects.all().delete()
    # The session, the user, the access check: no INSERT in the request's thread.
    with django_assert_num_queries(3):
        response = client.get(url, headers={"Range": "bytes=2-5"}, REMOTE_ADDR="192.0.2.9")
        assert response.getvalue() == b"2345"  # the body ends: the row is handed over
    assert response.status_code == 206
    WRITER.flush()
    entry = DownloadLog.objects.get()
    assert (entry.file, entry.user, entry.status, entry.range, entry.bytes_sent, entry.ip) == (
        stored,
        alice,
        206,
        "bytes=2-5",
        4,
        "192.0.2.9",
    )


@pytest.mark.django_db(transaction=True)
def test_stop_writes_every_queued_row_and_a_new_row_starts_it_again(alice):
    writer = LogWriter()
    for n in range(250):
        writer.submit(row(user=alice, bytes_sent=n))
    writer.stop()
    assert DownloadLog.objects.count() == 250
    assert sorted(DownloadLog.objects.values_list("bytes_sent", flat=True)) == list(range(250))
    writer.submit(row(user=alice))
    writer.stop()
    assert DownloadLog.objects.count() == 251


@pytest.mark.django_db(transaction=True)
def test_batches_never_exceed_their_size(alice):
    writer = LogWriter(max_batch=7)
    for _ in range(30):
        writer.submit(row(user=alice))
    writer.stop()
    assert DownloadLog.objects.count() == 30


@pytest.mark.django_db(transaction=True)
def test_a_row_whose_file_and_user_are_gone_is_kept_without_them(alice, make_file):
    writer = LogWriter()
    kept = make_file(name="kept.txt")
    gone_user = User.objects.create_user("gone")
    gone_user_id = gone_user.pk
    gone_user.delete()
    writer.submit(row(file=kept, user=alice, file_name="kept.txt"))
    writer.submit(row(file_id=uuid.uuid4(), user_id=gone_user_id, file_name="deleted.txt"))
    writer.stop()
    rows = {entry.file_name: entry for entry in DownloadLog.objects.all()}
    assert (rows["kept.txt"].file, rows["kept.txt"].user) == (kept, alice)
    assert (rows["deleted.txt"].file, rows["deleted.txt"].user) == (None, None)


@pytest.mark.integration
def test_a_gracefully_stopped_server_has_written_every_row(
    transactional_db, live_server_media, live_static, make_file, tmp_path
):
    user = make_live_user("log-reader", "log-reader-password")
    stored = make_file(b"x" * 1024, owner=user)
    server = Gunicorn(env=server_env(live_server_media, live_static, GUNICORN_WORKERS="2"))
    server.start(tmp_path / "gunicorn.log")
    try:
        session = login(server.url, "log-reader", "log-reader-password")
        for _ in range(60):
            assert session.get(server.url + stored.get_download_url(), timeout=10).ok
    finally:
        server.stop()
    assert server.process is not None
    assert server.process.returncode == 0, server.log()
    assert DownloadLog.objects.filter(file=stored).count() == 60


EXITING_PROCESS = """
import django
django.setup()
from downloads.logwriter import WRITER
from downloads.models import DownloadLog
for n in range(2000):
    WRITER.submit(DownloadLog(file_name="at-exit.txt", status=200, bytes_sent=n))
# The interpreter exits now, with most rows still queued.
"""


@pytest.mark.integration
def test_rows_still_queued_at_exit_are_written(transactional_db):
    import os
    import subprocess
    import sys

    from tests.servers import ROOT, SECRET_KEY, database_url

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "project.settings",
        "DJANGO_SECRET_KEY": SECRET_KEY,
        "DATABASE_URL": database_url(),
    }
    subprocess.run([sys.executable, "-c", EXITING_PROCESS], cwd=ROOT, env=env, check=True)
    assert DownloadLog.objects.filter(file_name="at-exit.txt").count() == 2000
