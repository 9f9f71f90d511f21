"""`make bench-admin`: the admin's and a heavy user's pages at a busy site's size.

Loads N download-log rows, stored files and grants (bench/adminload.py) into a throwaway
database (SQLite, or PostgreSQL when DATABASE_URL is set: bench/workspace.py), starts gunicorn
with deploy/gunicorn.conf.py, logs in through the login form as a superuser and as a user with
1,000 grants and 20 groups, and times each page over HTTP: one warm-up, then --repeat requests,
the median against the target of issue 13.

Loading 10M rows takes long: with --keep DIR (or BENCH_ADMIN_KEEP=DIR) the loaded database
stays in DIR (SQLite's file; PostgreSQL's database, named in DIR), with what the timer needs to
know about its rows (DIR/loaded.json), and a later run with the same DIR and sizes skips the load:
it migrates that database (so a new migration runs on the loaded rows) and times the pages.
"""

import argparse
import dataclasses
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import servers, workspace
from bench.adminload import ADMIN, HOLDER, PASSWORD, Loaded, load, real_file
from harness.login import login

ADMIN_TARGET_MS = 300.0
USER_TARGET_MS = 50.0
RESULTS = Path(__file__).resolve().parent / "results"


def say(message: str) -> None:
    print(f"[bench-admin {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    postgres = os.environ.get("DATABASE_URL", "").startswith("postgres")
    parser = argparse.ArgumentParser(prog="python -m bench.admin", description=__doc__)
    parser.add_argument(
        "--log-rows",
        type=int,
        default=10_000_000 if postgres else 1_000_000,
        help="download log rows (default: 10M on PostgreSQL, 1M on SQLite, as in issue 13)",
    )
    parser.add_argument("--files", type=int, default=100_000, help="stored files")
    parser.add_argument("--grants", type=int, default=50_000, help="grants in all")
    parser.add_argument("--repeat", type=int, default=7, help="timed requests per page")
    parser.add_argument(
        "--keep",
        type=Path,
        default=os.environ.get("BENCH_ADMIN_KEEP") or None,
        metavar="DIR",
        help="keep the loaded database in DIR, or reuse the one loaded there with the same "
        "sizes (env BENCH_ADMIN_KEEP); PostgreSQL: the database stays on DATABASE_URL's server",
    )
    parser.add_argument(
        "--hold", action="store_true", help="keep the servers up after the table (Ctrl-C ends)"
    )
    return parser.parse_args(argv)


@dataclass(frozen=True)
class Page:
    label: str
    path: str
    who: str  # "admin" or "holder"
    target_ms: float


def pages(loaded: Loaded) -> list[Page]:
    log = "/admin/downloads/downloadlog/"
    files = "/admin/downloads/storedfile/"
    week_ago = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 7 * 86400))
    admin = [
        ("admin: stored files", files),
        ("admin: stored files by downloads", f"{files}?o=-6"),
        ("admin: stored files searched", f"{files}?q=report+000123"),
        ("admin: a file's page (hot file)", f"{files}{loaded.hot_file}/change/"),
        ("admin: download log", log),
        ("admin: log by user", f"{log}?user__id__exact={loaded.busy_user_id}"),
        ("admin: log by file (hot)", f"{log}?file__id__exact={loaded.hot_file}"),
        ("admin: log by file (quiet)", f"{log}?file__id__exact={loaded.quiet_file}"),
        ("admin: log by status 206", f"{log}?status__exact=206"),
        ("admin: log by outcome denied", f"{log}?outcome__exact=denied"),
        ("admin: log, past 7 days", f"{log}?at__gte={week_ago}"),
        ("admin: log searched", f"{log}?q=report+000123"),
        # A user's name (their rows through the user index), and a term no row has (a scan of
        # the log reads every row for it).
        ("admin: log searched, a user", f"{log}?q=user0001"),
        ("admin: log searched, no match", f"{log}?q=nosuchname"),
        # A term in almost every row (read newest first; its count reads the log), a hot
        # file's name (2% of the rows), and one too short for a trigram index.
        ("admin: log searched, common term", f"{log}?q=report"),
        ("admin: log searched, hot file", f"{log}?q=report+000001"),
        ("admin: log searched, 2 characters", f"{log}?q=zq"),
        ("admin: log entry page", f"{log}1/change/"),
    ]
    holder = [
        ("user: My files", "/"),
        ("user: My files searched", "/?q=report"),
        ("user: a file's page", f"/files/{loaded.holder_file}/"),
        ("user: /api/files/", "/api/files/"),
        ("user: checked download (1 KiB)", f"/files/{loaded.holder_file}/download"),
    ]
    return [Page(label, path, "admin", ADMIN_TARGET_MS) for label, path in admin] + [
        Page(label, path, "holder", USER_TARGET_MS) for label, path in holder
    ]


def time_page(session: Any, url: str, repeat: int) -> list[float]:
    """Milliseconds per request, whole body read; the first (warm-up) not counted."""
    figures = []
    for attempt in range(repeat + 1):
        started = time.perf_counter()
        answer = session.get(url, timeout=120, allow_redirects=False)
        elapsed = (time.perf_counter() - started) * 1000
        if answer.status_code != 200:
            raise RuntimeError(f"{url} answered {answer.status_code}")
        if attempt:
            figures.append(elapsed)
    return figures


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| page | median ms | min | max | target ms | met |",
        "|:--|--:|--:|--:|--:|:--|",
    ]
    for row in rows:
        lines.append(
            f"| {row['page']} | {row['median_ms']:,.1f} | {row['min_ms']:,.1f} | "
            f"{row['max_ms']:,.1f} | {row['target_ms']:g} | "
            f"{'yes' if row['median_ms'] < row['target_ms'] else '**no**'} |"
        )
    return "\n".join(lines)


def sizes(args: argparse.Namespace) -> dict[str, int]:
    return {"log_rows": args.log_rows, "files": args.files, "grants": args.grants}


def kept_load(keep: Path | None, args: argparse.Namespace) -> Loaded | None:
    """What an earlier run loaded into the kept database with the same sizes, if any."""
    if keep is None or not (keep / "loaded.json").is_file():
        return None
    recorded = json.loads((keep / "loaded.json").read_text())
    if recorded.pop("sizes") != sizes(args):
        raise SystemExit(
            f"{keep} holds a database loaded with {recorded} rows, not {sizes(args)}: "
            "give other sizes or another --keep directory"
        )
    return Loaded(**recorded)


def keep_load(keep: Path | None, args: argparse.Namespace, loaded: Loaded) -> None:
    if keep is not None:
        record = {"sizes": sizes(args), **dataclasses.asdict(loaded)}
        (keep / "loaded.json").write_text(json.dumps(record, indent=2))


def run(args: argparse.Namespace) -> int:
    if args.keep is not None:
        args.keep = args.keep.resolve()
    ws = workspace.create(keep_dir=args.keep)
    gunicorn = None
    try:
        os.environ.update(ws.app_env())
        import django
        from django.core.management import call_command
        from django.db import connection

        django.setup()
        started = time.monotonic()
        call_command("migrate", interactive=False, verbosity=0)
        # On a kept database, the migrations new since its load ran here, on its rows.
        say(f"migrate: {time.monotonic() - started:.1f} s")
        # The admin's pages need the manifest of static files (DEBUG off, as deployed).
        call_command("collectstatic", interactive=False, verbosity=0)
        database = connection.vendor
        loaded = kept_load(args.keep, args)
        if loaded is not None:
            say(f"reusing the {database} database loaded in {args.keep}")
            real_file(ws.media_root)
        else:
            say(
                f"loading into {database}: {args.log_rows:,} log rows, {args.files:,} files, "
                f"{args.grants:,} grants"
            )
            loaded = load(
                log_rows=args.log_rows,
                files=args.files,
                grants=args.grants,
                media_root=ws.media_root,
                say=say,
            )
            keep_load(args.keep, args, loaded)
        connection.close()
        gunicorn = servers.start_gunicorn(ws, "admin")
        sessions = {
            "admin": login(gunicorn.url, ADMIN, PASSWORD),
            "holder": login(gunicorn.url, HOLDER, PASSWORD),
        }
        rows = []
        for page in pages(loaded):
            figures = time_page(sessions[page.who], gunicorn.url + page.path, args.repeat)
            rows.append(
                {
                    "page": page.label,
                    "path": page.path,
                    "median_ms": statistics.median(figures),
                    "min_ms": min(figures),
                    "max_ms": max(figures),
                    "target_ms": page.target_ms,
                    "runs_ms": figures,
                }
            )
            say(f"{page.label}: {rows[-1]['median_ms']:.1f} ms")
        print(
            f"\n{database}: {args.log_rows:,} log rows, {args.files:,} stored files, "
            f"{args.grants:,} grants; median of {args.repeat} requests after one warm-up\n"
        )
        print(table(rows), flush=True)
        RESULTS.mkdir(exist_ok=True)
        out = RESULTS / f"admin-{database}-{time.strftime('%Y%m%d-%H%M%S')}.json"
        out.write_text(
            json.dumps(
                {
                    "database": database,
                    "log_rows": args.log_rows,
                    "files": args.files,
                    "grants": args.grants,
                    "load_seconds": loaded.seconds,
                    "pages": rows,
                },
                indent=2,
            )
        )
        say(f"figures in {out}")
        if args.hold:
            say(f"holding at {gunicorn.url}; Ctrl-C ends")
            while True:
                time.sleep(3600)
        return 0
    except KeyboardInterrupt:
        return 130
    finally:
        if gunicorn is not None:
            gunicorn.stop()
        ws.remove()


def main(argv: list[str] | None = None) -> int:
    return run(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
