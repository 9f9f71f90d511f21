"""python -m bench.sessions_ab: what one way of loading the session and the user costs against
another, in CPU time per download (README, Performance: sessions and users).

    python -m bench.sessions_ab \\
      --variant overrides=downloads.sessions,downloads.backends.ModelBackend \\
      --variant django=django.contrib.sessions.backends.db,django.contrib.auth.backends.ModelBackend

Variables after the backend go into that variant's server environment, e.g. the connection
pool against a persistent connection per thread on PostgreSQL:

    --variant pool=downloads.sessions,downloads.backends.ModelBackend \\
    --variant persistent=downloads.sessions,downloads.backends.ModelBackend,DATABASE_POOL_SIZE=0

Each variant is a SESSION_ENGINE and the user-loading backend (bench/settings_variant.py). For
each variant and delivery mode (django: gunicorn alone; nginx: nginx from the deploy template in
front) one gunicorn runs with deploy/gunicorn.conf.py, and its user logs in through the login
form (a session names the backend that logged it in, so each variant needs its own).

On a shared machine throughput says little, so the figure is the CPU time (user + system, from
/proc) the gunicorn workers spend on a fixed number of 1 KiB downloads, divided by that number.
The variants take turns in every round (A B, then B A), so a busy minute of the machine hits
both alike. Then, in this process, the time of just the session and user lookup:
`SessionStore(key).load()` plus the backend's `get_user(id)`, with timeit, the variants again
taking turns. SQLite by default; PostgreSQL with DATABASE_URL (scripts/postgres.sh run ...).
"""

import argparse
import http.client
import json
import statistics
import sys
import threading
import time
import timeit
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import files, procstat, servers, workspace
from bench.__main__ import RESULTS, log_in, prepare_django
from bench.signals import stop_on_signals
from harness.gunicorn import Gunicorn
from harness.process import Server

MODES = ("django", "nginx")


@dataclass(frozen=True)
class Variant:
    name: str
    session_engine: str
    user_backend: str
    # More of the server's environment, e.g. DATABASE_POOL_SIZE=0 to weigh the pool.
    extra_env: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, text: str) -> "Variant":
        name, _, paths = text.partition("=")
        engine, _, rest = paths.partition(",")
        backend, *assignments = rest.split(",")
        extra = tuple(tuple(item.split("=", 1)) for item in assignments)
        if not (name and engine and backend) or any(len(pair) != 2 for pair in extra):
            raise argparse.ArgumentTypeError(
                f"expected NAME=ENGINE,BACKEND[,VAR=VALUE...], got {text!r}"
            )
        return cls(name, engine, backend, extra)  # type: ignore[arg-type]

    def env(self) -> dict[str, str]:
        return {
            "DJANGO_SETTINGS_MODULE": "bench.settings_variant",
            "BENCH_SESSION_ENGINE": self.session_engine,
            "BENCH_USER_BACKEND": self.user_backend,
            **dict(self.extra_env),
        }


@dataclass
class Target:
    """One variant in one delivery mode: its gunicorn, the URL requests go to, its cookie."""

    variant: Variant
    mode: str
    app: Server
    host: str
    port: int
    cookie: str = ""


def log(message: str) -> None:
    print(f"[sessions_ab {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def start_gunicorn(name: str, env: dict[str, str], log_dir: Path) -> Server:
    """As bench.servers.start_gunicorn, but with the variant's settings module (the harness
    keeps a DJANGO_SETTINGS_MODULE its env names)."""
    return Gunicorn(env=env).start(log_dir / f"gunicorn-{name}.log")


def download_many(target: Target, path: str, count: int, connections: int) -> None:
    """`count` downloads over `connections` kept-alive connections; every answer checked."""
    failures: list[str] = []

    def one_connection(share: int) -> None:
        connection = http.client.HTTPConnection(target.host, target.port, timeout=10)
        try:
            for _ in range(share):
                connection.request("GET", path, headers={"Cookie": target.cookie})
                answer = connection.getresponse()
                body = answer.read()
                if answer.status != 200 or len(body) != files.KIB:
                    failures.append(f"{answer.status}, {len(body)} bytes")
                    return
        except OSError as error:
            failures.append(repr(error))
        finally:
            connection.close()

    shares = [count // connections + (i < count % connections) for i in range(connections)]
    threads = [threading.Thread(target=one_connection, args=(share,)) for share in shares]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(f"{target.variant.name}/{target.mode}: {failures[0]}")


def cpu_ms_per_download(target: Target, path: str, count: int, connections: int) -> float:
    with procstat.CpuWatch(target.app.worker_pids()) as cpu:
        download_many(target, path, count, connections)
    return cpu.seconds * 1000 / count


def lookup_us(variants: list[Variant], user_id: int, repeats: int, number: int) -> dict[str, Any]:
    """CPU microseconds per session load plus user load, in this process, variants taking
    turns (CPU time, not wall time: other processes on the machine take the cores too)."""
    from django.contrib.auth import load_backend
    from django.utils.module_loading import import_module

    calls = {}
    for variant in variants:
        store_class = import_module(variant.session_engine).SessionStore
        backend = load_backend(variant.user_backend)
        store = store_class()
        store["_auth_user_id"] = str(user_id)
        store.create()
        key = store.session_key

        def lookup(store_class: Any = store_class, backend: Any = backend, key: str = key) -> None:
            session = store_class(key)
            session.load()
            if session.session_key != key or backend.get_user(user_id) is None:
                raise RuntimeError("the lookup found no session or no user")

        lookup()  # compiled queries compile, connections open
        calls[variant.name] = lookup
    times: dict[str, list[float]] = {variant.name: [] for variant in variants}
    for round_number in range(repeats):
        order = variants if round_number % 2 == 0 else variants[::-1]
        for variant in order:
            seconds = timeit.timeit(calls[variant.name], number=number, timer=time.process_time)
            times[variant.name].append(seconds * 1e6 / number)
    return times


def summary(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def run(args: argparse.Namespace) -> int:
    variants: list[Variant] = args.variant
    if len(variants) != 2:
        raise SystemExit("give exactly two --variant NAME=ENGINE,BACKEND")
    ws = workspace.create()
    running: list[Server] = []
    try:
        database = "postgresql" if ws.postgres_database else "sqlite"
        log(f"{database}; files in {ws.root}")
        made = prepare_django(ws, sizes={"1KiB": files.KIB}, zip_members=0)
        path = made.by_size["1KiB"].download_path
        targets: list[Target] = []
        for variant in variants:
            for mode in MODES:
                env = ws.app_env(DOWNLOADS_DELIVERY=mode, **variant.env())
                app = start_gunicorn(f"{variant.name}-{mode}", env, ws.log_dir)
                running.append(app)
                front = app
                if mode == "nginx":
                    front = servers.start_nginx(ws, f"nginx-{variant.name}", app)
                    running.append(front)
                target = Target(variant, mode, app, "127.0.0.1", front.port)
                session_id, csrf_token = log_in(front.url)
                target.cookie = f"sessionid={session_id}; csrftoken={csrf_token}"
                targets.append(target)
        log("warming up")
        for target in targets:
            download_many(target, path, args.count // 4, args.connections)
        cpu: dict[str, dict[str, list[float]]] = {mode: {} for mode in MODES}
        with procstat.ForeignLoad(lambda: [p for s in running for p in s.pids()]) as foreign:
            for round_number in range(args.rounds):
                log(f"round {round_number + 1} of {args.rounds}")
                for mode in MODES:
                    pair = [t for t in targets if t.mode == mode]
                    for target in pair if round_number % 2 == 0 else pair[::-1]:
                        figure = cpu_ms_per_download(target, path, args.count, args.connections)
                        cpu[mode].setdefault(target.variant.name, []).append(figure)
        from django.contrib.auth.models import User

        user_id = User.objects.get(username=files.USERNAME).pk
        lookups = lookup_us(variants, user_id, args.lookup_repeats, args.lookup_number)
        result = {
            "database": database,
            "variants": [variant.__dict__ for variant in variants],
            "downloads_per_run": args.count,
            "connections": args.connections,
            "rounds": args.rounds,
            "foreign_cpu_share": foreign.share,
            "cpu_ms_per_download": cpu,
            "lookup_us": lookups,
        }
        print(render(result))
        out = RESULTS / f"sessions-ab-{database}-{time.strftime('%Y%m%d-%H%M%S')}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2))
        log(f"results in {out}")
        return 0
    finally:
        for server in reversed(running):
            server.stop()
        ws.remove()


def render(result: dict[str, Any]) -> str:
    first, second = (variant["name"] for variant in result["variants"])
    lines = [
        f"{result['database']}: {result['rounds']} rounds of {result['downloads_per_run']} "
        f"downloads of 1 KiB per variant and mode, {result['connections']} connections; "
        f"others used {result['foreign_cpu_share']:.0%} of the CPUs",
        "gunicorn workers' CPU ms per download, median (min-max):",
    ]
    lookup_a, lookup_b = (summary(result["lookup_us"][name]) for name in (first, second))
    for mode, by_variant in result["cpu_ms_per_download"].items():
        a, b = summary(by_variant[first]), summary(by_variant[second])
        # Each round's A and B ran a minute apart at most: their ratio carries less drift.
        rounds = zip(by_variant[first], by_variant[second], strict=True)
        paired = summary([1 - x / y for x, y in rounds])
        lookup_share = (lookup_b["median"] - lookup_a["median"]) / 1000 / b["median"]
        lines.append(
            f"  {mode:6} {first} {a['median']:.3f} ({a['min']:.3f}-{a['max']:.3f})  "
            f"{second} {b['median']:.3f} ({b['min']:.3f}-{b['max']:.3f})  "
            f"{first} saves {paired['median']:.1%} per round "
            f"({paired['min']:.1%}-{paired['max']:.1%}); "
            f"the lookups' difference is {lookup_share:.1%} "
            f"of {second}'s CPU per download"
        )
    lines.append(
        "session load + get_user in-process, CPU us per call, median (min-max): "
        f"{first} {lookup_a['median']:.0f} ({lookup_a['min']:.0f}-{lookup_a['max']:.0f})  "
        f"{second} {lookup_b['median']:.0f} ({lookup_b['min']:.0f}-{lookup_b['max']:.0f})"
    )
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.sessions_ab", description=__doc__)
    parser.add_argument(
        "--variant",
        type=Variant.parse,
        action="append",
        required=True,
        help="NAME=SESSION_ENGINE,USER_BACKEND (twice)",
    )
    parser.add_argument("--rounds", type=int, default=6, help="A/B turns per mode")
    parser.add_argument("--count", type=int, default=3000, help="downloads per run")
    parser.add_argument("--connections", type=int, default=4, help="kept-alive connections")
    parser.add_argument("--lookup-repeats", type=int, default=10, help="timeit runs per variant")
    parser.add_argument("--lookup-number", type=int, default=500, help="lookups per timeit run")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    stop_on_signals()
    return run(parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
