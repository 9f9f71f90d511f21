"""Faults answered clearly, against the real thing: files removed on disk, objects removed from
moto's S3 server, an S3 endpoint that refuses or never answers, a full disk (a real tmpfs)."""

import errno
import logging
import os
import pty
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.config import Config as BotoConfig
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from downloads.models import DownloadLog, Outcome, StoredFile
from harness.s3 import MotoS3
from harness.storages import local_storage, with_default_storage
from tests.conftest import stored_keys
from tests.test_admin import ADD_URL, file_form, form_errors

pytestmark = pytest.mark.django_db

BODY = bytes(range(256)) * 64  # 16 KiB
# "Answered, not hung" on a loaded 2-core machine: the S3 deadlines under test are 1 s each.
ANSWER_BOUND = 8.0


def url(stored: StoredFile) -> str:
    return reverse("downloads:download", args=[stored.pk])


def assert_clear_page(response, stored: StoredFile, *, missing: bool) -> None:
    assert response.status_code == 503
    assert response["Content-Type"].startswith("text/html")
    assert response["Cache-Control"] == "private, no-store"
    text = response.content.decode()
    assert "Staff have been told" in text
    assert ("contents of" in text) is missing
    assert stored.file.name not in text  # the storage key stays inside
    assert "Traceback" not in text
    if not missing:
        assert response["Retry-After"] == "30"


def assert_flagged_and_logged(stored: StoredFile, caplog) -> None:
    stored.refresh_from_db()
    assert stored.bytes_missing_since is not None
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert any(
        "Bytes missing" in r.getMessage() and str(stored.pk) in r.getMessage() for r in errors
    )
    row = DownloadLog.objects.get(file=stored)
    assert (row.status, row.outcome, row.bytes_sent) == (503, Outcome.FAILED, 0)


# --- local bytes removed on disk ----------------------------------------------------------------


@pytest.mark.parametrize("mode", ["django", "nginx"])
@pytest.mark.parametrize("range_header", [None, "bytes=0-9", "bytes=0-9,100-109"])
def test_a_file_removed_on_disk_is_a_clear_503_flagged_and_logged(
    mode, range_header, settings, alice_client, make_file, private_media, caplog
):
    settings.DOWNLOADS_DELIVERY = mode
    stored = make_file(BODY, "report.pdf")
    (private_media / stored.file.name).unlink()
    headers = {"Range": range_header} if range_header else {}
    response = alice_client.get(url(stored), headers=headers)
    assert_clear_page(response, stored, missing=True)
    assert_flagged_and_logged(stored, caplog)


def test_someone_elses_missing_file_is_still_the_policys_404(client, bob, make_file, private_media):
    stored = make_file(BODY)
    (private_media / stored.file.name).unlink()
    client.force_login(bob)
    assert client.get(url(stored)).status_code == 404
    stored.refresh_from_db()
    assert stored.bytes_missing_since is None


def test_new_bytes_clear_the_flag(alice_client, make_file, private_media):
    stored = make_file(BODY)
    (private_media / stored.file.name).unlink()
    assert alice_client.get(url(stored)).status_code == 503
    stored.refresh_from_db()
    assert stored.bytes_missing_since is not None
    stored.file = SimpleUploadedFile("new.bin", b"new bytes")
    stored.save()
    stored.refresh_from_db()
    assert stored.bytes_missing_since is None
    assert alice_client.get(url(stored)).status_code == 200


def test_a_zip_with_a_missing_local_member_is_refused_before_streaming(
    alice_client, make_file, private_media, caplog
):
    whole = make_file(BODY, "whole.txt")
    gone = make_file(BODY, "gone.txt")
    (private_media / gone.file.name).unlink()
    response = alice_client.post(reverse("downloads:zip"), {"file": [whole.pk, gone.pk]})
    assert response.status_code == 503
    assert "“gone.txt”" in response.content.decode()
    assert "whole.txt" not in response.content.decode()
    gone.refresh_from_db()
    assert gone.bytes_missing_since is not None
    assert not DownloadLog.objects.exists()  # no member was sent


def test_the_admin_shows_and_filters_missing_bytes(admin_client, make_file, private_media):
    make_file(BODY, "whole.txt")
    gone = make_file(BODY, "gone.txt")
    (private_media / gone.file.name).unlink()
    call_command_quietly()
    changelist = reverse("admin:downloads_storedfile_changelist")
    page = admin_client.get(changelist, {"bytes_missing": "yes"}).content.decode()
    assert "gone.txt" in page
    assert "whole.txt" not in page
    assert "bytes missing" in page
    page = admin_client.get(changelist, {"bytes_missing": "no"}).content.decode()
    assert "whole.txt" in page
    assert "gone.txt" not in page


def call_command_quietly(*args: str) -> str:
    from io import StringIO

    out, err = StringIO(), StringIO()
    try:
        call_command("verify_files", *args, stdout=out, stderr=err)
    except CommandError as error:
        return out.getvalue() + str(error)
    return out.getvalue()


# --- manage.py verify_files ---------------------------------------------------------------------


@pytest.mark.parametrize("missing_only", [False, True])
def test_verify_files_reports_missing_and_corrupt_local_files(
    missing_only, make_file, private_media
):
    whole = make_file(BODY, "whole.bin")
    gone = make_file(BODY, "gone.bin")
    corrupt = make_file(BODY, "corrupt.bin")
    (private_media / gone.file.name).unlink()
    flipped = bytearray(BODY)
    flipped[5000] ^= 1
    (private_media / corrupt.file.name).write_bytes(bytes(flipped))  # same size, other bytes
    args = ["--missing-only"] if missing_only else []
    from io import StringIO

    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError, match="missing or corrupt"):
        call_command("verify_files", *args, stdout=out, stderr=err)
    report = out.getvalue()
    assert f"{gone.pk} 'gone.bin': missing" in report
    assert ("corrupt.bin" in report) is not missing_only  # same size: only hashing finds it
    assert "whole.bin" not in report
    assert "verified 3/3 files" in err.getvalue()  # plain progress lines without a terminal
    flagged = set(StoredFile.objects.filter(bytes_missing_since__isnull=False))
    assert flagged == ({gone} if missing_only else {gone, corrupt})
    assert whole not in flagged

    # Repaired: the next run is clean, exits 0 and clears the flags.
    (private_media / gone.file.name).write_bytes(BODY)
    (private_media / corrupt.file.name).write_bytes(BODY)
    call_command("verify_files", *args, stdout=out, stderr=err)
    assert not StoredFile.objects.filter(bytes_missing_since__isnull=False).exists()


def test_verify_files_from_the_command_line(transactional_db, alice, private_media):
    """As cron runs it: exit status 1 when a file is missing; on a terminal, a progress bar."""
    from harness.process import ROOT
    from tests.servers import SECRET_KEY, database_url
    from tests.stored import store_file

    stored = store_file(alice, "gone.bin", BODY)
    (private_media / stored.file.name).unlink()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "project.settings",
        "DJANGO_SECRET_KEY": SECRET_KEY,
        "DATABASE_URL": database_url(),
        "MEDIA_ROOT": str(private_media),
    }
    main, terminal = pty.openpty()
    try:
        result = subprocess.run(
            [sys.executable, "manage.py", "verify_files"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=terminal,
            timeout=60,
            check=False,
        )
        progress = os.read(main, 65536).decode()
    finally:
        os.close(main)
        os.close(terminal)
    assert result.returncode == 1
    assert f"{stored.pk} 'gone.bin': missing" in result.stdout.decode()
    assert "\r[" in progress
    assert "1/1 files" in progress


# --- S3: objects removed from moto's bucket ---------------------------------------------------


@pytest.fixture
def s3_stored(s3_media, make_file) -> StoredFile:
    return make_file(BODY, "report.pdf")


@pytest.mark.parametrize("mode", ["django", "nginx", "s3"])
def test_an_object_removed_from_the_bucket_is_a_clear_503(
    mode, settings, alice_client, s3_stored, s3_media, caplog
):
    settings.DOWNLOADS_DELIVERY = mode
    s3_media.client().delete_object(Bucket=s3_media.bucket, Key=s3_stored.file.name)
    response = alice_client.get(url(s3_stored))
    assert_clear_page(response, s3_stored, missing=True)
    assert s3_media.bucket not in response.content.decode()
    assert_flagged_and_logged(s3_stored, caplog)


def test_a_zip_whose_s3_member_vanished_ends_broken_and_is_reported(
    alice_client, s3_media, make_file, caplog
):
    first = make_file(BODY, "first.txt")
    gone = make_file(BODY, "gone.txt")
    s3_media.client().delete_object(Bucket=s3_media.bucket, Key=gone.file.name)
    response = alice_client.post(reverse("downloads:zip"), {"file": [first.pk, gone.pk]})
    assert response.status_code == 200  # sent before the member was reached
    from downloads.archive import MemberChangedError

    with pytest.raises(MemberChangedError):
        b"".join(response.streaming_content)
    gone.refresh_from_db()
    assert gone.bytes_missing_since is not None
    assert any("Bytes missing" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("missing_only", [False, True])
def test_verify_files_over_s3(missing_only, s3_media, make_file):
    whole = make_file(BODY, "whole.bin")
    gone = make_file(BODY, "gone.bin")
    corrupt = make_file(BODY, "corrupt.bin")
    client = s3_media.client()
    client.delete_object(Bucket=s3_media.bucket, Key=gone.file.name)
    client.put_object(Bucket=s3_media.bucket, Key=corrupt.file.name, Body=BODY[::-1])
    report = call_command_quietly(*(["--missing-only"] if missing_only else []))
    assert f"{gone.pk} 'gone.bin': missing" in report
    assert ("corrupt.bin" in report) is not missing_only
    assert "whole.bin" not in report
    whole.refresh_from_db()
    assert whole.bytes_missing_since is None


# --- S3 down or silent --------------------------------------------------------------------------


class SilentEndpoint:
    """A loopback TCP server that accepts connections and never answers a byte."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


@pytest.fixture
def own_moto(tmp_path) -> Iterator[MotoS3]:
    """A moto server of this test's own, so stopping it stops nobody else's."""
    server = MotoS3(recording=tmp_path / "recording.jsonl").start(tmp_path / "moto.log")
    yield server
    server.stop()


def bounded_storage(moto: MotoS3, endpoint_url: str) -> dict:
    """The moto storage with the deadlines project/settings.py sets, made short for the test."""
    storage = moto.storage_settings()
    storage["OPTIONS"] = {
        **storage["OPTIONS"],
        "endpoint_url": endpoint_url,
        "client_config": BotoConfig(
            s3={"addressing_style": "path"},
            signature_version="s3v4",
            connect_timeout=1,
            read_timeout=1,
            retries={"mode": "standard", "total_max_attempts": 2},
        ),
    }
    return storage


@pytest.fixture
def stored_then_down(settings, own_moto, make_file):
    """A file stored in the bucket; then the function makes the bucket refuse or go silent."""
    settings.STORAGES = with_default_storage(bounded_storage(own_moto, own_moto.endpoint_url))
    stored = make_file(BODY, "report.pdf")
    silent = SilentEndpoint()

    def down(kind: str) -> None:
        if kind == "refused":
            own_moto.stop()
            endpoint = own_moto.endpoint_url
        else:
            endpoint = f"http://127.0.0.1:{silent.port}"
        settings.STORAGES = with_default_storage(bounded_storage(own_moto, endpoint))

    yield stored, down
    silent.close()


@pytest.mark.integration
@pytest.mark.parametrize("kind", ["refused", "silent"])
@pytest.mark.parametrize("mode", ["django", "nginx", "s3"])
def test_s3_down_or_silent_is_a_clear_503_in_bounded_time(
    kind, mode, settings, alice_client, stored_then_down, caplog
):
    stored, down = stored_then_down
    settings.DOWNLOADS_DELIVERY = mode
    down(kind)
    started = time.monotonic()
    response = alice_client.get(url(stored))
    elapsed = time.monotonic() - started
    assert_clear_page(response, stored, missing=False)
    assert elapsed < ANSWER_BOUND
    stored.refresh_from_db()
    assert stored.bytes_missing_since is None  # down is not missing
    assert any("Storage unavailable" in r.getMessage() for r in caplog.records)
    assert DownloadLog.objects.get(file=stored).outcome == Outcome.FAILED


@pytest.mark.integration
@pytest.mark.parametrize("kind", ["refused", "silent"])
def test_an_admin_upload_with_s3_down_is_a_form_error(kind, admin_client, alice, stored_then_down):
    _stored, down = stored_then_down
    down(kind)
    before = StoredFile.objects.count()
    started = time.monotonic()
    response = admin_client.post(
        ADD_URL, file_form(alice, SimpleUploadedFile("new.txt", b"new bytes"))
    )
    assert time.monotonic() - started < ANSWER_BOUND
    assert response.status_code == 200
    assert "could not store this file" in form_errors(response)
    assert StoredFile.objects.count() == before


# --- a full disk --------------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path) -> Iterator[Path]:
    """A real 2 MiB filesystem (tmpfs). Mounting needs root, which CI has: a refusal fails."""
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount_point)], check=True)
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


def test_disk_full_during_an_admin_upload_is_a_form_error_leaving_no_bytes(
    settings, admin_client, alice, small_disk, tmp_path
):
    upload_temp = tmp_path / "upload-temp"
    upload_temp.mkdir()
    settings.FILE_UPLOAD_TEMP_DIR = str(upload_temp)
    settings.MEDIA_ROOT = small_disk
    settings.STORAGES = with_default_storage(local_storage(small_disk))
    big = SimpleUploadedFile("big.bin", b"x" * (3 * 1024 * 1024))  # spooled to upload_temp
    response = admin_client.post(ADD_URL, file_form(alice, big))
    assert response.status_code == 200
    assert "no room left" in form_errors(response)
    assert not StoredFile.objects.exists()
    assert list(stored_keys(small_disk)) == []  # no half-written file
    assert list(upload_temp.iterdir()) == []  # the spooled upload is gone too
    # The disk still takes a file that fits.
    small = SimpleUploadedFile("small.txt", b"fits")
    response = admin_client.post(ADD_URL, file_form(alice, small))
    assert response.status_code == 302, form_errors(response)
    assert len(list(stored_keys(small_disk))) == 1


def test_a_full_upload_temp_dir_is_a_form_error_leaving_nothing(
    settings, admin_client, alice, small_disk, tmp_path
):
    # The upload is spooled to FILE_UPLOAD_TEMP_DIR while the request is parsed, before the view:
    # that disk filling up was a 500.
    settings.FILE_UPLOAD_TEMP_DIR = str(small_disk)
    big = SimpleUploadedFile("big.bin", b"x" * (3 * 1024 * 1024))
    response = admin_client.post(ADD_URL, file_form(alice, big))
    assert response.status_code == 200
    assert "no room left" in form_errors(response)
    assert not StoredFile.objects.exists()
    assert list(small_disk.iterdir()) == []  # the half-spooled upload is gone
    small = SimpleUploadedFile("small.txt", b"fits")
    response = admin_client.post(ADD_URL, file_form(alice, small))
    assert response.status_code == 302, form_errors(response)


def test_enospc_is_told_apart_from_other_write_errors():
    from downloads.faults import storage_write_message

    assert "no room" in storage_write_message(OSError(errno.ENOSPC, "No space left on device"))
    assert "could not store" in storage_write_message(OSError(errno.EIO, "I/O error"))
