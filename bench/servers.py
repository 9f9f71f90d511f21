"""The servers under test, started as a deployer would: gunicorn with deploy/gunicorn.conf.py,
nginx with the rendered deploy/nginx.conf.template, and moto's S3 server as the bucket.

Each runs in its own process group on a free loopback port and is stopped by its own id.
"""

import getpass
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.procstat import process_tree
from deploy.render_nginx import NginxConfig
from deploy.render_nginx import render as render_nginx

ROOT = Path(__file__).resolve().parent.parent
NGINX = Path(shutil.which("nginx") or "/usr/sbin/nginx")
S3_REGION = "us-east-1"
S3_ACCESS_KEY = "bench-access-key"
S3_SECRET_KEY = "bench-secret-key"
S3_BUCKET = "protected-downloads-bench"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout:g}s")


@dataclass
class Server:
    """A process group we started: a command, its port, its log."""

    name: str
    log_path: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def launch(self, command: list[str], env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=self.log_path.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for_port(self.port, self.process)

    def pids(self) -> list[int]:
        """The master and its workers: whose CPU time a row's server cost adds up."""
        assert self.process is not None
        return process_tree(self.process.pid)

    def worker_pids(self) -> list[int]:
        return self.pids()[1:]

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def start_gunicorn(name: str, env: dict[str, str], log_dir: Path) -> Server:
    """gunicorn with the shipped configuration; only the bind address and the app's env differ."""
    server = Server(name=name, log_path=log_dir / f"gunicorn-{name}.log")
    full_env = {**os.environ, **env, "GUNICORN_BIND": f"127.0.0.1:{server.port}"}
    full_env["DJANGO_SETTINGS_MODULE"] = "project.settings"
    server.launch(
        [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "deploy" / "gunicorn.conf.py")],
        env=full_env,
    )
    return server


def reference_server_block(port: int, root: Path, access_log: Path) -> str:
    """nginx serving the files from disk with no check at all: the machine's limit."""
    return (
        "\n    # Added by the benchmark: the reference row, no access check.\n"
        "    server {\n"
        f"        listen 127.0.0.1:{port};\n"
        f"        access_log {access_log};\n"
        "        location / {\n"
        f"            root {root};\n"
        "        }\n"
        "    }\n"
    )


def with_extra_server(rendered: str, block: str) -> str:
    """The rendered configuration with `block` added as the last thing in its `http` block."""
    closing = rendered.rstrip().rfind("}")
    if closing < 0 or "http {" not in rendered:
        raise ValueError("the rendered nginx configuration has no http block to extend")
    return rendered[:closing] + block + rendered[closing:]


def start_nginx(
    name: str,
    *,
    upstream: Server,
    media_root: Path,
    static_root: Path,
    run_dir: Path,
    reference_root: Path | None = None,
) -> tuple[Server, Server | None]:
    """nginx from the deploy template in front of `upstream`; with `reference_root`, also the
    reference server on a second port. Workers as the template ships them (`auto`)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    server = Server(name=name, log_path=run_dir / "stdout.log")
    config = NginxConfig(
        listen=f"127.0.0.1:{server.port}",
        upstream=f"127.0.0.1:{upstream.port}",
        static_root=static_root,
        media_root=media_root,
        run_dir=run_dir,
        user=getpass.getuser(),
        access_log=str(run_dir / "access.log"),
        error_log=str(run_dir / "error.log"),
    )
    text = render_nginx(config)
    reference: Server | None = None
    if reference_root is not None:
        reference = Server(name=f"{name}-direct", log_path=server.log_path)
        text = with_extra_server(
            text, reference_server_block(reference.port, reference_root, run_dir / "access.log")
        )
    config_path = run_dir / "nginx.conf"
    config_path.write_text(text)
    server.launch([str(NGINX), "-c", str(config_path)])
    if reference is not None:
        # The same nginx processes answer on both ports.
        reference.process = server.process
        wait_for_port(reference.port, server.process)  # type: ignore[arg-type]
    return server, reference


def start_moto(log_dir: Path) -> Server:
    server = Server(name="moto", log_path=log_dir / "moto.log")
    # One process (the buckets are in its memory), threads for concurrent calls, keep-alive
    # like S3's (bench/motoapp.py says why not `python -m moto.server`).
    server.launch(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers=1",
            "--threads=16",
            "--keep-alive=60",
            # Completing a 1 GiB multipart upload takes moto longer than the default 30 s.
            "--timeout=0",
            f"--bind=127.0.0.1:{server.port}",
            "bench.motoapp:application",
        ]
    )
    s3_client(server.url).create_bucket(Bucket=S3_BUCKET)
    return server


def s3_client(endpoint_url: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=S3_REGION,
        aws_access_key_id=S3_ACCESS_KEY,
        aws_secret_access_key=S3_SECRET_KEY,
        # Completing the 1 GiB upload can take moto over botocore's default minute on a busy
        # machine; a retry of it after a timeout fails (the upload is already complete).
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}, read_timeout=600),
    )


def s3_env(endpoint_url: str) -> dict[str, str]:
    """What a deployer sets to keep the files in this bucket (project/settings.py)."""
    return {
        "AWS_STORAGE_BUCKET_NAME": S3_BUCKET,
        "AWS_S3_ENDPOINT_URL": endpoint_url,
        "AWS_S3_REGION_NAME": S3_REGION,
        "AWS_S3_ADDRESSING_STYLE": "path",
        "AWS_QUERYSTRING_EXPIRE": "3600",
        "AWS_ACCESS_KEY_ID": S3_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": S3_SECRET_KEY,
    }
