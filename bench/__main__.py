"""python -m bench: set up, start the servers, measure every row in rounds, print and save."""

import argparse
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlencode

from bench import browse, client, files, measure, procstat, report, servers, stall, workspace
from bench.rows import Row, SignedPaths, Stacks, make_rows
from bench.signals import stop_on_signals
from bench.signed import signed_paths
from harness.login import login
from harness.process import Server

RESULTS = Path(__file__).resolve().parent / "results"
S = TypeVar("S", bound=Server)
TOOLS = ("wrk", "curl")


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--rounds", type=int, default=3, help="rounds; the table shows medians")
    parser.add_argument("--seconds", type=float, default=5, help="each wrk run's duration")
    parser.add_argument("--connections", type=int, default=16, help="wrk's open connections")
    parser.add_argument("--threads", type=int, default=2, help="wrk's threads")
    parser.add_argument("--only", default="", help="comma-separated row keys (default: every row)")
    parser.add_argument(
        "--columns",
        default="1KiB,1MiB,1GiB,range,zip,seek,gallery",
        help="comma-separated columns to measure (default: all)",
    )
    parser.add_argument(
        "--hold", action="store_true", help="keep the servers up after setup until Ctrl-C"
    )
    parser.add_argument(
        "--stalled",
        action="store_true",
        help="instead of the rows: 4 x 64 stalled clients against each stack, and a user's "
        "request latencies meanwhile (bench/stall.py)",
    )
    return parser.parse_args(argv)


def prepare_django(
    ws: workspace.Workspace,
    sizes: dict[str, int] = files.SIZES,
    zip_members: int = files.ZIP_MEMBERS,
    gallery_images: int = 0,
) -> files.BenchFiles:
    os.environ.update(ws.app_env())
    import django
    from django.core.management import call_command
    from django.db import connection

    django.setup()
    call_command("migrate", interactive=False, verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    made = files.create(ws.media_root, ws.static_root, sizes, zip_members, gallery_images)
    # The servers are the database's only users from now on.
    connection.close()
    return made


def log_in(base_url: str) -> tuple[str, str]:
    """Log in through the login form; the session cookie and the CSRF token it left."""
    cookies = login(base_url, files.USERNAME, files.PASSWORD).cookies
    return str(cookies["sessionid"]), str(cookies["csrftoken"])


def presigned_urls(s3_mode: Server, made: files.BenchFiles, cookie: str) -> dict[str, str]:
    """Where s3 mode sends the user for each file: the URLs the fetch row loads."""
    urls = {}
    for label, file in made.by_size.items():
        answer = client.fetch(s3_mode.url + file.download_path, headers={"Cookie": cookie})
        if answer.status != 302 or not answer.location:
            raise RuntimeError(f"s3 mode answered {answer.status} for {label}")
        urls[label] = answer.location
    return urls


def signed_media(made: files.BenchFiles) -> SignedPaths:
    """Signed URLs for the single files (as downloads) and the gallery's images (inline)."""
    by_id = signed_paths([file.id for file in made.by_size.values()], inline=False)
    images = signed_paths([image.id for image in made.gallery], inline=True)
    return SignedPaths(
        by_size={label: by_id[file.id] for label, file in made.by_size.items()},
        gallery=[images[image.id] for image in made.gallery],
    )


def available_rows(rows: list[Row], cookie: str) -> tuple[list[Row], list[str]]:
    """The rows to measure, and a note for each signed-URL row left out because its /m/ URLs
    answer 404: a build without them (their routes come with issue 11's other parts)."""
    kept, notes = [], []
    for row in rows:
        if row.signed:
            answer = client.fetch(row.urls["1KiB"], headers={"Cookie": cookie})
            if answer.status == 404:
                notes.append(f"{row.key} ({row.label}): not available, /m/ answered 404.")
                continue
        kept.append(row)
    return kept, notes


def check_rows(rows: list[Row], cookie: str) -> None:
    """Every row serves the right number of bytes before anything is timed."""
    for row in rows:
        for label in ("1KiB", "1MiB"):
            headers = {"Cookie": cookie} if row.cookie else {}
            answer = client.fetch(row.urls[label], headers=headers)
            status, size = (302, 0) if row.key == "s3-redirect" else (200, files.SIZES[label])
            if (answer.status, answer.body_bytes) != (status, size):
                raise RuntimeError(
                    f"{row.key} {label}: {answer.status}, {answer.body_bytes} bytes "
                    f"(expected {status}, {size})"
                )


def run(args: argparse.Namespace) -> int:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        raise SystemExit(f"missing {', '.join(missing)}: run `make system-deps`")
    started = time.monotonic()
    ws = workspace.create()
    running: list[Server] = []  # stopped in reverse order at the end

    def track(server: S) -> S:
        running.append(server)
        return server

    try:
        log(f"workspace: files in {ws.root}, database {ws.database_url.split('@')[-1]}")
        # The gallery's 50 images on one page of the list.
        ws.app_extra["DOWNLOADS_PAGE_SIZE"] = str(files.GALLERY_IMAGES)
        made = prepare_django(ws, gallery_images=files.GALLERY_IMAGES)
        signed = signed_media(made)
        log("files written; starting moto, gunicorn x4, uvicorn, nginx x4")
        moto = track(servers.start_moto(ws))
        files.upload_to_s3(servers.upload_client(moto), moto.bucket, ws.media_root, made)
        django_app = track(servers.start_gunicorn(ws, "django", DOWNLOADS_DELIVERY="django"))
        nginx_app = track(servers.start_gunicorn(ws, "nginx", DOWNLOADS_DELIVERY="nginx"))
        s3_app = track(
            servers.start_gunicorn(ws, "s3", DOWNLOADS_DELIVERY="s3", **moto.server_env())
        )
        nginx_django = track(servers.start_nginx(ws, "nginx-django", django_app, direct=True))
        nginx_nginx = track(servers.start_nginx(ws, "nginx-nginx", nginx_app, signed_media=True))
        asgi_app = track(servers.start_uvicorn(ws, "django", DOWNLOADS_DELIVERY="django"))
        nginx_asgi = track(servers.start_nginx(ws, "nginx-uvicorn", asgi_app))
        peers = track(servers.start_peers(ws))
        nginx_peers = track(servers.start_nginx(ws, "nginx-peers", peers))
        stacks = Stacks(
            nginx_django=nginx_django,
            nginx_nginx=nginx_nginx,
            django=django_app,
            nginx_mode=nginx_app,
            s3_mode=s3_app,
            moto=moto,
            asgi=asgi_app,
            nginx_asgi=nginx_asgi,
            peers=peers,
            nginx_peers=nginx_peers,
        )
        session_id, csrf_token = log_in(django_app.url)
        cookie = f"sessionid={session_id}; csrftoken={csrf_token}"
        rows = make_rows(stacks, made, presigned_urls(s3_app, made, cookie), signed)
        if args.only:
            wanted = set(args.only.split(","))
            rows = [row for row in rows if row.key in wanted]
        rows, unavailable = available_rows(rows, cookie)
        for note in unavailable:
            log(note)
        check_rows(rows, cookie)
        if args.stalled:
            nginx_s3 = track(servers.start_nginx(ws, "nginx-s3", s3_app))
            big, small = made.by_size["1GiB"].download_path, made.by_size["1KiB"].download_path
            entries: tuple[tuple[str, Server], ...] = (
                ("gunicorn alone (django)", django_app),
                ("uvicorn alone (django)", asgi_app),
                ("nginx + gunicorn, django", nginx_django),
                ("nginx + gunicorn, nginx", nginx_nginx),
                ("nginx + gunicorn, s3", nginx_s3),
            )
            for name, entry in entries:
                print(stall.measure(name, entry.url, big, cookie, ["/", small]), flush=True)
            return 0
        if args.hold:
            log(f"holding; cookie: {cookie}")
            for row in rows:
                log(f"  {row.key}: {row.urls['1KiB']}")
            while True:
                time.sleep(3600)
        zip_form = ws.data_dir / "zip-form.txt"
        # "All matching" the search, as the list's form sends it: 1,000 ticked ids would be
        # 1,001 form fields, past Django's DATA_UPLOAD_MAX_NUMBER_FIELDS (a 400).
        zip_form.write_text(
            urlencode({"csrfmiddlewaretoken": csrf_token, "all": "1", "q": files.ZIP_QUERY})
        )
        with procstat.ForeignLoad(lambda: [p for s in running for p in s.pids()]) as foreign:
            raw = measure_rounds(args, rows, cookie, zip_form)
        medians = report.medians(raw)
        found = report.targets(medians)
        elapsed = time.monotonic() - started
        notes = [
            *unavailable,
            f"{args.rounds} rounds, medians; wrk {args.connections} connections, "
            f"{args.seconds:g} s per run; {os.cpu_count()} CPUs; run time {elapsed:.0f} s.",
            f"Other processes used {foreign.share:.0%} of the CPUs while this ran"
            + (": the figures are noisier than usual." if foreign.share > 0.1 else "."),
        ]
        print(report.render(medians, rows, found, notes))
        out = RESULTS / f"{time.strftime('%Y%m%d-%H%M%S')}.json"
        report.write_json(
            out,
            {
                "machine": machine(),
                "load": vars(args),
                "rows": {row.key: row.label for row in rows},
                "unavailable": unavailable,
                "raw": raw,
                "medians": medians,
                "targets": [t.__dict__ for t in found],
                "seconds": elapsed,
                "foreign_cpu_share": foreign.share,
            },
        )
        log(f"done in {elapsed:.0f} s; results in {out.relative_to(Path.cwd())}")
        return 0
    finally:
        for server in reversed(running):
            server.stop()
        ws.remove()


def measure_rounds(
    args: argparse.Namespace, rows: list[Row], cookie: str, zip_form: Path
) -> report.Raw:
    load = measure.Load(
        seconds=args.seconds,
        connections=args.connections,
        threads=args.threads,
        range_seconds=max(1.0, args.seconds / 2),
    )
    columns = args.columns.split(",")
    raw: report.Raw = {}

    def record(row: Row, column: str, figures: measure.Figures) -> None:
        for metric, value in figures.items():
            raw.setdefault(row.key, {}).setdefault(column, {}).setdefault(metric, []).append(value)

    log("warming up every row")
    for row in rows:
        measure.throughput(row, "1KiB", measure.Load(1, args.connections, args.threads, 1), cookie)
    for round_number in range(1, args.rounds + 1):
        log(f"round {round_number} of {args.rounds}")
        # Rows take turns within each column, so a slow minute of the machine hits them alike.
        for size in ("1KiB", "1MiB"):
            if size in columns:
                for row in rows:
                    record(row, size, measure.throughput(row, size, load, cookie))
        if "1GiB" in columns:
            for row in rows:
                record(row, "1GiB", measure.big_download(row, cookie))
        if "range" in columns:
            for row in rows:
                record(row, "range", measure.mid_range(row, load, cookie))
        if "zip" in columns:
            for row in rows:
                if row.zip_url:
                    record(row, "zip", measure.zip_download(row, cookie, zip_form))
        if "seek" in columns:
            # The same random ranges for every row within a round, other ones each round.
            offsets = browse.seek_offsets(files.GIB, files.MIB, seed=round_number)
            for row in rows:
                if row.seeks:
                    record(row, "seek", measure.seeks(row, cookie, offsets))
        if "gallery" in columns:
            for row in rows:
                if row.gallery:
                    record(row, "gallery", measure.gallery(row, cookie))
    return raw


def machine() -> dict[str, object]:
    def version(command: list[str]) -> str:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        return (done.stdout or done.stderr).strip().splitlines()[0] if done.returncode == 0 else ""

    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "nginx": version(["nginx", "-v"]),
        "wrk": version(["wrk", "--version"]),
        "commit": version(["git", "rev-parse", "--short", "HEAD"]),
    }


def main(argv: list[str] | None = None) -> int:
    stop_on_signals()
    return run(parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
