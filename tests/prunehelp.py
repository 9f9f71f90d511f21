"""What the prune tests share: old and young download log rows, the storage to prune (a local
directory or a moto bucket of the module's own), reading the archives back, and running
`manage.py prune` as its own process."""

import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.config import Config as BotoConfig
from django.contrib.auth.models import User
from django.core.files.storage import storages
from django.db.models import Max
from django.utils import timezone

from downloads import logarchive
from downloads.archivestore import read_whole
from downloads.models import DownloadLog, Outcome
from harness.process import ROOT
from harness.s3 import MotoS3
from tests.servers import SECRET_KEY, database_url

# Every storage call of the in-process S3 tests and of the prune processes: an outage is found
# within seconds (connect and read timeouts of 1 s, one attempt).
S3_TIMEOUTS = {
    "AWS_S3_CONNECT_TIMEOUT": "1",
    "AWS_S3_READ_TIMEOUT": "1",
    "AWS_S3_MAX_ATTEMPTS": "1",
}
RETENTION_DAYS = 365


def make_log_rows(count: int, *, days_old: int, user: User | None = None) -> list[int]:
    """`count` log rows dated `days_old` days back (a second apart); their ids."""
    start = timezone.now() - timedelta(days=days_old)
    before = DownloadLog.objects.aggregate(last=Max("pk"))["last"] or 0
    rows = [
        DownloadLog(
            file_name=f"report-{n}.pdf",
            user=user,
            at=start - timedelta(seconds=n),
            ip="192.0.2.7",
            status=200,
            range="bytes=0-99" if n % 2 else "",
            bytes_sent=100 + n,
            bytes_planned=100 + n,
            outcome=Outcome.COMPLETE,
            delivery="django",
        )
        for n in range(count)
    ]
    DownloadLog.objects.bulk_create(rows)
    return list(
        DownloadLog.objects.filter(pk__gt=before).order_by("pk").values_list("pk", flat=True)
    )


def archived_id_counts() -> Counter[int]:
    """How many times each id is in the archives in the default storage."""
    storage = storages["default"]
    counts: Counter[int] = Counter()
    for archive in logarchive.existing_archives(storage):
        counts.update(logarchive.archived_ids(read_whole(storage, archive.name)))
    return counts


def assert_each_row_once(old_ids: list[int], young_ids: list[int]) -> None:
    """Every old row is in exactly one archive and no longer in the table; young rows stay."""
    counts = archived_id_counts()
    assert sorted(counts) == sorted(old_ids), "archived ids differ from the old rows"
    assert max(counts.values()) == 1, "a row was archived twice"
    assert sorted(DownloadLog.objects.values_list("pk", flat=True)) == sorted(young_ids)


def s3_storage_settings(moto: MotoS3) -> dict[str, Any]:
    options = moto.storage_settings()
    options["OPTIONS"]["client_config"] = BotoConfig(
        signature_version="s3v4",
        s3={"addressing_style": "path"},
        connect_timeout=1,
        read_timeout=1,
        retries={"mode": "standard", "total_max_attempts": 1},
    )
    return options


def empty_bucket(moto: MotoS3) -> None:
    client = moto.client()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=moto.bucket):
        for item in page.get("Contents", []):
            client.delete_object(Bucket=moto.bucket, Key=item["Key"])


@dataclass
class PruneStorage:
    """The storage a test prunes, and what a prune process needs to reach it."""

    kind: str  # "local" or "s3"
    media: Path
    moto: MotoS3 | None = None

    def env(self, **extra: str) -> dict[str, str]:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "project.settings",
            "DJANGO_SECRET_KEY": SECRET_KEY,
            "DATABASE_URL": database_url(),
            "MEDIA_ROOT": str(self.media),
            "DOWNLOADS_LOG_RETENTION_DAYS": str(RETENTION_DAYS),
        }
        if self.moto:
            env.update(self.moto.server_env())
            env.update(S3_TIMEOUTS)
        return {**env, **extra}

    def put(self, key: str, data: bytes, *, modified: datetime | None = None) -> None:
        """Bytes under `key`, as a crash or a manual copy would leave them."""
        if self.moto:
            self.moto.client().put_object(Bucket=self.moto.bucket, Key=key, Body=data)
            return
        path = self.media / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        if modified:
            os.utime(path, (modified.timestamp(), modified.timestamp()))

    def exists(self, key: str) -> bool:
        return storages["default"].exists(key)


@pytest.fixture(scope="module")
def prune_moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoS3]:
    """A bucket of this module's own: orphans in the session's shared bucket are not ours."""
    run_dir = tmp_path_factory.mktemp("prune-moto")
    server = MotoS3(recording=run_dir / "recording.jsonl").start(run_dir / "moto.log")
    yield server
    server.stop()


@pytest.fixture(params=["local", "s3"])
def prune_storage(
    request: pytest.FixtureRequest, settings: Any, private_media: Path
) -> Iterator[PruneStorage]:
    settings.DOWNLOADS_LOG_RETENTION_DAYS = RETENTION_DAYS
    if request.param == "local":
        yield PruneStorage("local", private_media)
        return
    moto: MotoS3 = request.getfixturevalue("prune_moto")
    settings.STORAGES = {**settings.STORAGES, "default": s3_storage_settings(moto)}
    empty_bucket(moto)
    yield PruneStorage("s3", private_media, moto)
    empty_bucket(moto)


def run_prune(
    storage: PruneStorage, *args: str, timeout: float = 120, **env: str
) -> subprocess.CompletedProcess[str]:
    """`manage.py prune` as a deployer's timer runs it."""
    return subprocess.run(
        [sys.executable, "manage.py", "prune", *args],
        cwd=ROOT,
        env=storage.env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def start_harness(storage: PruneStorage, mode: str, batch: int, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.prune_harness", mode, str(batch), "--", *args],
        cwd=ROOT,
        env=storage.env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
