"""The answer when the database cannot be used: 503 and a short page, not a bare 500.

PostgreSQL down or restarting, unreachable within DATABASE_CONNECT_TIMEOUT, every pooled
connection busy past DATABASE_POOL_TIMEOUT, a statement cancelled by its timeout, SQLite locked:
Django raises OperationalError wherever the first query happens (loading the session in a
middleware, the access check in a view), so the answer is given where every uncaught exception
ends, Django's `handler500` (project/urls.py). Django has already logged the error, with its
traceback, at ERROR ("Service Unavailable: /path").

The page is rendered without the request: the context processors would ask the database for
the user again.
"""

import sys

from django.db import OperationalError
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.views import defaults

from downloads.faults import RETRY_AFTER_SECONDS


def server_error(request: HttpRequest) -> HttpResponse:
    if not isinstance(sys.exc_info()[1], OperationalError):
        return defaults.server_error(request)
    response = HttpResponse(render_to_string("503.html"), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "private, no-store"
    return response
