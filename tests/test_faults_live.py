"""Missing bytes through the real servers: nginx in front, gunicorn, moto's S3 server."""

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import override_settings

from downloads.models import DownloadLog, Outcome, StoredFile
from harness.storages import with_default_storage
from tests.livefiles import USER, Live, _stored, storage_setting

pytestmark = pytest.mark.integration


@pytest.fixture
def fresh_file(request, django_db_blocker: Any, live_media):
    """A file of the live user's in a stack's storage, made for this test alone."""

    def make(live: Live, name: str) -> StoredFile:
        default = storage_setting(live.stack.storage, live_media, request)
        with (
            django_db_blocker.unblock(),
            override_settings(STORAGES=with_default_storage(default)),
        ):
            return _stored(name, b"payload " * 1000, User.objects.get(username=USER))

    return make


def remove_bytes(live: Live, stored: StoredFile, live_media, moto_s3) -> None:
    if live.stack.storage == "s3":
        moto_s3.client().delete_object(Bucket=moto_s3.bucket, Key=stored.file.name)
    else:
        (live_media / stored.file.name).unlink()


@pytest.mark.parametrize("stack", ["django", "nginx", "django-s3", "nginx-s3", "s3"])
def test_missing_bytes_are_the_apps_clear_503_through_nginx(
    stack, live_for, fresh_file, live_media, moto_s3, django_db_blocker
):
    live = live_for(stack)
    stored = fresh_file(live, f"gone-{stack}.pdf")
    remove_bytes(live, stored, live_media, moto_s3)
    response = live.get(stored)
    assert response.status_code == 503
    assert "Staff have been told" in response.text
    assert response.headers["Content-Type"].startswith("text/html")
    assert "attachment" not in response.headers.get("Content-Disposition", "")
    assert stored.file.name not in response.text
    assert moto_s3.bucket not in response.text
    with django_db_blocker.unblock():
        stored.refresh_from_db()
        assert stored.bytes_missing_since is not None
    assert "Bytes missing from storage" in live.stack.gunicorn.log()


def test_the_log_row_says_failed(live_for, fresh_file, live_media, moto_s3, django_db_blocker):
    live = live_for("nginx")
    stored = fresh_file(live, "logged.pdf")
    remove_bytes(live, stored, live_media, moto_s3)
    assert live.get(stored).status_code == 503
    with django_db_blocker.unblock():
        for _ in range(100):  # the log writer commits off the request
            row = DownloadLog.objects.filter(file=stored).first()
            if row is not None:
                break
            import time

            time.sleep(0.05)
        assert row is not None
        assert (row.status, row.outcome) == (503, Outcome.FAILED)
