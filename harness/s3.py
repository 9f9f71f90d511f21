"""moto's S3 server over HTTP on a loopback port, with one bucket: what the S3 modes and storage
talk to in the tests and the benchmarks, with the settings that point the app at it."""

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from harness.process import Server

S3_REGION = "us-east-1"
# moto takes any credentials; these only have to agree between the servers and the bucket.
S3_ACCESS_KEY = "moto-access-key"
S3_SECRET_KEY = "moto-secret-key"  # noqa: S105
# Presigned URLs made by the servers under test live this long: tests assert X-Amz-Expires.
S3_URL_EXPIRY = 120
# Timeouts of the harness's own calls to the bucket (making it, filling it, the recorder).
CALL_TIMEOUT = 10


@dataclass(kw_only=True)
class MotoS3(Server):
    bucket: str = "protected-downloads-test"
    # Where moto writes the requests it records (start_recording()); None: no recording.
    recording: Path | None = None
    # AWS_QUERYSTRING_EXPIRE of the servers pointed at it (server_env()).
    url_expiry: int = S3_URL_EXPIRY
    # Connections kept alive, as S3 keeps them: moto's application under gunicorn
    # (harness/motoapp.py says why). False: `python -m moto.server`, which closes each one.
    keep_alive: bool = False

    @property
    def endpoint_url(self) -> str:
        return self.url

    def start(self, log_path: Path) -> "MotoS3":
        env = dict(os.environ)
        if self.recording is not None:
            # Recording is switched on only by the tests that read it (start_recording()).
            env["MOTO_RECORDER_FILEPATH"] = str(self.recording)
        self.launch(self.command(), log_path, env)
        try:
            self.client().create_bucket(Bucket=self.bucket)
        except BaseException:
            self.stop()
            raise
        return self

    def command(self) -> list[str]:
        if not self.keep_alive:
            return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]
        return [
            sys.executable,
            "-m",
            "gunicorn",
            # One process: the buckets live in its memory. Threads for concurrent calls.
            "--workers=1",
            "--threads=16",
            "--keep-alive=60",
            # Completing a 1 GiB multipart upload takes moto longer than the default 30 s.
            "--timeout=0",
            f"--bind=127.0.0.1:{self.port}",
            "harness.motoapp:application",
        ]

    def client(self, read_timeout: float = 60) -> Any:
        """A boto3 client of the bucket, for filling it and reading it back."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=S3_REGION,
            aws_access_key_id=S3_ACCESS_KEY,
            aws_secret_access_key=S3_SECRET_KEY,
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                connect_timeout=CALL_TIMEOUT,
                read_timeout=read_timeout,
            ),
        )

    def server_env(self) -> dict[str, str]:
        """What a deployer sets to put the files in this bucket (project/settings.py)."""
        return {
            "AWS_STORAGE_BUCKET_NAME": self.bucket,
            "AWS_S3_ENDPOINT_URL": self.endpoint_url,
            "AWS_S3_REGION_NAME": S3_REGION,
            "AWS_S3_ADDRESSING_STYLE": "path",
            "AWS_QUERYSTRING_EXPIRE": str(self.url_expiry),
            "AWS_ACCESS_KEY_ID": S3_ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": S3_SECRET_KEY,
        }

    def storage_settings(self) -> dict[str, Any]:
        """The same storage for the process driving the servers, for STORAGES["default"]."""
        return {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": self.bucket,
                "endpoint_url": self.endpoint_url,
                "region_name": S3_REGION,
                "signature_version": "s3v4",
                "addressing_style": "path",
                "querystring_expire": self.url_expiry,
                "access_key": S3_ACCESS_KEY,
                "secret_key": S3_SECRET_KEY,
            },
        }

    def _recorder(self, action: str) -> requests.Response:
        response = requests.post(
            f"{self.endpoint_url}/moto-api/recorder/{action}", timeout=CALL_TIMEOUT
        )
        response.raise_for_status()
        return response

    def start_recording(self) -> None:
        self._recorder("reset-recording")
        self._recorder("start-recording")

    def stop_recording(self) -> list[dict[str, Any]]:
        """The requests the bucket received since start_recording(): method, url, headers."""
        self._recorder("stop-recording")
        text = requests.get(
            f"{self.endpoint_url}/moto-api/recorder/download-recording", timeout=CALL_TIMEOUT
        ).text
        return [json.loads(line) for line in text.splitlines() if line.strip()]
