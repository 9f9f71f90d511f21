"""Each file's download count (the admin's "downloads" column) is kept by triggers on the log
table (downloads/logcounts.py): it must equal COUNT(*) over the log after any write, delete or
relink, from any writer, under concurrent writers, and after the migration's backfill."""

import threading
from collections import Counter

import pytest
from django.core.management import call_command
from django.db import connection, connections
from django.db.migrations.executor import MigrationExecutor

from downloads.logwriter import LogWriter
from downloads.models import DownloadCount, DownloadLog, Outcome


def row(stored=None, **fields) -> DownloadLog:
    name = stored.name if stored else ""
    return DownloadLog(
        **{"file": stored, "file_name": name, "status": 200, "delivery": "django", **fields}
    )


def counts() -> dict:
    return {count.file_id: count.total for count in DownloadCount.objects.all() if count.total}


def log_counts() -> dict:
    return dict(
        Counter(DownloadLog.objects.filter(file__isnull=False).values_list("file_id", flat=True))
    )


@pytest.mark.django_db
def test_rows_written_deleted_and_relinked_move_the_count(make_file):
    report, notes = make_file(name="report.pdf"), make_file(name="notes.txt")
    DownloadLog.objects.bulk_create([row(report), row(report), row(report), row(notes)])
    denied = row(None, status=404, outcome=Outcome.DENIED)
    denied.save()
    assert counts() == {report.pk: 3, notes.pk: 1}

    DownloadLog.objects.filter(file=report).first().delete()
    assert counts() == {report.pk: 2, notes.pk: 1}

    # A row moved to another file (never done by the app, but a manual fix may).
    DownloadLog.objects.filter(file=notes).update(file=report)
    assert counts() == {report.pk: 3}

    # The retention's bulk delete.
    DownloadLog.objects.filter(file=report).delete()
    assert counts() == {}
    assert DownloadLog.objects.count() == 1  # the denied row, which names no file


@pytest.mark.django_db
def test_deleting_a_file_keeps_its_rows_and_drops_its_count(make_file):
    report, notes = make_file(name="report.pdf"), make_file(name="notes.txt")
    DownloadLog.objects.bulk_create([row(report), row(report), row(notes)])
    report.delete()
    assert not DownloadCount.objects.filter(file_id=report.pk).exists()
    assert counts() == {notes.pk: 1}
    assert DownloadLog.objects.filter(file__isnull=True, file_name="report.pdf").count() == 2


@pytest.mark.django_db(transaction=True)
def test_the_log_writers_batches_are_counted(make_file):
    report, notes = make_file(name="report.pdf"), make_file(name="notes.txt")
    writer = LogWriter()
    writer._write([row(report), row(notes), row(report), row(None, status=404)])
    writer._write([row(notes)])
    assert counts() == {report.pk: 2, notes.pk: 2} == log_counts()


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_lose_no_count(make_file):
    """Four threads, each with its own connection and writer, write batches naming the same
    files in different orders at once (on PostgreSQL: row locks on the counters; on SQLite:
    one writer at a time, the others wait)."""
    files = [make_file(name=f"f{number}.txt") for number in range(3)]
    batches, per_batch, threads = 25, 8, 4
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def write(offset: int) -> None:
        try:
            writer = LogWriter()
            start.wait(timeout=30)
            for batch in range(batches):
                picked = [files[(offset + batch + n) % len(files)] for n in range(per_batch)]
                if offset % 2:
                    picked.reverse()
                writer._write([row(stored) for stored in picked])
                assert writer.status.unwritable == 0, writer.status.last_error
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)
        finally:
            connections.close_all()

    workers = [threading.Thread(target=write, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert not errors, errors
    assert DownloadLog.objects.count() == batches * per_batch * threads
    assert counts() == log_counts()
    assert sum(counts().values()) == batches * per_batch * threads


@pytest.mark.django_db(transaction=True)
def test_the_migration_counts_the_rows_already_logged(make_file):
    report, notes = make_file(name="report.pdf"), make_file(name="notes.txt")
    executor = MigrationExecutor(connection)
    before = [("downloads", "0002_outcomes_missing_bytes")]
    executor.migrate(before)
    try:
        # Rows logged before the counter existed: no trigger sees them.
        with connection.cursor() as cursor:
            for stored, times in ((report, 3), (notes, 1)):
                for _ in range(times):
                    cursor.execute(
                        "INSERT INTO downloads_downloadlog (file_id, file_name, at, status,"
                        " range, bytes_sent, bytes_planned, outcome, delivery)"
                        " VALUES (%s, %s, CURRENT_TIMESTAMP, 200, '', 0, 0, '', 'django')",
                        [
                            DownloadLog._meta.get_field("file").get_db_prep_value(
                                stored.pk, connection
                            ),
                            stored.name,
                        ],
                    )
    finally:
        call_command("migrate", "downloads", verbosity=0)
    assert counts() == {report.pk: 3, notes.pk: 1}
    # And the triggers are in place after it.
    row(report).save()
    assert counts() == {report.pk: 4, notes.pk: 1}
