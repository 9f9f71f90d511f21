"""Each file's download count (the admin's "downloads" column) is kept by triggers on the log
table (downloads/logcounts.py): it must equal COUNT(*) over the log after any write, delete or
relink, from any writer, under concurrent writers, and after the migration's backfill."""

import threading
import uuid
from collections import Counter

import pytest
from django.core.management import call_command
from django.db import connection, connections
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from downloads.logwriter import LogWriter
from downloads.models import DownloadCount, DownloadLog, Outcome, StoredFile


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


def every_file_counted() -> dict:
    """The counter row of every stored file (migration 0010: a row for each, 0 if unlogged),
    checked against the files and the log; returns the non-zero counts."""
    rows = dict(DownloadCount.objects.values_list("file_id", "total"))
    assert set(rows) == set(StoredFile.objects.values_list("pk", flat=True))
    assert {file_id: total for file_id, total in rows.items() if total} == log_counts()
    return {file_id: total for file_id, total in rows.items() if total}


def insert_file_row(owner_id: int, name: str) -> uuid.UUID:
    """A stored file's row written by SQL, as a restore or a manual fix would: no ORM."""
    file_id = uuid.uuid4()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO downloads_storedfile (id, file, name, description, content_type, size,"
            " sha256, owner_id, created, updated) VALUES (%s, %s, %s, '', 'text/plain', 0,"
            " '', %s, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
            [StoredFile._meta.pk.get_db_prep_value(file_id, connection), name, name, owner_id],
        )
    return file_id


@pytest.mark.django_db
def test_every_new_file_has_a_zero_count_row(make_file, alice):
    """Whoever inserts a file (the ORM, a bulk insert, SQL), its counter row is there, 0: the
    admin's list joins the counts with an inner join and would not show a file without one."""
    report = make_file(name="report.pdf")
    now = timezone.now()
    bulk = StoredFile.objects.bulk_create(
        [
            StoredFile(
                file=f"bulk{n}",
                name=f"bulk{n}.txt",
                content_type="text/plain",
                size=0,
                sha256="",
                owner=alice,
                updated=now,
            )
            for n in range(3)
        ]
    )
    raw = insert_file_row(alice.pk, "raw.txt")
    assert DownloadCount.objects.filter(total=0).count() == 5
    assert every_file_counted() == {}

    DownloadLog.objects.bulk_create([row(report), row(report), row(bulk[0])])
    with connection.cursor() as cursor:
        raw_db = StoredFile._meta.pk.get_db_prep_value(raw, connection)
        cursor.execute(
            "INSERT INTO downloads_downloadlog (file_id, file_name, at, status, range,"
            " bytes_sent, bytes_planned, outcome, delivery)"
            " VALUES (%s, 'raw.txt', CURRENT_TIMESTAMP, 200, '', 0, 0, '', 'django')",
            [raw_db],
        )
    assert every_file_counted() == {report.pk: 2, bulk[0].pk: 1, raw: 1}


@pytest.mark.django_db
def test_a_deleted_files_row_goes_with_it(make_file):
    report, notes, quiet = (make_file(name=name) for name in ("r.pdf", "n.txt", "q.txt"))
    DownloadLog.objects.bulk_create([row(report), row(notes), row(notes)])
    report.delete()
    quiet.delete()
    assert every_file_counted() == {notes.pk: 2}
    StoredFile.objects.all().delete()  # the queryset's bulk path
    assert not DownloadCount.objects.exists()
    assert DownloadLog.objects.filter(file__isnull=True).count() == 3


@pytest.mark.django_db(transaction=True)
def test_migration_0010_counts_every_file_and_reverses(make_file, alice):
    executor = MigrationExecutor(connection)
    executor.migrate([("downloads", "0009_signed_media")])
    try:
        # Before 0010 a file that nobody downloaded had no row.
        quiet = make_file(name="quiet.txt")
        report = make_file(name="report.pdf")
        row(report).save()
        assert dict(DownloadCount.objects.values_list("file_id", "total")) == {report.pk: 1}
        assert "downloadcount_total_file" not in index_names()
    finally:
        call_command("migrate", "downloads", verbosity=0)
    assert every_file_counted() == {report.pk: 1}
    assert DownloadCount.objects.get(file=quiet).total == 0
    assert "downloadcount_total_file" in index_names()
    later = make_file(name="later.txt")
    assert DownloadCount.objects.get(file=later).total == 0

    # Backwards: the trigger and the index go, the counts stay right.
    MigrationExecutor(connection).migrate([("downloads", "0009_signed_media")])
    try:
        unseen = make_file(name="unseen.txt")
        assert not DownloadCount.objects.filter(file=unseen).exists()
        assert "downloadcount_total_file" not in index_names()
    finally:
        call_command("migrate", "downloads", verbosity=0)


def index_names() -> set:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "downloads_downloadcount")
    return set(constraints)
