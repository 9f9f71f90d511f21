"""How bytes leave the app, chosen once from settings.DOWNLOADS_DELIVERY.

A download is decided once (decision.py: 304/412/416, the ranges, the headers); then the mode, one
module with one function, `send(request, decision)`, moves the bytes and returns the response
together with what it sends (sending.py). No mode looks at permissions or decides anything
again; the view never builds headers itself.
"""

from collections.abc import Callable
from functools import cache
from importlib import import_module
from typing import Any, Protocol

from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest
from django.http.response import HttpResponseBase

from downloads.conf import app_settings
from downloads.delivery.decision import Decision, decide, settled_answer
from downloads.delivery.sending import Delivery
from downloads.faults import STORAGE_READ_ERRORS
from downloads.models import StoredFile

# DOWNLOADS_DELIVERY's values (the setting keeps its name "django" for the app's own sending).
MODES = {
    "django": "downloads.delivery.app",
    "nginx": "downloads.delivery.nginx",
    "s3": "downloads.delivery.s3",
}


class Mode(Protocol):
    def __call__(self, request: HttpRequest, decision: Decision) -> Delivery: ...


# What a view answers when storage cannot give the bytes (missing, or down): each entry point
# has its own page and its own bookkeeping (a share link gives its download back).
StorageFailure = Callable[[BaseException], HttpResponseBase]


def deliver(request: HttpRequest, stored: StoredFile, on_storage_error: StorageFailure) -> Delivery:
    """The answer to an already-authorised download, and what it sends."""
    return send_decided(request, decide(request, stored), on_storage_error)


def send_decided(
    request: HttpRequest, decision: Decision, on_storage_error: StorageFailure
) -> Delivery:
    """The answer to a decision: settled without the bytes (304, 412, 416), or by the mode."""
    if decision.settled:
        return settled_answer(decision)
    try:
        return get_mode()(request, decision)
    except STORAGE_READ_ERRORS as error:
        return Delivery.failed(on_storage_error(error))


@cache
def get_mode() -> Mode:
    mode = app_settings().delivery
    if mode not in MODES:
        raise ImproperlyConfigured(
            f"DOWNLOADS_DELIVERY={mode!r} is not one of {', '.join(sorted(MODES))}."
        )
    send: Mode = import_module(MODES[mode]).send
    return send


@receiver(setting_changed)
def _forget_mode(setting: str, **kwargs: Any) -> None:
    if setting.startswith("DOWNLOADS_"):
        get_mode.cache_clear()
