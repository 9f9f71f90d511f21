"""Give pooled database connections back before a response's body is sent.

Django returns a request's connection when the response is closed, after the last byte: a thread
sending a large file to a slow client would keep a pooled connection it no longer uses, and a few
dozen such clients would leave every other request waiting for one (project/database.py). By the
time the outermost middleware has the response, the view and every middleware (session saving
included) have done their queries; a body that still needs the database (a streamed CSV export)
takes a connection again when it runs its first query.

Outermost in MIDDLEWARE. Not used at all without a pool (SQLite, DATABASE_POOL_SIZE=0), where
closing would throw away a persistent connection.
"""

from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.db import connections
from django.http import HttpRequest, HttpResponseBase


def pooled_aliases() -> list[str]:
    return [
        alias
        for alias, database in settings.DATABASES.items()
        if (database.get("OPTIONS") or {}).get("pool")
    ]


class ReleasePooledConnectionsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response
        self.aliases = pooled_aliases()
        if not self.aliases:
            raise MiddlewareNotUsed

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        for alias in self.aliases:
            connection = connections[alias]
            # Inside a transaction (ATOMIC_REQUESTS, a test's), closing would end it.
            if connection.connection is not None and not connection.in_atomic_block:
                connection.close()
        return response
