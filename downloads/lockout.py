"""The page a locked-out login gets (django-axes' AXES_LOCKOUT_CALLABLE): 429, and when to retry."""

import math
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: Any = None
) -> HttpResponse:
    # The cool-off runs from the failure that locked (AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT
    # is off), so a full cool-off from now is the latest the lockout can last.
    cooloff_seconds = int(settings.AXES_COOLOFF_TIME.total_seconds())
    response = render(
        request,
        "registration/locked_out.html",
        {
            "cooloff_minutes": math.ceil(cooloff_seconds / 60),
            "failure_limit": settings.AXES_FAILURE_LIMIT,
        },
        status=429,
    )
    response["Retry-After"] = str(cooloff_seconds)
    return response
