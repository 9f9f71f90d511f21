"""Where the CPU of nginx mode's signed-URL check goes: each thing deploy/signedmedia.js does per
request, measured on its own inside nginx.

    python -m bench.njs_costs [--seconds 2] [--rounds 3]

njs has no profiler, and Debian ships its module without symbols, so the costs are measured by
difference: one nginx (one worker) with an njs handler per operation, each doing that operation
REPEAT times (or once, for what costs on first use in a request: njs 0.7.9 clones its VM for
every request, so a module's first call in a request pays for setting it up), and a bare handler
that only answers. wrk runs each handler in turn for --rounds rounds; an operation's cost is the
median of its handler's nginx CPU per request, less the bare handler's, divided by the
repetitions. The rows at the end are whole requests: a bare njs handler, one that only makes the
internal redirect to the file (no check at all: the floor of any njs check), and nginx serving
the file directly.
"""

import argparse
import getpass
import os
import shutil
import statistics
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench import wrk
from deploy.render_nginx import NJS_MODULE
from harness.nginx import NGINX
from harness.process import free_port, wait_for_port
from harness.procfs import cpu_seconds, process_tree

REPEAT = 20
KEY_HEX = "5f1b2c3d4e5f60718293a4b5c6d7e8f90112233445566778899aabbccddeeff0"
# A payload as the app makes them (sorted keys, ASCII JSON, base64url without padding).
PAYLOAD = (
    "eyJkIjoiaW5saW5lOyBmaWxlbmFtZT1cImJlbmNoLmJpblwiIiwiZiI6IjAwMDAwMDAwLTAwMDAtNDAwMC04MDAw"
    "LTAwMDAwMDAwMDAwMCIsImgiOiIwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAw"
    "MDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwIiwiayI6"
    "ImZpbGVzL2FhL29uZS1raWIiLCJtIjoxNzk2MzU0MDAwLCJuIjoxMDI0LCJ0IjoiYXBwbGljYXRpb24vb2N0ZXQt"
    "c3RyZWFtIiwieCI6MTc5NjM1OTAwMH0"
)
SIGNATURE = "ScrnOyYA1N_VNNGXt9dUbGtj0Hwmjtal5YQlynN4dxY"


@dataclass(frozen=True)
class Operation:
    name: str
    body: str  # JavaScript run `repeat` times; `r` is the request, `k` a key Buffer
    repeat: int = REPEAT
    asynchronous: bool = False


OPERATIONS = [
    Operation(
        "HMAC-SHA256 of a payload (crypto module)",
        "nodeCrypto.createHmac('sha256', k).update(P).digest('base64url');",
    ),
    Operation(
        "HMAC-SHA256 of a signature",
        "nodeCrypto.createHmac('sha256', k).update(S).digest('base64url');",
    ),
    Operation(
        "the whole constant-time check, once",
        "const e = nodeCrypto.createHmac('sha256', k).update(P).digest('base64url');"
        " nodeCrypto.createHmac('sha256', k).update(e).digest('base64url')"
        " === nodeCrypto.createHmac('sha256', k).update(S).digest('base64url');",
        repeat=1,
    ),
    Operation(
        "WebCrypto: import the key, sign, sign, verify",
        "const w = await crypto.subtle.importKey('raw', k, {name: 'HMAC', hash: 'SHA-256'}, false,"
        " ['sign', 'verify']); const e = await crypto.subtle.sign('HMAC', w, P);"
        " const b = await crypto.subtle.sign('HMAC', w, e);"
        " await crypto.subtle.verify('HMAC', w, b, Buffer.from(S, 'base64url'));",
        repeat=1,
        asynchronous=True,
    ),
    Operation("key from hex (Buffer.from)", "Buffer.from(KEY_HEX, 'hex');"),
    Operation(
        "token grammar (one regular expression)",
        "/^([A-Za-z0-9_-]{1,6144})\\.([A-Za-z0-9_-]{43})$/.exec(T);",
    ),
    Operation(
        "base64url payload via Buffer + toString()", "Buffer.from(P, 'base64url').toString();"
    ),
    Operation("base64url payload via String.bytesFrom", "String.bytesFrom(P, 'base64url');"),
    Operation("JSON.parse of the payload", "JSON.parse(J);"),
    Operation("one short regular expression", "/^[0-9a-f]{64}$/.test(KEY_HEX);"),
    Operation("Object.keys(fields).length", "Object.keys(F).length;"),
    Operation("fs.statSync of the file", "fs.statSync(r.variables.costs_root + '/one-kib');"),
    Operation("Date#toUTCString (Last-Modified)", "new Date(1796354000000).toUTCString();"),
    Operation("read a request header", "r.headersIn['If-None-Match'];"),
    Operation("set a response header", "r.headersOut['X-Cost'] = 'v';"),
    Operation("set a js_var", "r.variables.costs_var = 'v';"),
]


def script(operations: list[Operation]) -> str:
    lines = [
        "import fs from 'fs';",
        "// The module is nodeCrypto: `crypto` stays the global, whose .subtle is WebCrypto.",
        "import nodeCrypto from 'crypto';",
        f"const KEY_HEX = '{KEY_HEX}';",
        f"const P = '{PAYLOAD}';",
        f"const S = '{SIGNATURE}';",
        "function bare(r) { r.return(200, 'x'); }",
        "function redirect(r) {",
        "    r.headersOut['Content-Type'] = 'application/octet-stream';",
        "    r.internalRedirect('/internal/one-kib');",
        "}",
    ]
    names = ["bare", "redirect"]
    for index, operation in enumerate(operations):
        name = f"op{index}"
        names.append(name)
        prefix = "async " if operation.asynchronous else ""
        # Worked-on values are made once, outside the loop: only the operation repeats.
        lines.append(
            f"{prefix}function {name}(r) {{ const k = Buffer.from(KEY_HEX, 'hex');"
            " const T = P + '.' + S; const J = String.bytesFrom(P, 'base64url');"
            " const F = JSON.parse(J);"
            f" for (let i = 0; i < {operation.repeat}; i++) {{ {operation.body} }}"
            " r.return(200, 'x'); }"
        )
    lines.append(f"export default {{{', '.join(names)}}};")
    return "\n".join(lines) + "\n"


def config(root: Path, port: int, direct_port: int, count: int) -> str:
    locations = "".join(
        f"        location = /op{index} {{ js_content costs.op{index}; }}\n"
        for index in range(count)
    )
    return f"""load_module {NJS_MODULE};
daemon off;
worker_processes 1;
user {getpass.getuser()};
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    default_type application/octet-stream;
    js_import costs from {root}/costs.js;
    js_var $costs_root {root}/files;
    js_var $costs_var;
    server {{
        listen 127.0.0.1:{port};
        location = /bare {{ js_content costs.bare; }}
        location = /redirect {{ js_content costs.redirect; }}
{locations}        location /internal/ {{ internal; alias {root}/files/; }}
    }}
    server {{
        listen 127.0.0.1:{direct_port};
        location / {{ root {root}/files; }}
    }}
}}
"""


def measure(url: str, pids: list[int], seconds: float) -> float:
    """nginx's CPU microseconds per request of a wrk run against `url`."""
    before = cpu_seconds(pids)
    result = wrk.run(url, seconds=seconds, connections=16, threads=2, headers={})
    if result.errors or not result.requests:
        raise wrk.WrkError(f"{url}: {result.errors} errors\n{result.report}")
    return (cpu_seconds(pids) - before) / result.requests * 1e6


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)

    root = Path(
        tempfile.mkdtemp(prefix="bench-njs-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    )
    process = None
    try:
        (root / "files").mkdir()
        (root / "files" / "one-kib").write_bytes(os.urandom(1024))
        (root / "costs.js").write_text(script(OPERATIONS))
        port, direct_port = free_port(), free_port()
        (root / "nginx.conf").write_text(config(root, port, direct_port, len(OPERATIONS)))
        process = subprocess.Popen(
            [str(NGINX), "-c", str(root / "nginx.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for_port(port, process, 10, root / "error.log")
        wait_for_port(direct_port, process, 10, root / "error.log")
        pids = process_tree(process.pid)
        base = f"http://127.0.0.1:{port}"
        targets = {"bare": f"{base}/bare", "redirect": f"{base}/redirect"}
        targets |= {f"op{index}": f"{base}/op{index}" for index in range(len(OPERATIONS))}
        targets["direct"] = f"http://127.0.0.1:{direct_port}/one-kib"
        runs: dict[str, list[float]] = {name: [] for name in targets}
        for _ in range(args.rounds):
            for name, url in targets.items():
                runs[name].append(measure(url, pids, args.seconds))
        cost = {name: statistics.median(values) for name, values in runs.items()}
        print(f"{'operation (njs 0.7.9 inside nginx)':58}{'us each':>10}")
        for index, operation in enumerate(OPERATIONS):
            each = (cost[f"op{index}"] - cost["bare"]) / operation.repeat
            print(f"{operation.name:58}{each:>10.2f}")
        print()
        print(f"{'whole request, 1 KiB':58}{'us CPU':>10}")
        for name, label in (
            ("bare", "a bare njs handler (answers 'x')"),
            ("redirect", "njs handler + internal redirect to the file, no check"),
            ("direct", "nginx serving the file directly"),
        ):
            print(f"{label:58}{cost[name]:>10.1f}")
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=10)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
