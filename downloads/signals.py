"""Bytes follow their record: deleting a StoredFile removes its bytes once the delete commits."""

from typing import Any

from django.db.models.signals import post_delete
from django.dispatch import receiver

from downloads.files import delete_after_commit
from downloads.models import StoredFile


@receiver(post_delete, sender=StoredFile)
def delete_bytes_with_record(sender: type[StoredFile], instance: StoredFile, **kwargs: Any) -> None:
    if instance.file.name:
        delete_after_commit(instance.file.storage, instance.file.name)
