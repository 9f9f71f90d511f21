"""Zips of files kept in S3 (moto's server over HTTP): read in chunks, never a whole object."""

import os
import tracemalloc

import pytest
from django.urls import reverse

from tests.zipscan import scan_zip

pytestmark = pytest.mark.integration

MiB = 1024 * 1024


def test_a_zip_of_s3_objects_streams_without_holding_any_object(s3_media, make_file, alice_client):
    files = [
        make_file(os.urandom(24 * MiB), "clip.mp4"),
        make_file(b"words and more words\n" * 5000, "notes.txt"),
        make_file(b"", "empty.txt"),
    ]
    response = alice_client.post(reverse("downloads:zip"), {"file": [str(f.pk) for f in files]})
    assert response.status_code == 200

    tracemalloc.start()
    try:
        scanned = scan_zip(response.streaming_content, [f.size for f in files], sha256=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert scanned.names == ["clip.mp4", "notes.txt", "empty.txt"]
    assert [member.sha256 for member in scanned.members] == [f.sha256 for f in files]
    # django-storages' S3File would have held the 24 MiB object (in memory, by default).
    assert peak < 8 * MiB, f"peak {peak / MiB:.1f} MiB"
