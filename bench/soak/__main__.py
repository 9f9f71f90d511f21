"""python -m bench.soak (`make soak`): many clients at once, through what a deployer runs.

For each arrangement (nginx in front of gunicorn in each delivery mode, and gunicorn alone as
`make run` starts it), wrk sends a logged-in mix of whole downloads, ranges, 304s, 404s, list
pages and logins at 16, 64 and 256 connections, each count's minute cut into slices that take
turns (bench/soak/rounds.py: a shared machine's speed drifts). One table: requests/s,
p50/p99/max, 5xx and other non-2xx/3xx answers, workers' memory and open files before and
after, and download-log rows against the downloads answered; the targets of issue 8 (wrk's p99
at most 4x, throughput at least 1x the 16-connection run's, to within the rounds' error); every
figure in bench/results/soak-<time>.json.
"""

import argparse
import json
import os
import shutil
import sys
import time
import uuid
from pathlib import Path

from bench import files, servers, workspace
from bench.__main__ import log_in, machine, prepare_django
from bench.signals import stop_on_signals
from bench.soak import accounting, arrangements, check, mix, report, rounds
from bench.soak.run import RunResult, soak
from harness.s3 import MotoS3

RESULTS = Path(__file__).resolve().parent.parent / "results"
SIZES = {"1KiB": files.KIB, "1MiB": files.MIB}
# Files the list page's searches find (mix.QUERIES): a full page of them, and more.
LISTED_FILES = 200
MISSING_IDS = 8


def log(message: str) -> None:
    print(f"[soak {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument(
        "--seconds",
        type=float,
        default=float(os.environ.get("SOAK_SECONDS", "60")),
        help="each connection count's load, all rounds together (default: $SOAK_SECONDS, else 60)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=int(os.environ.get("SOAK_ROUNDS", "4")),
        help="slices per connection count, interleaved (default: $SOAK_ROUNDS, else 4)",
    )
    parser.add_argument(
        "--connections",
        default=os.environ.get("SOAK_CONNECTIONS", "16,64,256"),
        help="comma-separated connection counts; 16 is the baseline the targets compare with",
    )
    parser.add_argument(
        "--only",
        default=os.environ.get("SOAK_ONLY", ""),
        help=f"comma-separated arrangements (default: all of {', '.join(arrangements.KEYS)})",
    )
    parser.add_argument("--threads", type=int, default=2, help="wrk's threads")
    parser.add_argument(
        "--warmup", type=float, default=3, help="seconds of the mix before the first run"
    )
    parser.add_argument("--json", type=Path, help="where to write the JSON (default: results/)")
    args = parser.parse_args(argv)
    args.connection_counts = [int(n) for n in args.connections.split(",") if n]
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if len(set(args.connection_counts)) != len(args.connection_counts):
        parser.error("each connection count once: --rounds repeats them")
    args.slice_seconds = args.seconds / args.rounds
    if args.slice_seconds < 1:
        parser.error("--seconds / --rounds is under wrk's shortest run (1 s)")
    wanted = [key for key in args.only.split(",") if key] or list(arrangements.KEYS)
    unknown = set(wanted) - set(arrangements.KEYS)
    if unknown:
        parser.error(f"unknown arrangements: {', '.join(sorted(unknown))}")
    args.plans = [plan for plan in arrangements.PLANS if plan.key in wanted]
    return args


def stored_etag(file_id: str) -> str:
    from django.db import connection

    from downloads.models import StoredFile

    try:
        return StoredFile.objects.get(pk=file_id).etag
    finally:
        connection.close()


def run(args: argparse.Namespace) -> int:
    if shutil.which("wrk") is None:
        raise SystemExit("missing wrk: run `make system-deps`")
    started = time.monotonic()
    ws = workspace.create()
    moto: MotoS3 | None = None
    results: list[RunResult] = []
    try:
        log(f"workspace: files in {ws.root}, database {ws.database_url.split('@')[-1]}")
        made = prepare_django(ws, SIZES, LISTED_FILES)
        small, big = made.by_size["1KiB"], made.by_size["1MiB"]
        file_ids = [small.id, big.id]
        missing_ids = [str(uuid.uuid4()) for _ in range(MISSING_IDS)]
        etag = stored_etag(small.id)

        def bucket() -> MotoS3:
            nonlocal moto
            if moto is None:
                moto = servers.start_moto(ws)
                files.upload_to_s3(servers.upload_client(moto), moto.bucket, ws.media_root, made)
            return moto

        def count() -> accounting.Rows:
            return accounting.count_rows(file_ids, missing_ids)

        for plan in args.plans:
            log(f"{plan.label}: starting")
            arrangement = arrangements.start(plan, ws, bucket)
            try:
                session_id, csrf_token = log_in(arrangement.entry.url)
                target = mix.Target(
                    small_path=small.download_path,
                    big_path=big.download_path,
                    etag=etag,
                    missing_ids=tuple(missing_ids),
                    cookie=f"sessionid={session_id}",
                    csrf_token=csrf_token,
                    username=files.USERNAME,
                    password=files.PASSWORD,
                )
                redirects = plan.delivery == "s3"
                check.check(arrangement.entry.url, target, redirects_downloads=redirects)
                if args.warmup > 0:
                    soak(
                        arrangement,
                        target,
                        connections=args.connection_counts[0],
                        seconds=args.warmup,
                        threads=args.threads,
                        count=count,
                    )
                slices: list[RunResult] = []
                for connections in rounds.schedule(args.connection_counts, args.rounds):
                    log(f"{plan.key}: {connections} connections, {args.slice_seconds:g} s")
                    result = soak(
                        arrangement,
                        target,
                        connections=connections,
                        seconds=args.slice_seconds,
                        threads=args.threads,
                        count=count,
                    )
                    slices.append(result)
                    log(
                        f"{plan.key} at {connections}: {result.outcome.requests_per_s:,.0f} req/s, "
                        f"p99 {result.outcome.latency_ms['p99']:,.0f} ms"
                        f" ({result.outcome.sent_latency_ms['p99']:,.0f} ms sent), "
                        f"rows {result.downloads.describe()}"
                    )
                results.extend(rounds.combine_all(slices))
            finally:
                arrangement.stop()
        labels = {plan.key: plan.label for plan in args.plans}
        found = report.targets(results)
        elapsed = time.monotonic() - started
        busiest = max((result.foreign_cpu_share for result in results), default=0.0)
        notes = [
            f"wrk {args.threads} threads; {args.seconds:g} s per connection count, in "
            f"{args.rounds} interleaved slices of {args.slice_seconds:g} s; {os.cpu_count()} CPUs; "
            f"database {ws.database_url.split(':', 1)[0]}; run time {elapsed:.0f} s.",
            f"Other processes used up to {busiest:.0%} of the CPUs during a run"
            + (": the figures are noisier than usual." if busiest > 0.1 else "."),
            "Mix per 1,000 requests: "
            + ", ".join(f"{kind} {weight}" for kind, weight in mix.WEIGHTS.items())
            + f"; each connection's first request is a big one. req/s: the steady state, the"
            f" whole seconds of each slice after its first {mix.WARMUP_S} (a slice too short"
            " for that counts whole). RSS and fds: all workers summed, before -> after the"
            " run. Accept queue:"
            " connections waiting for gunicorn to accept them, mean / longest (0.1 s samples)."
            " Workers' CPU split: each gunicorn worker's share of the CPU time they used."
            " Others' CPU: share of the machine other processes used during the run;"
            " idle CPU: share nobody used. p50, p99: wrk's, with the requests it adds for"
            " coordinated omission; sent p50 / p99: of the requests wrk sent"
            " (bench/soak/omission.py); sent p99 / mean: over their mean latency, which is"
            " connections / req/s (Little's law).",
        ]
        print(report.render(results, labels, found, notes))
        out = args.json or RESULTS / f"soak-{time.strftime('%Y%m%d-%H%M%S')}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "machine": machine(),
            "seconds_per_run": args.seconds,
            "rounds": args.rounds,
            "threads": args.threads,
            "mix": mix.WEIGHTS,
            "database": ws.database_url.split(":", 1)[0],
            "arrangements": labels,
            "runs": [report.as_json(result) for result in results],
            "targets": [target.__dict__ for target in found],
            "seconds": elapsed,
        }
        out.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
        log(f"done in {elapsed:.0f} s; results in {out}")
        return 0
    finally:
        if moto is not None:
            moto.stop()
        ws.remove()


def main(argv: list[str] | None = None) -> int:
    stop_on_signals()
    return run(parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
