"""Bytes follow their record: deleting a StoredFile removes its bytes once the delete commits.

And a file's row is locked before Django detaches its download log rows: the log writer inserts
rows for a file in another transaction at any moment (a download that just ended). Without the
lock, a row inserted between Django's `UPDATE ... SET file_id = NULL` and its `DELETE` still names
the file, and PostgreSQL refuses the delete (a foreign key violation: the admin's delete was a
500). With it, the writer's insert waits for the delete, then finds the file gone and keeps the
row without it (downloads/logwriter.py), and rows committed before the lock are detached.

The file's download counter row is locked first, before the file's row. The writer's
transaction takes them in that order: its insert moves the counter at once (a trigger), and the
file's row is locked only at commit (the foreign key's deferred check). The other order
deadlocked: the delete held the file and waited for the counter, the writer the reverse.
"""

from typing import Any

from django.db import connections
from django.db.models.signals import post_delete, pre_delete
from django.dispatch import receiver

from downloads.files import delete_after_commit
from downloads.models import DownloadCount, StoredFile


@receiver(pre_delete, sender=StoredFile)
def lock_the_row_before_its_log_rows_are_detached(
    sender: type[StoredFile], instance: StoredFile, using: str, **kwargs: Any
) -> None:
    # SQLite lets one transaction write at a time: the writer's insert cannot interleave.
    if connections[using].vendor == "postgresql":
        list(
            DownloadCount.objects.using(using)
            .select_for_update()
            .filter(file_id=instance.pk)
            .values_list("pk", flat=True)
        )
        list(
            StoredFile.objects.using(using)
            .select_for_update()
            .filter(pk=instance.pk)
            .values_list("pk", flat=True)
        )


@receiver(post_delete, sender=StoredFile)
def delete_bytes_with_record(sender: type[StoredFile], instance: StoredFile, **kwargs: Any) -> None:
    if instance.file.name:
        delete_after_commit(instance.file.storage, instance.file.name)
