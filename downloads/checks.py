"""Configuration mistakes fail at start (`manage.py check`), not on some later request."""

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, register
from django.core.checks import Warning as CheckWarning

from downloads import conf


@register()
def app_settings_are_valid(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    """Every DOWNLOADS_* value, and how they fit together: the rules are in downloads/conf.py."""
    problems = conf.value_problems() or conf.consistency_problems()
    return [
        Error(problem.message, hint=problem.hint or None, id=problem.check_id)
        for problem in problems
    ]


# (setting, smallest sane value, check id): the project's settings the app relies on.
_LOWER_BOUNDS = [
    ("SECURE_HSTS_SECONDS", 0, "downloads.E023"),
    # DOWNLOADS_LOGIN_FAILURE_LIMIT: 0 would lock everyone out at their first mistake.
    ("AXES_FAILURE_LIMIT", 1, "downloads.E031"),
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


@register()
def delivery_fits_storage(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    from django.core.files.storage import FileSystemStorage, storages

    from downloads.storage import is_s3

    if conf.value_problems():
        return []  # app_settings_are_valid says what to fix first
    errors: list[CheckMessage] = []
    mode = conf.app_settings().delivery
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


@register()
def cloudfront_key_is_usable(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    if conf.value_problems():
        return []
    path = conf.app_settings().cloudfront_private_key_file
    if not path:
        return []
    from downloads.mediaurls import check_private_key

    problem = check_private_key(path)
    if problem is None:
        return []
    return [
        Error(
            f"DOWNLOADS_CLOUDFRONT_PRIVATE_KEY_FILE={path!r} is not a readable RSA private key "
            f"(PEM, no password): {problem}",
            id="downloads.E113",
        )
    ]
