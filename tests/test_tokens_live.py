"""API tokens with the real tools against the real servers: `curl -C -` and `wget -c` resume a
download cut off halfway, authenticated by `Authorization: Bearer` alone, in django mode (gunicorn
sends the bytes, nginx in front) and nginx mode (X-Accel-Redirect), and the file's SHA-256 comes
out whole. The first transfer goes through a relay that drops the connection once half the file
has passed (tests/cutproxy.py); the second asks nginx for the rest and gets a 206. Neither server
writes the token to its logs."""

import hashlib
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from django.core.files.base import ContentFile

from downloads.models import DownloadLog, StoredFile
from downloads.tokens import ApiToken, new_secret
from tests.cutproxy import CuttingProxy
from tests.servers import Stack, make_live_user

pytestmark = pytest.mark.integration

SIZE = 4 * 1024 * 1024
# Generous: "the transfer got there", not a benchmark (the machine is shared).
DEADLINE = 60.0


@dataclass
class TokenDownload:
    stored: StoredFile
    data: bytes
    secret: str

    def url(self, stack: Stack) -> str:
        return f"{stack.url}{self.stored.get_download_url()}"


@pytest.fixture
def download(transactional_db: None, live_server_media: Path) -> TokenDownload:
    """A file and a token, committed where the servers read them (flushed after the test)."""
    data = os.urandom(SIZE)
    user = make_live_user("token-user", "token-password-1")
    stored = StoredFile(owner=user, name="big.bin")
    stored.file.save("big.bin", ContentFile(data), save=False)
    stored.save()
    return TokenDownload(stored, data, ApiToken.issue(user, "resume test")[1])


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def curl_first(url: str, out: Path, header: Path) -> list[str]:
    # -H @file: the token is not on the command line, where other local users could read it.
    return ["curl", "-sS", "-H", f"@{header}", "-o", str(out), url]


def curl_resume(url: str, out: Path, header: Path) -> list[str]:
    return ["curl", "-sS", "-C", "-", "-H", f"@{header}", "-o", str(out), "-w", "%{http_code}", url]


def wget_first(url: str, out: Path, header: Path) -> list[str]:
    # One try: by itself wget would resume at once, through the same cutting relay.
    auth = header.read_text().strip()
    return ["wget", "-q", "--tries=1", f"--header={auth}", "-O", str(out), url]


def wget_resume(url: str, out: Path, header: Path) -> list[str]:
    # -S: the server's answer on stderr, to see the 206.
    auth = header.read_text().strip()
    return ["wget", "-c", "-S", "--tries=1", f"--header={auth}", "-O", str(out), url]


TOOLS = {"curl": (curl_first, curl_resume), "wget": (wget_first, wget_resume)}


def resumed_status(tool: str, result: subprocess.CompletedProcess[str]) -> int:
    if tool == "curl":
        return int(result.stdout)
    statuses = [
        line.split()[1] for line in result.stderr.splitlines() if line.strip().startswith("HTTP/")
    ]
    return int(statuses[-1])


def logged_range(stored: StoredFile, range_header: str) -> DownloadLog:
    """The resumed request's row, written by the server's log writer (its own thread)."""
    give_up = time.monotonic() + DEADLINE
    while (row := DownloadLog.objects.filter(file=stored, range=range_header).first()) is None:
        assert time.monotonic() < give_up, f"no log row for {range_header}"
        time.sleep(0.1)
    return row


@pytest.mark.parametrize("mode", ["django", "nginx"])
@pytest.mark.parametrize("tool", ["curl", "wget"])
def test_a_download_cut_off_halfway_resumes_whole_with_a_bearer_token(
    tool, mode, live_stack, download, tmp_path
):
    stack = live_stack(mode)
    url = download.url(stack)
    out = tmp_path / "big.bin"
    header = tmp_path / "header"
    header.write_text(f"Authorization: Bearer {download.secret}\n")
    first, resume = TOOLS[tool]

    with CuttingProxy(upstream_port=stack.nginx.port, cut_after=SIZE // 2) as relay:
        cut = subprocess.run(
            first(url.replace(stack.url, relay.url), out, header),
            capture_output=True,
            text=True,
            timeout=DEADLINE,
            check=False,
        )
    # Both tools say the body ended early (curl: 18, wget: 4, a network failure).
    assert cut.returncode == {"curl": 18, "wget": 4}[tool], cut.stderr
    partial = out.stat().st_size
    # Half the answer, less its head.
    assert SIZE // 2 - 2048 < partial < SIZE // 2
    assert out.read_bytes() == download.data[:partial]

    result = subprocess.run(
        resume(url, out, header), capture_output=True, text=True, timeout=DEADLINE, check=False
    )
    assert result.returncode == 0, result.stderr
    assert resumed_status(tool, result) == 206
    assert sha256(out.read_bytes()) == sha256(download.data)

    # The server saw the token's user asking for the rest, and logged no token.
    row = logged_range(download.stored, f"bytes={partial}-")
    assert row.user_id == download.stored.owner_id
    assert row.status == 206


@pytest.mark.parametrize("mode", ["django", "nginx"])
def test_through_nginx_a_wrong_token_is_a_401_and_no_server_logs_a_token(
    mode, live_stack, download
):
    stack = live_stack(mode)
    wrong = new_secret()
    response = requests.get(
        download.url(stack), headers={"Authorization": f"Bearer {wrong}"}, timeout=30
    )
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert "Set-Cookie" not in response.headers
    right = requests.head(
        download.url(stack), headers={"Authorization": f"Bearer {download.secret}"}, timeout=30
    )
    assert right.status_code == 200
    assert "Set-Cookie" not in right.headers
    logs = [
        stack.gunicorn.log_path,
        stack.nginx.run_dir / "access.log",
        stack.nginx.run_dir / "error.log",
    ]
    for path in logs:
        assert path is not None
        text = path.read_text(errors="replace")
        assert download.secret not in text
        assert wrong not in text
