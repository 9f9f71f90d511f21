"""Configuration mistakes fail at start (`manage.py check`), not on some later request."""

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, register


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


@register()
def limits_are_sane(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    if settings.DOWNLOADS_MAX_RANGES < 1:
        errors.append(Error("DOWNLOADS_MAX_RANGES must be at least 1.", id="downloads.E002"))
    if settings.DOWNLOADS_MAX_UPLOAD_BYTES < 1:
        errors.append(Error("DOWNLOADS_MAX_UPLOAD_BYTES must be positive.", id="downloads.E003"))
    return errors
