"""Two uploads of one user at once cannot both fit in what is left of the quota
(downloads/useruploads.py): each checks after writing its row, serialised per user.

Both uploads are held, after their rows are written and before their checks, until the other
has written too (or two seconds have passed: on SQLite the second INSERT waits for the first
transaction to end, so they cannot both get there). Without the per-user lock, on PostgreSQL
each check would see only its own new row and both would stay.
"""

import contextlib
import threading
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from downloads import useruploads
from downloads.models import StoredFile
from downloads.useruploads import QuotaExceeded, store_upload
from tests.conftest import stored_keys

HOLD_SECONDS = 2.0


@pytest.mark.django_db(transaction=True)
def test_two_uploads_at_once_cannot_both_squeeze_into_the_quota(
    settings, monkeypatch, private_media: Path
):
    settings.DOWNLOADS_USER_QUOTA_BYTES = 100
    owner = User.objects.create_user("racer")
    both_written = threading.Barrier(2)
    check = useruploads._check_quota_after_write

    def check_once_both_are_written(owner_id: int, size: int) -> None:
        # On SQLite the barrier breaks: the other is waiting for this transaction to end.
        with contextlib.suppress(threading.BrokenBarrierError):
            both_written.wait(timeout=HOLD_SECONDS)
        check(owner_id, size)

    monkeypatch.setattr(useruploads, "_check_quota_after_write", check_once_both_are_written)
    outcomes: list[str] = []

    def upload(n: int) -> None:
        try:
            store_upload(owner.pk, SimpleUploadedFile(f"{n}.bin", b"x" * 60))
            outcomes.append("stored")
        except QuotaExceeded:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=upload, args=(n,)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["refused", "stored"]
    stored = StoredFile.objects.get()
    assert list(stored_keys(private_media)) == [stored.file.name]
