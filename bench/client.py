"""Single transfers timed by curl: one big download, a range, a zip."""

import subprocess
from dataclasses import dataclass
from pathlib import Path

_WRITE_OUT = "%{http_code} %{time_total} %{size_download} %{time_starttransfer}\\n%{redirect_url}"


@dataclass(frozen=True)
class Transfer:
    status: int
    seconds: float
    body_bytes: int
    first_byte_s: float
    location: str

    @property
    def mib_per_s(self) -> float:
        return self.body_bytes / self.seconds / 1024**2 if self.seconds else 0.0


def fetch(
    url: str,
    *,
    headers: dict[str, str] | None = None,
    form_file: Path | None = None,
    max_seconds: float = 300.0,
) -> Transfer:
    """One request, its body read and thrown away; a POST of `form_file` when given."""
    command = ["curl", "--silent", "--show-error", "--output", "/dev/null"]
    command += ["--max-time", f"{max_seconds:g}", "--write-out", _WRITE_OUT]
    for name, value in (headers or {}).items():
        command += ["--header", f"{name}: {value}"]
    if form_file is not None:
        command += ["--header", "Content-Type: application/x-www-form-urlencoded"]
        command += ["--data-binary", f"@{form_file}"]
    command.append(url)
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=max_seconds + 10, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"curl {url} failed ({done.returncode}): {done.stderr.strip()}")
    figures, _, location = done.stdout.partition("\n")
    status, total, size, first_byte = figures.split()
    return Transfer(
        status=int(status),
        seconds=float(total),
        body_bytes=int(float(size)),
        first_byte_s=float(first_byte),
        location=location.strip(),
    )
