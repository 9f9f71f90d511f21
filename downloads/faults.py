"""What a user gets when storage cannot give an allowed file's bytes, and what staff learn.

Two faults, both answered 503 with a short page (never a 500, never a hang):

- the bytes are missing (a local file deleted, an S3 object gone): the file is flagged
  (`StoredFile.bytes_missing_since`, shown in the admin), and the event logged at ERROR. Not a
  404: the access policy answers 404 for "no such file for you", and this user may have the
  file; the fault is the server's, and staff must act on it.
- the storage cannot be reached in time (the S3 endpoint refuses, or does not answer within the
  timeouts of project/settings.py): logged at ERROR, with a Retry-After; nothing is flagged.

The page names neither the storage key nor the bucket. Only the exceptions a read from storage
raises for these faults are caught; anything else is a bug and stays a 500.
"""

import errno
import logging
import os
from collections.abc import Sequence

from boto3.exceptions import S3UploadFailedError
from botocore.exceptions import ClientError, ReadTimeoutError
from botocore.exceptions import ConnectionError as BotoConnectionError
from django.core.files.storage import FileSystemStorage, Storage
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from storages.backends.s3 import S3Storage

from downloads.conf import app_settings
from downloads.models import StoredFile
from downloads.storage import s3_client, s3_key

logger = logging.getLogger(__name__)

# A read from storage that failed for a reason outside the app: missing bytes (FileNotFoundError,
# an S3 404), an endpoint that refused or timed out while connecting (botocore's ConnectionError:
# EndpointConnectionError, ConnectTimeoutError), or one that stopped answering (ReadTimeoutError).
STORAGE_READ_ERRORS: tuple[type[BaseException], ...] = (
    FileNotFoundError,
    ClientError,
    BotoConnectionError,
    ReadTimeoutError,
)

_S3_MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
# How long a client should wait before asking again when the storage is down.
RETRY_AFTER_SECONDS = 30


def is_missing(error: BaseException) -> bool:
    """Whether a storage error says the bytes are gone (rather than the storage unreachable)."""
    if isinstance(error, FileNotFoundError):
        return True
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code", "")) in _S3_MISSING_CODES
    return False


def flag_missing(stored: StoredFile) -> None:
    """Mark the file's bytes missing, keeping the moment they were first found missing."""
    now = timezone.now()
    StoredFile.objects.filter(pk=stored.pk, bytes_missing_since__isnull=True).update(
        bytes_missing_since=now
    )
    if stored.bytes_missing_since is None:
        stored.bytes_missing_since = now


def report_read_failure(stored: StoredFile, error: BaseException, *, during: str) -> bool:
    """Log a failed read at ERROR (and flag missing bytes); return whether the bytes are missing."""
    if is_missing(error):
        flag_missing(stored)
        logger.error(
            "Bytes missing from storage for file %s (%r, key %s) during %s: %s",
            stored.pk,
            stored.name,
            stored.file.name,
            during,
            error,
        )
        return True
    logger.error("Storage unavailable for file %s during %s: %s", stored.pk, during, error)
    return False


def storage_failure_response(
    request: HttpRequest, stored: StoredFile, error: BaseException
) -> HttpResponse:
    """The 503 page for a download whose bytes storage could not give."""
    missing = report_read_failure(stored, error, during=f"a {request.method} download")
    response = render(
        request,
        "downloads/unavailable.html",
        {"file": stored, "missing": missing},
        status=503,
    )
    response["Cache-Control"] = "private, no-store"
    if not missing:
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def require_local_bytes(storage: Storage, key: str) -> None:
    """Raise FileNotFoundError unless the local file is there: one stat().

    For nginx mode, where nginx would otherwise answer its own bare 404 for a missing file,
    after Django has logged a download that never happened. FileSystemStorage.path() also
    refuses a key that would leave MEDIA_ROOT.
    """
    os.stat(storage.path(key))


def missing_local_members(files: Sequence[StoredFile]) -> list[StoredFile]:
    """The files of a zip whose local bytes are gone, found before the first byte is sent.

    A stat per member: no round trip, so even a large zip's first byte barely waits for it
    (README, Failure behaviour). S3 members are not checked: a HEAD per member is a round trip
    each, seconds for a large zip before its first byte; a member found missing while the zip
    streams ends the stream visibly broken (archive.py).
    """
    missing = []
    for stored in files:
        storage = stored.file.storage
        if not isinstance(storage, FileSystemStorage):
            continue
        try:
            require_local_bytes(storage, stored.file.name or "")
        except FileNotFoundError as error:
            report_read_failure(stored, error, during="a zip")
            missing.append(stored)
    return missing


def require_s3_object(storage: S3Storage, key: str) -> None:
    """Raise ClientError (404) unless the object is in the bucket: one HEAD, a round trip.

    For the modes that hand a download over (s3's redirect, nginx over S3), where the client
    would otherwise get the bucket's own 404 and Django would never learn of it. It is such a
    download's one round trip to the bucket (presigning is local computation; README, Failure
    behaviour). DOWNLOADS_S3_CHECK_OBJECT=0 skips it (then run
    `manage.py verify_files --missing-only` periodically to find missing objects).
    """
    if app_settings().s3_check_object:
        s3_client(storage).head_object(Bucket=storage.bucket_name, Key=s3_key(storage, key))


# A write to storage that failed for a reason outside the app: a full or read-only disk
# (OSError: ENOSPC, EROFS, EACCES), a bucket that refused or did not answer in time.
STORAGE_WRITE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    ClientError,
    BotoConnectionError,
    ReadTimeoutError,
    S3UploadFailedError,
)


def storage_write_message(error: BaseException) -> str:
    """What the uploader is told when the bytes could not be stored (logged at ERROR too)."""
    logger.error("Storing an upload failed, nothing was kept: %r", error)
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return "The server has no room left to store this file. Nothing was saved."
    return "The file storage could not store this file right now. Nothing was saved; try again."
