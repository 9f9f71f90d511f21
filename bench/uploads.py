"""`python -m bench.uploads`: uploads by users from My files, timed through gunicorn alone and
through the rendered nginx in front of it, with the worker's memory watched.

A throwaway workspace (bench/workspace.py: files on tmpfs, SQLite or DATABASE_URL's PostgreSQL),
one user holding the upload permission, then --repeat uploads of a --size MiB file to each
server, one at a time, each answered 201 before the next. The body is spooled to a temporary
file while it is read (Django's FILE_UPLOAD_MAX_MEMORY_SIZE is 2 MiB), so the worker's RSS
should stay flat whatever the size.
"""

import argparse
import os
import statistics
import sys
import time
from typing import Any

from bench import servers, workspace
from bench.procstat import RssWatch
from harness.login import login

USERNAME = "bench-uploader"
PASSWORD = "bench-uploader-password-1"
MIB = 1024 * 1024


def say(message: str) -> None:
    print(f"[bench-uploads {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.uploads", description=__doc__)
    parser.add_argument("--size", type=int, default=64, help="MiB per uploaded file")
    parser.add_argument("--repeat", type=int, default=3, help="uploads per server")
    return parser.parse_args(argv)


def make_uploader() -> None:
    from django.contrib.auth.models import Permission, User

    user = User.objects.create_user(USERNAME, password=PASSWORD)
    user.user_permissions.add(
        Permission.objects.get(codename="upload_files", content_type__app_label="downloads")
    )


def upload_once(session: Any, base_url: str, name: str, content: bytes) -> float:
    started = time.perf_counter()
    answer = session.post(
        f"{base_url}/files/upload",
        files={"file": (name, content, "application/octet-stream")},
        headers={"Accept": "application/json", "X-CSRFToken": session.cookies["csrftoken"]},
        timeout=600,
    )
    elapsed = time.perf_counter() - started
    if answer.status_code != 201:
        raise RuntimeError(f"{base_url}: {answer.status_code} {answer.text[:300]}")
    return elapsed


def run(args: argparse.Namespace) -> int:
    ws = workspace.create()
    gunicorn = nginx = None
    try:
        size = args.size * MIB
        os.environ.update(ws.app_env(DOWNLOADS_USER_UPLOAD_MAX_BYTES=str(size + MIB)))
        import django
        from django.core.management import call_command
        from django.db import connection

        django.setup()
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        make_uploader()
        connection.close()
        gunicorn = servers.start_gunicorn(ws, "uploads", GUNICORN_WORKERS="1")
        nginx = servers.start_nginx(ws, "nginx-uploads", gunicorn)
        content = os.urandom(size)
        print(f"\n{connection.vendor}: {args.size} MiB per upload, {args.repeat} each\n")
        print("| through | median s | MiB/s | worker RSS before MiB | peak growth MiB |")
        print("|:--|--:|--:|--:|--:|")
        for label, base_url in (("gunicorn", gunicorn.url), ("nginx → gunicorn", nginx.url)):
            session = login(base_url, USERNAME, PASSWORD)
            upload_once(session, base_url, "warm-up.bin", b"x" * 1024)
            with RssWatch(gunicorn.worker_pids()) as rss:
                seconds = [
                    upload_once(session, base_url, f"{n}.bin", content) for n in range(args.repeat)
                ]
            median = statistics.median(seconds)
            say(f"{label}: {seconds}")
            print(
                f"| {label} | {median:.2f} | {args.size / median:,.0f} | "
                f"{rss.before_mib:,.0f} | {rss.growth_mib:,.1f} |",
                flush=True,
            )
        return 0
    except KeyboardInterrupt:
        return 130
    finally:
        if nginx is not None:
            nginx.stop()
        if gunicorn is not None:
            gunicorn.stop()
        ws.remove()


def main(argv: list[str] | None = None) -> int:
    return run(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
