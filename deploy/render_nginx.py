"""Render deploy/nginx.conf.template into the nginx configuration that deployers, the integration
tests and the benchmarks all run.

    python -m deploy.render_nginx --listen 80 --upstream 127.0.0.1:8000 > nginx.conf

The values that must agree with the app (STATIC_ROOT, MEDIA_ROOT, DOWNLOADS_NGINX_PREFIX,
DOWNLOADS_MAX_UPLOAD_BYTES, DOWNLOADS_USER_UPLOAD_MAX_BYTES, DOWNLOADS_MAX_REQUEST_BODY_BYTES)
come from its settings, that is from the same environment variables gunicorn is started with.

In delivery mode "nginx" with local files it also writes the media keys nginx checks signed
media URLs with (deploy/media_keys.py) to `--media-keys` (a file only its owner reads).
"""

import argparse
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deploy import media_keys

# The admin's upload form carries more than the file: its other fields and multipart framing.
from downloads.bodylimit import MULTIPART_ALLOWANCE

TEMPLATE = Path(__file__).with_name("nginx.conf.template")
_PLACEHOLDER = re.compile(r"\$\{([A-Z_]+)\}")
# Only values nginx reads as one plain token: no spaces, quotes, braces or semicolons that
# could end a directive early or start a new one.
_TOKEN = re.compile(r"[^\s;{}'\"#\\]+")
# A template line kept only when its feature is available: "#if-<feature> <directive>".
_OPTIONAL_LINE = re.compile(r"^([ \t]*)#if-([a-z-]+) (.*\n?)", re.M)
# A block of lines kept only with its feature: "#if-<feature> begin" ... "#end-<feature>".
_OPTIONAL_BLOCK = re.compile(r"^#if-([a-z-]+) begin\n(.*?)^#end-\1\n", re.M | re.S)
FEATURES = {"brotli-static", "signed-media", "reuseport", "shared-listen"}
# Where Debian's libnginx-mod-http-brotli-static puts its module; nginx-light has no brotli.
BROTLI_STATIC_MODULE = Path("/usr/lib/nginx/modules/ngx_http_brotli_static_module.so")
# Debian's libnginx-mod-http-js: njs, which checks signed media URLs in nginx mode.
NJS_MODULE = Path("/usr/lib/nginx/modules/ngx_http_js_module.so")
SIGNED_MEDIA_SCRIPT = Path(__file__).with_name("signedmedia.js")


def installed_module(path: Path = BROTLI_STATIC_MODULE) -> Path | None:
    return path if path.is_file() else None


def system_resolver(resolv_conf: Path = Path("/etc/resolv.conf")) -> str:
    """The host's first name server, for nginx's `resolver` (IPv6 addresses in brackets)."""
    try:
        lines = resolv_conf.read_text().splitlines()
    except OSError:
        return "127.0.0.1"
    for line in lines:
        fields = line.split()
        if len(fields) >= 2 and fields[0] == "nameserver":
            address = fields[1]
            return f"[{address}]" if ":" in address else address
    return "127.0.0.1"


@dataclass(frozen=True)
class NginxConfig:
    listen: str
    upstream: str
    static_root: Path
    media_root: Path
    run_dir: Path
    internal_prefix: str = "/_protected/"
    static_url: str = "/static/"
    max_upload_bytes: int = 2 * 1024**3
    max_request_body_bytes: int = 1024 * 1024
    user_upload_max_bytes: int = 256 * 1024**2
    server_name: str = "_"
    user: str = "www-data"
    worker_processes: str = "auto"
    access_log: str = "/var/log/nginx/protected-downloads.access.log"
    error_log: str = "/var/log/nginx/protected-downloads.error.log"
    resolver: str = field(default_factory=system_resolver)
    mime_types: Path = Path("/etc/nginx/mime.types")
    ca_certificates: Path = Path("/etc/ssl/certs/ca-certificates.crt")
    # What the app is told the client's scheme was: nginx's own, or (--behind-tls-proxy) what
    # the TLS-terminating proxy in front of nginx says, so the app's https redirect ends.
    forwarded_proto: str = "$scheme"
    # WhiteNoise's .br files go to clients that accept br only with this module; without it,
    # static files leave gzipped (gzip_static is built in).
    brotli_static_module: Path | None = field(default_factory=installed_module)

    # Signed media URLs checked by njs (delivery mode "nginx" with local files): the file of
    # media keys the rendered configuration includes; None leaves /m/ to the app.
    signed_media_keys: Path | None = None
    njs_module: Path = NJS_MODULE
    signed_media_script: Path = SIGNED_MEDIA_SCRIPT
    # What nginx must answer as the app does for a signed URL: DOWNLOADS_MAX_RANGES, and the
    # headers Django's middleware adds to a download (X_FRAME_OPTIONS, SECURE_REFERRER_POLICY).
    max_ranges: int = 16
    frame_options: str = "DENY"
    referrer_policy: str = "same-origin"

    # One listening socket per nginx worker (`listen ... reuseport`, TCP only), the kernel
    # spreading new connections over them; False: one socket all workers accept from.
    reuse_port: bool = True

    # Stalled clients (nginx time syntax: 10s, 1m).
    client_header_timeout: str = "10s"
    client_body_timeout: str = "10s"
    send_timeout: str = "30s"
    keepalive_timeout: str = "15s"

    def features(self) -> set[str]:
        features = {"brotli-static"} if self.brotli_static_module else set()
        if self.signed_media_keys is not None:
            features.add("signed-media")
        tcp = not self.listen.startswith("unix:")
        features.add("reuseport" if self.reuse_port and tcp else "shared-listen")
        return features

    def placeholders(self) -> dict[str, str]:
        return {
            "LISTEN": self.listen,
            "UPSTREAM": self.upstream,
            "STATIC_ROOT": str(self.static_root).rstrip("/"),
            "MEDIA_ROOT": str(self.media_root).rstrip("/"),
            "RUN_DIR": str(self.run_dir).rstrip("/"),
            "INTERNAL_PREFIX": self.internal_prefix,
            "STATIC_URL": self.static_url,
            "REQUEST_BODY_MAX_SIZE": str(self.max_request_body_bytes),
            "UPLOAD_BODY_MAX_SIZE": str(self.max_upload_bytes + MULTIPART_ALLOWANCE),
            "USER_UPLOAD_BODY_MAX_SIZE": str(self.user_upload_max_bytes + MULTIPART_ALLOWANCE),
            "SERVER_NAME": self.server_name,
            "USER": self.user,
            "WORKER_PROCESSES": self.worker_processes,
            "ACCESS_LOG": self.access_log,
            "ERROR_LOG": self.error_log,
            "RESOLVER": self.resolver,
            "MIME_TYPES": str(self.mime_types),
            "CA_CERTIFICATES": str(self.ca_certificates),
            "FORWARDED_PROTO": self.forwarded_proto,
            "CLIENT_HEADER_TIMEOUT": self.client_header_timeout,
            "CLIENT_BODY_TIMEOUT": self.client_body_timeout,
            "SEND_TIMEOUT": self.send_timeout,
            "KEEPALIVE_TIMEOUT": self.keepalive_timeout,
            # Used only on "#if-brotli-static" lines, which are dropped without the module.
            "BROTLI_STATIC_MODULE": str(self.brotli_static_module or BROTLI_STATIC_MODULE),
            # Used only in "#if-signed-media" lines and blocks.
            "NJS_MODULE": str(self.njs_module),
            "SIGNED_MEDIA_SCRIPT": str(self.signed_media_script),
            "SIGNED_MEDIA_KEYS": str(self.signed_media_keys or media_keys.DEFAULT_PATH),
            "MAX_RANGES": str(self.max_ranges),
            "FRAME_OPTIONS": self.frame_options,
            "REFERRER_POLICY": self.referrer_policy,
        }


def render(config: NginxConfig, template: str | None = None) -> str:
    values = config.placeholders()
    for name, value in values.items():
        if not _TOKEN.fullmatch(value):
            raise ValueError(f"{name}={value!r} cannot go into nginx.conf as one plain token.")
    if config.signed_media_keys is not None and not config.njs_module.is_file():
        raise ValueError(
            f"Signed media URLs in delivery mode nginx need njs ({config.njs_module} is missing): "
            "apt-get install libnginx-mod-http-js (scripts/system-deps.sh installs it)."
        )
    text = TEMPLATE.read_text() if template is None else template
    text = _OPTIONAL_BLOCK.sub(lambda block: _optional_block(block, config.features()), text)
    text = _OPTIONAL_LINE.sub(lambda line: _optional(line, config.features()), text)
    unknown = set(_PLACEHOLDER.findall(text)) - values.keys()
    if unknown:
        raise ValueError(f"the template uses unknown placeholders: {', '.join(sorted(unknown))}")
    return _PLACEHOLDER.sub(lambda match: values[match[1]], text)


def _optional_block(block: re.Match[str], features: set[str]) -> str:
    if block[1] not in FEATURES:
        raise ValueError(f"the template uses an unknown feature: #if-{block[1]} begin")
    return block[2] if block[1] in features else ""


def _optional(line: re.Match[str], features: set[str]) -> str:
    if line[2] not in FEATURES:
        raise ValueError(f"the template uses an unknown feature: #if-{line[2]}")
    return line[1] + line[3] if line[2] in features else ""


def from_settings(**overrides: Any) -> NginxConfig:
    """A configuration whose paths and limits are the app's (Django settings must be loaded)."""
    from django.conf import settings
    from django.core.files.storage import default_storage

    from downloads.conf import app_settings
    from downloads.storage import is_s3

    static_url = "/" + settings.STATIC_URL.strip("/") + "/"
    # njs reads local files only: over S3, /m/ goes to the app like any other URL.
    signed_by_nginx = app_settings().delivery == "nginx" and not is_s3(default_storage)
    derived = {
        "static_root": Path(settings.STATIC_ROOT),
        "media_root": Path(settings.MEDIA_ROOT),
        "internal_prefix": app_settings().nginx_prefix,
        "static_url": static_url,
        "max_upload_bytes": app_settings().max_upload_bytes,
        "max_request_body_bytes": app_settings().max_request_body_bytes,
        "user_upload_max_bytes": app_settings().user_upload_max_bytes,
        "signed_media_keys": media_keys.DEFAULT_PATH if signed_by_nginx else None,
        "max_ranges": app_settings().max_ranges,
        "frame_options": settings.X_FRAME_OPTIONS,
        "referrer_policy": _header_list(settings.SECURE_REFERRER_POLICY),
    }
    return NginxConfig(**{**derived, **overrides})


def _header_list(value: str | list[str] | tuple[str, ...] | None) -> str:
    """A setting Django sends as one header value, a string or several joined by commas."""
    if value is None or isinstance(value, str):
        return value or ""
    return ",".join(value)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen", default="80", help="nginx `listen`, e.g. 80 or 127.0.0.1:8080")
    parser.add_argument("--upstream", default="127.0.0.1:8000", help="gunicorn's address")
    parser.add_argument("--server-name", default="_")
    parser.add_argument(
        "--run-dir", type=Path, default=Path("/run/protected-downloads"), help="pid, temp files"
    )
    parser.add_argument("--user", default="www-data", help="worker user (must read MEDIA_ROOT)")
    parser.add_argument("--access-log", default=NginxConfig.access_log)
    parser.add_argument("--error-log", default=NginxConfig.error_log)
    parser.add_argument("--resolver", default=None, help="DNS server (default: the host's)")
    parser.add_argument(
        "--media-keys",
        dest="signed_media_keys",
        type=Path,
        default=None,
        help=f"nginx mode: where to write the signed media keys ({media_keys.DEFAULT_PATH})",
    )
    parser.add_argument(
        "--no-reuseport",
        dest="reuse_port",
        action="store_const",
        const=False,
        help="one listening socket that every nginx worker accepts from (default: one per "
        "worker, `reuseport`; leave it off if another server block already sets it on this port)",
    )
    parser.add_argument(
        "--behind-tls-proxy",
        dest="forwarded_proto",
        action="store_const",
        const="$http_x_forwarded_proto",
        help="TLS ends in a proxy in front of nginx: pass on its X-Forwarded-Proto",
    )

    for name, meaning in (
        ("client_header_timeout", "a request head must arrive whole within this"),
        ("client_body_timeout", "longest pause in a request body"),
        ("send_timeout", "longest time a client may read nothing of a response"),
        ("keepalive_timeout", "an idle kept-alive client connection is closed after this"),
    ):
        default = getattr(NginxConfig, name)
        parser.add_argument(
            "--" + name.replace("_", "-"), default=None, help=f"{meaning} (default: {default})"
        )
    args = parser.parse_args(argv)

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    has_secret = bool(os.environ.get("DJANGO_SECRET_KEY"))
    # Rendering reads paths and limits only; it needs no secret.
    os.environ.setdefault("DJANGO_SECRET_KEY", "rendering-nginx-conf-needs-no-secret")
    import django

    django.setup()
    overrides = {name: value for name, value in vars(args).items() if value is not None}
    config = from_settings(**overrides)
    text = render(config)
    if config.signed_media_keys is not None:
        # Except the media keys, which are derived from the secret key: never the stand-in's.
        if not has_secret:
            parser.error("delivery mode nginx: set DJANGO_SECRET_KEY, the media keys come from it")
        media_keys.write(config.signed_media_keys)
        print(f"Wrote the signed media keys to {config.signed_media_keys}", file=sys.stderr)
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
