"""The benchmark's servers, started by the harness (harness/) as a deployer would, on one
workspace's files and database: only the choices that are the benchmark's are here."""

import os
from typing import Any

from bench.workspace import Workspace
from harness.gunicorn import Gunicorn
from harness.nginx import Nginx
from harness.process import Server
from harness.s3 import MotoS3
from harness.uvicorn import Uvicorn

S3_BUCKET = "protected-downloads-bench"
# The fetch row's presigned URLs are made once, before rounds that can last many minutes.
S3_URL_EXPIRY = 3600
PEERS_SETTINGS = "bench.peers.settings"


def start_gunicorn(ws: Workspace, name: str, **extra: str) -> Gunicorn:
    """gunicorn with the shipped configuration; only the bind address and the app's env differ."""
    return Gunicorn(env=ws.app_env(**extra)).start(ws.log_dir / f"gunicorn-{name}.log")


def start_peers(ws: Workspace) -> Gunicorn:
    """gunicorn with the shipped configuration serving the peers (bench/peers/): only the
    settings module differs from the app's rows."""
    return start_gunicorn(ws, "peers", DJANGO_SETTINGS_MODULE=PEERS_SETTINGS)


def start_uvicorn(ws: Workspace, name: str, **extra: str) -> Uvicorn:
    """uvicorn (project.asgi) with as many worker processes as gunicorn has (one per CPU)."""
    server = Uvicorn(env=ws.app_env(**extra), workers=os.cpu_count() or 1)
    return server.start(ws.log_dir / f"uvicorn-{name}.log")


def start_nginx(
    ws: Workspace, name: str, upstream: Server, *, direct: bool = False, signed_media: bool = False
) -> Nginx:
    """nginx from the deploy template in front of `upstream`, workers as the template ships them
    (`auto`); with `direct`, it also serves the media files with no check (Nginx.direct_url);
    with `signed_media` (nginx mode), njs answers signed media URLs itself, as deployed."""
    return Nginx(
        upstream_port=upstream.port,
        media_root=ws.media_root,
        static_root=ws.static_root,
        run_dir=ws.data_dir / name,
        options={"worker_processes": "auto"},
        direct_root=ws.media_root if direct else None,
        signed_media=signed_media,
    ).start()


def start_moto(ws: Workspace) -> MotoS3:
    # Keep-alive like S3's, or the app's calls to the bucket would reconnect each time.
    moto = MotoS3(bucket=S3_BUCKET, url_expiry=S3_URL_EXPIRY, keep_alive=True)
    return moto.start(ws.log_dir / "moto.log")


def upload_client(moto: MotoS3) -> Any:
    """A client for filling the bucket. Completing the 1 GiB upload can take moto over
    botocore's default minute on a busy machine, and a retry of it after a timeout fails (the
    upload is already complete)."""
    return moto.client(read_timeout=600)
