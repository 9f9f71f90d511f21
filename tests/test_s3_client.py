"""The download path's boto3 client: one per storage for the whole process, shared by threads
(downloads/storage.py), against moto's S3 server over HTTP."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.core.files.storage import storages

from downloads.faults import require_s3_object
from downloads.storage import open_slice, presigned_url, s3_client

pytestmark = [pytest.mark.django_db, pytest.mark.integration]

BODY = bytes(range(256)) * 64


def test_every_thread_gets_the_same_client(s3_media):
    storage = storages["default"]
    seen: list[int] = []
    lock = threading.Lock()

    def ask() -> None:
        client = s3_client(storage)
        with lock:
            seen.append(id(client))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(seen) == 8
    assert len(set(seen)) == 1
    # And not the resource of the thread that asked: every thread's, including this one.
    assert s3_client(storage) is s3_client(storage)
    assert id(s3_client(storage)) == seen[0]


def test_a_new_storage_gets_its_own_client(s3_media, settings):
    first = s3_client(storages["default"])
    settings.STORAGES = {**settings.STORAGES}  # Django makes the storages anew
    assert s3_client(storages["default"]) is not first


def test_threads_use_the_shared_client_at_once(s3_media, make_file):
    """Presigning, the HEAD check and ranged GETs from 24 threads at once through one client
    (more threads than its pool of connections): every answer is right."""
    stored = make_file(BODY, name="shared.bin")
    storage = stored.file.storage
    key = stored.file.name

    def one(index: int) -> bytes:
        require_s3_object(storage, key)
        start = (index * 512) % len(BODY)
        reader = open_slice(storage, key, start, 512)
        try:
            got = b""
            while len(got) < 512:
                chunk = reader.read(512 - len(got))
                got += chunk
        finally:
            reader.close()
        fetched = requests.get(presigned_url(storage, key), timeout=10).content
        assert fetched == BODY
        return got

    with ThreadPoolExecutor(max_workers=24) as pool:
        results = list(pool.map(one, range(96), timeout=120))
    for index, got in enumerate(results):
        start = (index * 512) % len(BODY)
        assert got == BODY[start : start + 512]
