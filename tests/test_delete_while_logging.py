"""A file's row is locked before Django detaches its download log rows (downloads/signals.py).

The log writer inserts rows in its own transaction at any moment, and PostgreSQL checks their
foreign key when that transaction commits, taking a KEY SHARE lock on the file's row. A commit
that fell between Django's `UPDATE ... SET file_id = NULL` and its `DELETE` left a row naming
the file and the delete failed (seen in CI: the admin's delete would be a 500). While the delete
holds the row FOR UPDATE, such a commit waits, then finds the file gone (the writer keeps the row
without it). This test asks, from another connection in the middle of the delete, for exactly
the lock that commit needs."""

import threading
import time
from collections.abc import Callable

import pytest
from django.db import OperationalError, connection, connections, transaction
from django.db.models.signals import pre_delete

from downloads import logwriter
from downloads.models import DownloadCount, DownloadLog, StoredFile

WAIT_S = 30


def key_share_refused(file_pk: object) -> bool:
    """Whether another connection is refused the lock a log row's foreign key check takes."""
    refused: list[bool] = []

    def ask() -> None:
        try:
            with connections["default"].cursor() as cursor:
                cursor.execute("BEGIN")
                try:
                    cursor.execute(
                        "SELECT 1 FROM downloads_storedfile WHERE id = %s FOR KEY SHARE NOWAIT",
                        [file_pk],
                    )
                    refused.append(False)
                except OperationalError:
                    refused.append(True)
                finally:
                    cursor.execute("ROLLBACK")
        finally:
            connections["default"].close()

    asker = threading.Thread(target=ask)
    asker.start()
    asker.join(WAIT_S)
    return refused == [True]


@pytest.mark.django_db(transaction=True)
def test_the_file_row_is_locked_before_its_log_rows_are_detached(make_file):
    stored = make_file()
    DownloadLog.objects.create(file=stored, file_name=stored.name, status=200)
    seen: list[bool] = []

    def while_deleting(sender, instance, **kwargs) -> None:
        if connection.vendor == "postgresql":
            seen.append(key_share_refused(instance.pk))
        else:  # SQLite: one writing transaction at a time, nothing to interleave
            seen.append(True)

    # Connected after the app's receiver, so it runs after the lock and before the detach.
    pre_delete.connect(while_deleting, sender=StoredFile)
    try:
        stored.delete()
    finally:
        pre_delete.disconnect(while_deleting, sender=StoredFile)
    assert seen == [True]
    assert list(DownloadLog.objects.values_list("file_id", "file_name")) == [(None, stored.name)]


def delete_while_a_batch_is_open(
    rows: list[DownloadLog], delete: Callable[[], object]
) -> list[BaseException]:
    """Runs `delete` while another connection's transaction has inserted the first of `rows`
    (the rest follow once the delete is under way, then the commit): where a delete meets the
    log writer. The writer's errors."""
    inserted, deleting = threading.Event(), threading.Event()
    writer_errors: list[BaseException] = []

    def write_the_batch() -> None:
        try:
            with transaction.atomic():
                for number, row in enumerate(rows):
                    row.save(force_insert=True)
                    if number == 0:
                        inserted.set()
                        deleting.wait(WAIT_S)
                        time.sleep(0.5)  # the delete is under way, waiting (or not) for us
        except BaseException as error:
            writer_errors.append(error)
        finally:
            inserted.set()
            connections["default"].close()

    writer = threading.Thread(target=write_the_batch)
    writer.start()
    assert inserted.wait(WAIT_S)
    deleting.set()
    delete()
    writer.join(WAIT_S)
    return writer_errors


@pytest.mark.django_db(transaction=True)
def test_a_row_being_logged_for_the_file_does_not_deadlock_its_delete(make_file):
    """The writer's open transaction holds the file's counter row (its insert's trigger moved it)
    and will lock the file's row at commit. Seen in CI: the delete locked the file's row, then
    waited for the counter, and PostgreSQL broke the deadlock by failing one of the two."""
    stored = make_file()
    row = DownloadLog(file=stored, file_name=stored.name, status=200)
    assert delete_while_a_batch_is_open([row], stored.delete) == []
    # Committed before the delete went on: detached by it, never lost.
    assert list(DownloadLog.objects.values_list("file_id", "file_name")) == [(None, stored.name)]
    assert not DownloadCount.objects.filter(file_id=stored.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_a_batch_being_logged_does_not_deadlock_a_delete_of_its_files(make_file):
    """A batch of rows for several files locks their counters one insert at a time, in the
    writer's order (logwriter.in_lock_order); deleting several files locks them in primary key
    order. Here the delete of both files starts after the writer's first row: in any other
    order than the delete's, each would wait for the other (PostgreSQL fails one after
    deadlock_timeout)."""
    first, second = sorted([make_file(name="a.txt"), make_file(name="b.txt")], key=lambda f: f.pk)
    # Handed over in the order that deadlocked: the later file's row first.
    rows = [
        DownloadLog(file=stored, file_name=stored.name, status=200) for stored in (second, first)
    ]
    both = StoredFile.objects.filter(pk__in=[first.pk, second.pk])
    assert delete_while_a_batch_is_open(logwriter.in_lock_order(rows), both.delete) == []
    assert sorted(DownloadLog.objects.values_list("file_id", "file_name")) == [
        (None, "a.txt"),
        (None, "b.txt"),
    ]
    assert not DownloadCount.objects.exists()


def test_rows_go_in_file_id_order_denied_ones_first():
    ids = ["f" * 32, "0" * 31 + "1", "8" + "0" * 31]
    rows = [DownloadLog(file_id=file_id, status=200) for file_id in ids]
    rows.append(DownloadLog(file_id=None, status=404))
    ordered = [row.file_id for row in logwriter.in_lock_order(rows)]
    assert ordered == [None, "0" * 31 + "1", "8" + "0" * 31, "f" * 32]
