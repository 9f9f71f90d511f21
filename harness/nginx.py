"""nginx started with deploy/nginx.conf.template, rendered by deploy/render_nginx.py for loopback
ports and a run directory of its own. The app's prefix and limits come from Django's settings,
as a deployer's rendering takes them, so those settings must be loaded."""

import getpass
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deploy import media_keys
from deploy.render_nginx import NginxConfig
from deploy.render_nginx import from_settings as nginx_config_from_settings
from deploy.render_nginx import render as render_nginx
from harness.process import Server, free_port

NGINX = Path(shutil.which("nginx") or "/usr/sbin/nginx")


@dataclass(kw_only=True)
class Nginx(Server):
    upstream_port: int
    media_root: Path
    static_root: Path
    run_dir: Path
    # The only name server on loopback is one a test starts (harness.dns).
    resolver: str = "127.0.0.1"
    # Other NginxConfig fields, e.g. shorter timeouts for a test, or `worker_processes`.
    options: dict[str, Any] = field(default_factory=dict)
    # With a directory, the same nginx also serves its files on `direct_port` with no check at
    # all: the benchmark's reference for what the machine can do.
    direct_root: Path | None = None
    direct_port: int = field(default_factory=free_port)
    # Delivery mode "nginx" with local files: njs checks signed media URLs (/m/) with the media
    # keys of this process's settings, written to the run directory as a deployer's are.
    signed_media: bool = False
    # The keys nginx holds, current first; None: those of this process's settings.
    signing_keys: Sequence[bytes] | None = None

    @property
    def media_keys_path(self) -> Path:
        return self.run_dir / "media-keys.conf"

    @property
    def config_path(self) -> Path:
        return self.run_dir / "nginx.conf"

    @property
    def direct_url(self) -> str:
        return f"http://127.0.0.1:{self.direct_port}"

    def config(self) -> NginxConfig:
        options = {"worker_processes": "1", **self.options}
        return nginx_config_from_settings(
            listen=f"127.0.0.1:{self.port}",
            upstream=f"127.0.0.1:{self.upstream_port}",
            static_root=self.static_root,
            media_root=self.media_root,
            run_dir=self.run_dir,
            user=getpass.getuser(),
            access_log=str(self.run_dir / "access.log"),
            error_log=str(self.run_dir / "error.log"),
            resolver=self.resolver,
            signed_media_keys=self.media_keys_path if self.signed_media else None,
            **options,
        )

    def rendered(self) -> str:
        text = render_nginx(self.config())
        if self.direct_root is not None:
            text = with_extra_server(text, self._direct_server())
        return text

    def _direct_server(self) -> str:
        return (
            "\n    # Added by the harness: the same files from disk, no access check.\n"
            "    server {\n"
            f"        listen 127.0.0.1:{self.direct_port};\n"
            f"        access_log {self.run_dir / 'access.log'};\n"
            "        location / {\n"
            f"            root {self.direct_root};\n"
            "        }\n"
            "    }\n"
        )

    def start(self) -> "Nginx":
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if self.signed_media:
            media_keys.write(self.media_keys_path, self.signing_keys)
        self.config_path.write_text(self.rendered())
        self.launch([str(NGINX), "-c", str(self.config_path)], self.run_dir / "stdout.log")
        if self.direct_root is not None:
            self.wait_for(self.direct_port)
        return self

    def log(self) -> str:
        """nginx's error log (its stdout says nothing once it has started)."""
        path = self.run_dir / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""


def with_extra_server(rendered: str, block: str) -> str:
    """The rendered configuration with `block` added as the last thing in its `http` block."""
    closing = rendered.rstrip().rfind("}")
    if closing < 0 or "http {" not in rendered:
        raise ValueError("the rendered nginx configuration has no http block to extend")
    return rendered[:closing] + block + rendered[closing:]
