"""My files' rows: what the template prints for each file, made once per page.

A row's two links differ from the next row's only by the file's id, yet `get_absolute_url()`
and `get_download_url()` resolve the URLconf for each (reverse(), ~30 µs each, 50 per page),
and the template's `date` filter runs Django's date formatter twice per row. Together they
were about a third of the page's rendering. Here each link is reversed once per page, with a
placeholder id, and every row's id put in its place: the same text reverse() gives (a UUID's
text is hex digits and dashes, nothing to quote), tests/test_file_rows.py compares them. Per
page, not per process: the script prefix and the URLconf belong to the request.
"""

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from downloads.models import StoredFile

_PLACEHOLDER = str(uuid.UUID(int=0))


class _IdLink:
    """reverse(viewname, args=[id]) for any file id, from one reverse()."""

    def __init__(self, viewname: str) -> None:
        self.before, found, self.after = reverse(viewname, args=[_PLACEHOLDER]).partition(
            _PLACEHOLDER
        )
        if not found:  # a pattern that changes the id's text: no shortcut
            raise ValueError(f"{viewname}: the id does not appear as given in its URL")

    def __call__(self, file_id: Any) -> str:
        return f"{self.before}{file_id}{self.after}"


def _local(value: datetime) -> datetime:
    """What the template's `date` filter does first: the current time zone, if USE_TZ."""
    return timezone.localtime(value) if settings.USE_TZ and timezone.is_aware(value) else value


@dataclass(frozen=True, slots=True)
class FileRow:
    file: StoredFile
    thumbnail: str | None
    url: str
    download_url: str
    modified_iso: str  # the `datetime` attribute of <time>
    modified: str  # what the reader sees, in the current time zone


def file_rows(files: Iterable[StoredFile], thumbnails: Mapping[Any, str]) -> list[FileRow]:
    detail, download = _IdLink("downloads:file-detail"), _IdLink("downloads:download")
    rows = []
    for stored in files:
        modified = _local(stored.updated)
        rows.append(
            FileRow(
                file=stored,
                thumbnail=thumbnails.get(stored.pk),
                url=detail(stored.pk),
                download_url=download(stored.pk),
                modified_iso=modified.isoformat(),
                modified=modified.strftime("%Y-%m-%d %H:%M"),
            )
        )
    return rows
