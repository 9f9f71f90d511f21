"""Configuration mistakes fail at start (`manage.py check`), not on some later request."""

import re
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, register
from django.core.checks import Warning as CheckWarning


@register()
def delivery_mode_is_known(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    from downloads.delivery import MODES

    mode = settings.DOWNLOADS_DELIVERY
    if mode in MODES:
        return []
    return [
        Error(
            f"DOWNLOADS_DELIVERY={mode!r} is not a delivery mode.",
            hint=f"Use one of: {', '.join(sorted(MODES))}.",
            id="downloads.E001",
        )
    ]


# (setting, smallest sane value, check id): limits that mean nothing below a floor.
_LOWER_BOUNDS = [
    ("DOWNLOADS_MAX_RANGES", 1, "downloads.E002"),
    ("DOWNLOADS_MAX_UPLOAD_BYTES", 1, "downloads.E003"),
    ("DOWNLOADS_ZIP_MAX_FILES", 1, "downloads.E020"),
    ("DOWNLOADS_ZIP_MAX_BYTES", 1, "downloads.E021"),
    ("DOWNLOADS_ZIP_DEFLATE_MAX_BYTES", 0, "downloads.E022"),
    ("SECURE_HSTS_SECONDS", 0, "downloads.E023"),
    # DOWNLOADS_LOGIN_FAILURE_LIMIT: 0 would lock everyone out at their first mistake.
    ("AXES_FAILURE_LIMIT", 1, "downloads.E031"),
    ("DOWNLOADS_LOG_SUBMIT_TIMEOUT_MS", 0, "downloads.E040"),
    ("DOWNLOADS_LOG_RETRY_SECONDS", 0, "downloads.E041"),
    # 0 keeps every download log row; prune cannot keep rows a negative number of days.
    ("DOWNLOADS_LOG_RETENTION_DAYS", 0, "downloads.E070"),
    ("DOWNLOADS_GRANT_GRACE_DAYS", 0, "downloads.E071"),
]


@register()
def limits_are_sane(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    return [
        Error(f"{name} must be at least {floor}.", id=check_id)
        for name, floor, check_id in _LOWER_BOUNDS
        if getattr(settings, name) < floor
    ]


@register()
def ssl_redirect_sees_the_proxy(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    # gunicorn speaks plain HTTP (deploy/gunicorn.conf.py): TLS always ends in a proxy in front,
    # so without the proxy's word every request looks insecure and is redirected again, forever.
    if settings.SECURE_SSL_REDIRECT and not getattr(settings, "SECURE_PROXY_SSL_HEADER", None):
        return [
            CheckWarning(
                "DJANGO_SSL_REDIRECT=1 without DJANGO_BEHIND_TLS_PROXY=1: behind the TLS proxy "
                "every request would be redirected to https again, in a loop.",
                hint="Set DJANGO_BEHIND_TLS_PROXY=1 and have the proxy send "
                "X-Forwarded-Proto (docs/deploy.md, TLS).",
                id="downloads.W030",
            )
        ]
    return []


# SigV4 refuses presigned URLs valid for longer than seven days.
_MAX_PRESIGNED_SECONDS = 7 * 24 * 3600
_NGINX_PREFIX = re.compile(r"/(?:[A-Za-z0-9._~-]+/)+")


@register()
def delivery_fits_storage(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    from django.core.files.storage import FileSystemStorage, storages

    from downloads.storage import is_s3

    errors: list[CheckMessage] = []
    mode = settings.DOWNLOADS_DELIVERY
    storage = storages["default"]
    if mode == "s3" and not is_s3(storage):
        errors.append(
            Error(
                "DOWNLOADS_DELIVERY=s3 needs the S3 storage.",
                hint="Set AWS_STORAGE_BUCKET_NAME (and AWS_S3_ENDPOINT_URL for a bucket outside "
                "AWS), or choose the django or nginx delivery mode.",
                id="downloads.E010",
            )
        )
    if mode == "nginx" and not (is_s3(storage) or isinstance(storage, FileSystemStorage)):
        errors.append(
            Error(
                f"DOWNLOADS_DELIVERY=nginx serves local files or S3 objects, not files of "
                f"{type(storage).__name__}.",
                id="downloads.E011",
            )
        )
    if not _NGINX_PREFIX.fullmatch(settings.DOWNLOADS_NGINX_PREFIX):
        errors.append(
            Error(
                f"DOWNLOADS_NGINX_PREFIX={settings.DOWNLOADS_NGINX_PREFIX!r} is not a path "
                "that starts and ends with '/'.",
                hint="Use the prefix of the internal locations in the nginx configuration, "
                "e.g. /_protected/.",
                id="downloads.E012",
            )
        )
    if settings.DOWNLOADS_NGINX_RATE_LIMIT < 0:
        errors.append(
            Error("DOWNLOADS_NGINX_RATE_LIMIT must be 0 (no limit) or more.", id="downloads.E013")
        )
    if is_s3(storage):
        errors.extend(_s3_storage_errors(storage))
    return errors


def _s3_storage_errors(storage: Any) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    if not storage.bucket_name:
        errors.append(
            Error(
                "The S3 storage has no bucket.",
                hint="Set AWS_STORAGE_BUCKET_NAME.",
                id="downloads.E014",
            )
        )
    if storage.client_config.signature_version != "s3v4":
        errors.append(
            Error(
                "The S3 storage must sign with SigV4 (signature_version='s3v4').",
                id="downloads.E015",
            )
        )
    if not 1 <= storage.querystring_expire <= _MAX_PRESIGNED_SECONDS:
        errors.append(
            Error(
                f"AWS_QUERYSTRING_EXPIRE={storage.querystring_expire} is not between 1 second "
                "and 7 days.",
                id="downloads.E016",
            )
        )
    return errors


# One ticked file in the zip form is `file=<36-character id>&`; the CSRF token, `all`, `q` and
# the framing fit in the rest.
_ZIP_FORM_BYTES_PER_FILE = len("file=") + 36 + len("&")
_ZIP_FORM_OVERHEAD = 4096


@register()
def request_body_limit_fits_the_zip_form(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    needed = settings.DOWNLOADS_ZIP_MAX_FILES * _ZIP_FORM_BYTES_PER_FILE + _ZIP_FORM_OVERHEAD
    limit = settings.DOWNLOADS_MAX_REQUEST_BODY_BYTES
    if limit >= needed:
        return []
    return [
        Error(
            f"DOWNLOADS_MAX_REQUEST_BODY_BYTES={limit} is too "
            f"small for a zip of DOWNLOADS_ZIP_MAX_FILES={settings.DOWNLOADS_ZIP_MAX_FILES} ticked "
            "files: the form would be refused with a 413.",
            hint=f"Set it to at least {needed}.",
            id="downloads.E030",
        )
    ]


@register()
def login_cooloff_is_a_minute_or_more(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    if settings.AXES_COOLOFF_TIME.total_seconds() >= 60:
        return []
    return [
        Error(
            "AXES_COOLOFF_TIME (DOWNLOADS_LOGIN_COOLOFF_MINUTES) must be at least 1 minute.",
            id="downloads.E032",
        )
    ]
