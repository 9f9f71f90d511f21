"""Making a stored file the way the app does: bytes saved, then the row, then any grant."""

from django.contrib.auth.models import Group, User
from django.core.files.base import ContentFile

from downloads.models import Grant, StoredFile


def store_file(
    owner: User, name: str, content: bytes, share_with: User | Group | None = None
) -> StoredFile:
    stored = StoredFile(owner=owner, name=name)
    stored.file.save(name, ContentFile(content), save=False)
    stored.save()
    if isinstance(share_with, User):
        Grant.objects.create(file=stored, user=share_with)
    elif isinstance(share_with, Group):
        Grant.objects.create(file=stored, group=share_with)
    return stored
