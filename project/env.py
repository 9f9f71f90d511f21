"""Typed readers for settings that come from environment variables.

Each reader takes the variable's name and a default, so that every setting is read once, in
settings.py (the app's DOWNLOADS_* defaults come from downloads/conf.py) or in
deploy/gunicorn.conf.py; a value that cannot be read fails at start-up with ImproperlyConfigured,
naming the variable.
"""

import math
import os
from collections.abc import Iterable
from typing import TypeVar

from django.core.exceptions import ImproperlyConfigured

_Number = TypeVar("_Number", int, float)

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use 1/0, true/false, yes/no).")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number.") from None
    return _at_least(name, raw, value, minimum)


def env_float(name: str, default: float, *, minimum: float | None = None) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a number.") from None
    if not math.isfinite(value):
        raise ImproperlyConfigured(f"{name}={raw!r} is not a finite number.")
    return _at_least(name, raw, value, minimum)


def env_choice(name: str, default: str, choices: Iterable[str]) -> str:
    """One of `choices`, compared without regard to case (and returned as the choice is spelt)."""
    known = {choice.lower(): choice for choice in choices}
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return known[raw.strip().lower()]
    except KeyError:
        raise ImproperlyConfigured(
            f"{name}={raw!r} is not one of: {', '.join(known.values())}."
        ) from None


def _at_least(name: str, raw: str, value: _Number, minimum: _Number | None) -> _Number:
    """Servers (gunicorn) have no system checks: a limit's floor is checked as it is read."""
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={raw!r} is below its minimum, {minimum}.")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]
