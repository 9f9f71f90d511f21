"""The app's own settings (DOWNLOADS_*): each one's default, its type and the values it may take.

The rest of the app reads them through `app_settings()`, a frozen, typed view
(`app_settings().max_ranges`), never as `settings.DOWNLOADS_MAX_RANGES`: one module says what a
setting is when absent and which values are mistakes. project/settings.py fills them from the
environment (project/env.py) with the defaults below; a project of its own may set them in Python
or leave them out.

A value that cannot work (wrong type, out of range) gives the same words and check id wherever it
is found:
- `manage.py check`: downloads/checks.py reports each problem as an Error;
- at start, in every process (DownloadsConfig.ready), since gunicorn runs no system checks:
  ImproperlyConfigured;
- on the first read after a DOWNLOADS_* setting changed (override_settings, the tests' `settings`
  fixture): the view is rebuilt then, and refuses to be built from a bad value. (`del settings.X`
  under override_settings sends Django's setting_changed to nobody: call
  `app_settings.cache_clear()` after it.)
Settings that are each fine but do not fit together (`consistency_problems`) are only reported
by `manage.py check`, as before: tests narrow one limit on purpose.
"""

import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from functools import cache
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver

PREFIX = "DOWNLOADS_"
# The keys of downloads.delivery.MODES (which imports models, so not from here: project/settings.py
# imports this module); tests/test_conf.py keeps the two lists equal.
DELIVERY_MODES = ("django", "nginx", "s3")


@dataclass(frozen=True)
class AppSettings:
    """DOWNLOADS_<FIELD NAME IN CAPITALS>, with its default (README, Configuration)."""

    # How bytes leave: "django" (this process sends them), "nginx" (X-Accel-Redirect), "s3".
    delivery: str = "django"
    # nginx mode: the prefix of the internal locations in deploy/nginx.conf.template.
    nginx_prefix: str = "/_protected/"
    # nginx mode: bytes per second per download (X-Accel-Limit-Rate); 0: no limit.
    nginx_rate_limit: int = 0
    # s3 and nginx-over-S3 modes: a HEAD before handing a download over (downloads/faults.py).
    s3_check_object: bool = True
    # More range specs than this in one Range header: the whole file instead (200).
    max_ranges: int = 16
    max_upload_bytes: int = 2 * 1024**3
    # Any other request body is refused past this, unread (downloads/bodylimit.py).
    max_request_body_bytes: int = 1024 * 1024
    page_size: int = 25
    # Reverse proxies in front that append to X-Forwarded-For (0: trust only REMOTE_ADDR).
    trusted_proxies: int = 0
    zip_max_files: int = 1000
    zip_max_bytes: int = 10 * 1024**3
    # Compressible zip members are deflated while their total stays at most this; 0: all stored.
    zip_deflate_max_bytes: int = 64 * 1024**2
    # The download log's writer (downloads/logwriter.py, logstatus.py).
    log_submit_timeout_ms: int = 100
    log_retry_seconds: int = 30
    log_status_dir: str = field(
        default_factory=lambda: os.path.join(tempfile.gettempdir(), "protected-downloads-log")
    )
    # Retention (`manage.py prune`): log rows older than this many days are archived and
    # deleted (0 keeps every row); grants expired longer ago than the grace period are removed.
    log_retention_days: int = 365
    grant_grace_days: int = 30
    # API tokens that expired or were revoked longer ago than this are removed by prune.
    token_grace_days: int = 30
    # Uploads by users from My files (downloads/useruploads.py): the largest file, and the most
    # bytes one user may own in all (0: no quota).
    user_upload_max_bytes: int = 256 * 1024**2
    user_quota_bytes: int = 0
    # Share links (downloads/sharelinks.py): a new link's expiry, the longest allowed, how long
    # after its last counted download a used-up link still answers ranges that resume it, how
    # long prune keeps a link past its end, and the lockout for guessing links.
    share_link_default_days: int = 7
    share_link_max_days: int = 90
    share_link_resume_hours: int = 24
    share_link_grace_days: int = 30
    share_link_failure_limit: int = 20
    share_link_cooloff_minutes: int = 15
    # Signed media URLs (downloads/mediaurls.py): how long a URL a page embeds for a file shown
    # inline (an image, a video) keeps working. Short: a revoked grant does not stop it.
    signed_media_seconds: int = 300
    # s3 mode behind CloudFront (optional): the distribution's base URL, the id of the public key
    # it trusts, and the file holding the matching RSA private key. All empty: presigned S3 URLs.
    cloudfront_url: str = ""
    cloudfront_key_id: str = ""
    cloudfront_private_key_file: str = ""


DEFAULTS = AppSettings()


def setting_name(field_name: str) -> str:
    return PREFIX + field_name.upper()


@dataclass(frozen=True)
class Problem:
    """A setting's value that is a mistake, in the words of a system check."""

    setting: str
    message: str
    check_id: str
    hint: str = ""

    def __str__(self) -> str:
        hint = f" {self.hint}" if self.hint else ""
        return f"{self.message}{hint} ({self.check_id})"


def _anything(value: Any) -> str | None:
    return None


@dataclass(frozen=True)
class _Rule:
    check_id: str
    # What is wrong with a value of the right type ("must be at least 1"), or None.
    complaint: Callable[[Any], str | None] = _anything
    hint: str = ""


def _at_least(floor: int, meaning: str = "") -> Callable[[Any], str | None]:
    words = f"must be at least {floor}{meaning}."
    return lambda value: None if value >= floor else words


# Segments nginx would not normalise away: a "." or ".." segment would move the prefix out of its
# internal location.
_NGINX_PREFIX = re.compile(r"/(?:(?!\.\.?/)[A-Za-z0-9._~-]+/)+")

# A signed media URL lives at most a day: past that, "revoked" would mean little (README, Signed
# media URLs).
MAX_SIGNED_MEDIA_SECONDS = 24 * 3600
_CLOUDFRONT_URL = re.compile(r"https://[A-Za-z0-9.-]+(?::[0-9]{1,5})?")

_RULES: dict[str, _Rule] = {
    "delivery": _Rule(
        "downloads.E001",
        lambda value: None if value in DELIVERY_MODES else "is not a delivery mode.",
        hint=f"Use one of: {', '.join(DELIVERY_MODES)}.",
    ),
    "max_ranges": _Rule("downloads.E002", _at_least(1)),
    "max_upload_bytes": _Rule("downloads.E003", _at_least(1)),
    "nginx_prefix": _Rule(
        "downloads.E012",
        lambda value: (
            None
            if _NGINX_PREFIX.fullmatch(value)
            else "is not a path that starts and ends with '/', with no '.' or '..' segment."
        ),
        hint="Use the prefix of the internal locations in the nginx configuration, "
        "e.g. /_protected/.",
    ),
    "nginx_rate_limit": _Rule("downloads.E013", _at_least(0, " (0: no limit)")),
    "zip_max_files": _Rule("downloads.E020", _at_least(1)),
    "zip_max_bytes": _Rule("downloads.E021", _at_least(1)),
    "zip_deflate_max_bytes": _Rule("downloads.E022", _at_least(0, " (0: always stored)")),
    "log_submit_timeout_ms": _Rule("downloads.E040", _at_least(0)),
    "log_retry_seconds": _Rule("downloads.E041", _at_least(0)),
    "max_request_body_bytes": _Rule("downloads.E060", _at_least(1)),
    "page_size": _Rule("downloads.E061", _at_least(1)),
    "trusted_proxies": _Rule("downloads.E062", _at_least(0, " (0: no proxy)")),
    "s3_check_object": _Rule("downloads.E063"),
    "log_status_dir": _Rule(
        "downloads.E064",
        lambda value: None if value else "must name a directory.",
    ),
    "log_retention_days": _Rule("downloads.E070", _at_least(0, " (0: keep every row)")),
    "grant_grace_days": _Rule("downloads.E071", _at_least(0)),
    "token_grace_days": _Rule("downloads.E082", _at_least(0)),
    "user_upload_max_bytes": _Rule("downloads.E100", _at_least(1)),
    "user_quota_bytes": _Rule("downloads.E101", _at_least(0, " (0: no quota)")),
    "share_link_default_days": _Rule("downloads.E090", _at_least(1)),
    "share_link_max_days": _Rule("downloads.E091", _at_least(1)),
    "share_link_resume_hours": _Rule("downloads.E092", _at_least(0, " (0: no resuming)")),
    "share_link_grace_days": _Rule("downloads.E093", _at_least(0)),
    "share_link_failure_limit": _Rule("downloads.E094", _at_least(1)),
    "share_link_cooloff_minutes": _Rule("downloads.E095", _at_least(1)),
    "signed_media_seconds": _Rule(
        "downloads.E110",
        lambda value: (
            None
            if 1 <= value <= MAX_SIGNED_MEDIA_SECONDS
            else f"must be between 1 and {MAX_SIGNED_MEDIA_SECONDS} (a day)."
        ),
        hint="A few minutes: an embedded URL keeps working until it expires, even after its "
        "grant is revoked.",
    ),
    "cloudfront_url": _Rule(
        "downloads.E111",
        lambda value: (
            None
            if not value or _CLOUDFRONT_URL.fullmatch(value)
            else "is not an https:// URL with a host and no path, query or trailing '/'."
        ),
        hint="e.g. https://d111111abcdef8.cloudfront.net",
    ),
    "cloudfront_key_id": _Rule("downloads.E112"),
    "cloudfront_private_key_file": _Rule("downloads.E113"),
}

_TYPE_WORDS = {int: "a whole number", bool: "True or False", str: "a string"}


def _is_of_type(value: Any, kind: type) -> bool:
    # True is an int to Python, never a count or a limit to a deployer.
    return isinstance(value, kind) and (kind is bool or not isinstance(value, bool))


def _judge(name: str, value: Any, kind: type, rule: _Rule) -> Problem | None:
    if not _is_of_type(value, kind):
        return Problem(name, f"{name}={value!r} is not {_TYPE_WORDS[kind]}.", rule.check_id)
    complaint = rule.complaint(value)
    if complaint is None:
        return None
    return Problem(name, f"{name}={value!r} {complaint}", rule.check_id, rule.hint)


def _read() -> tuple[dict[str, Any], list[Problem]]:
    """Every field's value from django.conf.settings (its default when unset), and the problems."""
    values: dict[str, Any] = {}
    problems: list[Problem] = []
    for spec in fields(AppSettings):
        name = setting_name(spec.name)
        value = getattr(settings, name, getattr(DEFAULTS, spec.name))
        kind = spec.type
        assert isinstance(kind, type)  # every field is annotated with a plain class
        problem = _judge(name, value, kind, _RULES[spec.name])
        if problem is None:
            values[spec.name] = value
        else:
            problems.append(problem)
    return values, problems


def value_problems() -> list[Problem]:
    """Settings whose own value is a mistake, read afresh."""
    return _read()[1]


@cache
def app_settings() -> AppSettings:
    """The app's settings as they are now; ImproperlyConfigured if any value is a mistake."""
    values, problems = _read()
    if problems:
        raise ImproperlyConfigured("\n".join(str(problem) for problem in problems))
    return AppSettings(**values)


@receiver(setting_changed)
def _reread(*, setting: str, **kwargs: Any) -> None:
    if setting.startswith(PREFIX):
        app_settings.cache_clear()


# One ticked file in the zip form is `file=<36-character id>&`; the CSRF token, `all`, `q` and the
# framing fit in the rest.
ZIP_FORM_BYTES_PER_FILE = len("file=") + 36 + len("&")
ZIP_FORM_OVERHEAD = 4096


def consistency_problems() -> list[Problem]:
    """Settings that are each fine but contradict one another (only once every value is fine)."""
    values, problems = _read()
    if problems:
        return []
    current = AppSettings(**values)
    found: list[Problem] = []
    needed = current.zip_max_files * ZIP_FORM_BYTES_PER_FILE + ZIP_FORM_OVERHEAD
    if current.max_request_body_bytes < needed:
        found.append(
            Problem(
                setting_name("max_request_body_bytes"),
                f"DOWNLOADS_MAX_REQUEST_BODY_BYTES={current.max_request_body_bytes} is too small "
                f"for a zip of DOWNLOADS_ZIP_MAX_FILES={current.zip_max_files} ticked files: the "
                "form would be refused with a 413.",
                "downloads.E030",
                hint=f"Set it to at least {needed}.",
            )
        )
    if current.share_link_default_days > current.share_link_max_days:
        found.append(
            Problem(
                setting_name("share_link_default_days"),
                f"DOWNLOADS_SHARE_LINK_DEFAULT_DAYS={current.share_link_default_days} is longer "
                f"than DOWNLOADS_SHARE_LINK_MAX_DAYS={current.share_link_max_days}: the share "
                "form's default would be refused.",
                "downloads.E096",
            )
        )
    cloudfront = {
        setting_name(name): getattr(current, name)
        for name in ("cloudfront_url", "cloudfront_key_id", "cloudfront_private_key_file")
    }
    if any(cloudfront.values()) and not all(cloudfront.values()):
        missing = ", ".join(name for name, value in cloudfront.items() if not value)
        found.append(
            Problem(
                setting_name("cloudfront_url"),
                f"CloudFront signed URLs need all three CloudFront settings; {missing} not set.",
                "downloads.E112",
            )
        )
    elif all(cloudfront.values()) and current.delivery != "s3":
        found.append(
            Problem(
                setting_name("cloudfront_url"),
                f"CloudFront signed URLs serve the bucket: DOWNLOADS_DELIVERY={current.delivery!r} "
                "would never use them.",
                "downloads.E114",
                hint="Set DOWNLOADS_DELIVERY=s3, or leave the CloudFront settings empty.",
            )
        )
    return found
