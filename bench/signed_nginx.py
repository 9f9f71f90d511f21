"""Signed media URLs checked by njs in nginx (delivery mode "nginx") against nginx serving the
same files with no check at all: what the signature check, the stat() and the internal redirect
cost per request.

    python -m bench.signed_nginx [--seconds 5] [--rounds 3] [--connections 16]

One nginx from the deploy template (workers `auto`, as shipped) serves both: /m/<signed URL>
and, on its direct port, the same files from disk. No app runs: njs never asks it. Rows: 1 KiB
and 1 MiB whole files, and a 1 MiB range from the middle of a 64 MiB file; each the median
requests/s, p50 and nginx's CPU microseconds per request of `--rounds` alternating wrk runs.
The machine is shared: alternating keeps a busy moment from landing on one side only, and CPU per
request, unlike requests/s, hardly moves with what else runs.
"""

import argparse
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench import wrk
from harness.nginx import Nginx
from harness.process import free_port
from harness.procfs import cpu_seconds

KiB = 1024
MiB = 1024 * KiB
TMPFS = Path("/dev/shm")


@dataclass(frozen=True)
class Run:
    result: wrk.WrkResult
    cpu_us_per_request: float


@dataclass(frozen=True)
class Case:
    name: str
    key: str
    size: int
    headers: dict[str, str]


CASES = [
    Case("1 KiB", "files/aa/one-kib", KiB, {}),
    Case("1 MiB", "files/bb/one-mib", MiB, {}),
    Case(
        "1 MiB range mid-file",
        "files/cc/sixty-four-mib",
        64 * MiB,
        {"Range": f"bytes={32 * MiB}-{33 * MiB - 1}"},
    ),
]


def signed_path(case: Case, key: bytes) -> str:
    from downloads.signedmedia import SignedMedia, sign

    media = SignedMedia(
        file_id="00000000-0000-4000-8000-000000000000",
        storage_key=case.key,
        sha256="0" * 64,
        size=case.size,
        content_type="application/octet-stream",
        content_disposition='inline; filename="bench.bin"',
        last_modified=int(time.time()),
        expires=int(time.time()) + 3600,
    )
    return sign(media, key)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))
    import django

    django.setup()
    from downloads.signedmedia import media_key

    key = media_key(secrets.token_urlsafe(50))
    root = Path(tempfile.mkdtemp(prefix="bench-signed-", dir=TMPFS if TMPFS.is_dir() else None))
    nginx = None
    try:
        media = root / "media"
        for case in CASES:
            path = media / case.key
            path.parent.mkdir(parents=True)
            path.write_bytes(os.urandom(case.size))
        nginx = Nginx(
            upstream_port=free_port(),  # no app: njs never asks it
            media_root=media,
            static_root=media,
            run_dir=root / "nginx",
            options={"worker_processes": "auto"},
            direct_root=media,
            signed_media=True,
            signing_keys=[key],
        ).start()
        columns = ("signed req/s", "direct req/s", "ratio", "signed p50", "direct p50")
        columns += ("signed CPU", "direct CPU")
        print(f"{'':24}" + "".join(f"{column:>14}" for column in columns))
        for case in CASES:
            signed: list[Run] = []
            direct: list[Run] = []
            for _ in range(args.rounds):
                for runs, url in (
                    (signed, nginx.url + signed_path(case, key)),
                    (direct, f"{nginx.direct_url}/{case.key}"),
                ):
                    workers = nginx.worker_pids()
                    before = cpu_seconds(workers)
                    result = wrk.run(
                        url,
                        seconds=args.seconds,
                        connections=args.connections,
                        threads=2,
                        headers=case.headers,
                    )
                    if result.errors:
                        raise wrk.WrkError(f"{case.name}: {result.errors} errors\n{result.report}")
                    used = cpu_seconds(workers) - before
                    runs.append(Run(result, used / result.requests * 1e6))
            signed_rate = statistics.median(run.result.requests_per_s for run in signed)
            direct_rate = statistics.median(run.result.requests_per_s for run in direct)
            print(
                f"{case.name:24}{signed_rate:>14,.0f}{direct_rate:>14,.0f}"
                f"{signed_rate / direct_rate:>14.2f}"
                f"{statistics.median(run.result.p50_ms for run in signed):>12.2f}ms"
                f"{statistics.median(run.result.p50_ms for run in direct):>12.2f}ms"
                f"{statistics.median(run.cpu_us_per_request for run in signed):>12.1f}us"
                f"{statistics.median(run.cpu_us_per_request for run in direct):>12.1f}us"
            )
            sys.stdout.flush()
    finally:
        if nginx is not None:
            nginx.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
