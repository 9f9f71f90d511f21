"""Django STORAGES for the process that drives the servers, so the files it makes are the ones
they serve: private files in a directory, or (harness.s3.MotoS3.storage_settings) in the bucket.
"""

from pathlib import Path
from typing import Any


def local_storage(location: Path) -> dict[str, Any]:
    """STORAGES["default"] for private files under `location` (no URL: they are never media)."""
    return {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(location), "base_url": None},
    }


def with_default_storage(default: dict[str, Any]) -> dict[str, Any]:
    """The STORAGES in force now with `default` in place of the default storage: for
    `settings.STORAGES = ...` or `override_settings(STORAGES=...)`."""
    from django.conf import settings

    return {**settings.STORAGES, "default": default}
