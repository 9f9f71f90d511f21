"""How bytes leave the app, chosen once from settings.DOWNLOADS_DELIVERY.

A download is decided once (decision.py: 304/412/416, the ranges, the headers); then the mode, one
module with one function, `send(request, decision)`, moves the bytes and returns the response
together with what it sends (sending.py). No mode looks at permissions or decides anything
again; the view never builds headers itself.
"""

from functools import cache
from importlib import import_module
from typing import Any, Protocol

from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest

from downloads.conf import app_settings
from downloads.delivery.decision import Decision, decide, settled_answer
from downloads.delivery.sending import Delivery
from downloads.models import StoredFile

# DOWNLOADS_DELIVERY's values (the setting keeps its name "django" for the app's own sending).
MODES = {
    "django": "downloads.delivery.app",
    "nginx": "downloads.delivery.nginx",
    "s3": "downloads.delivery.s3",
}


class Mode(Protocol):
    def __call__(self, request: HttpRequest, decision: Decision) -> Delivery: ...


def deliver(request: HttpRequest, stored: StoredFile) -> Delivery:
    """The answer to an already-authorised download, and what it sends."""
    decision = decide(request, stored)
    if decision.settled:
        return settled_answer(decision)
    return get_mode()(request, decision)


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
