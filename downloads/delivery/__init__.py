"""How bytes leave the app, chosen once from settings.DOWNLOADS_DELIVERY.

Every mode is one module with one function, `deliver(request, stored, *, inline)`, that turns an
already-authorised request into a response. No mode looks at permissions; the view never builds
headers itself.
"""

from functools import cache
from importlib import import_module
from typing import Any, Protocol

from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest
from django.http.response import HttpResponseBase

from downloads.conf import app_settings
from downloads.models import StoredFile

MODES = {
    "django": "downloads.delivery.django",
    "nginx": "downloads.delivery.nginx",
    "s3": "downloads.delivery.s3",
}


class Deliver(Protocol):
    def __call__(
        self, request: HttpRequest, stored: StoredFile, *, inline: bool
    ) -> HttpResponseBase: ...


@cache
def get_delivery() -> Deliver:
    mode = app_settings().delivery
    if mode not in MODES:
        raise ImproperlyConfigured(
            f"DOWNLOADS_DELIVERY={mode!r} is not one of {', '.join(sorted(MODES))}."
        )
    deliver: Deliver = import_module(MODES[mode]).deliver
    return deliver


@receiver(setting_changed)
def _forget_delivery(setting: str, **kwargs: Any) -> None:
    if setting.startswith("DOWNLOADS_"):
        get_delivery.cache_clear()
