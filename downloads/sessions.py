"""Database sessions whose one SELECT is compiled once (downloads/prepared.py).

`SESSION_ENGINE = "downloads.sessions"`: the same table, rows and revocation as Django's `db`
engine. Logging out deletes the row, and every worker on every host sees that at once, because
each request still reads the session from the database. Only the building of that SELECT goes:
profiled under `make bench`, Django's ORM spent longer building it than the database spent
answering it. Measured against Django's own `db` engine before keeping it (README, Performance:
sessions and users). The async load (`aload`, used by `await request.auser()`) runs the same code.

Kept on purpose: a query per request. `signed_cookies` would cost none but cannot revoke a session
(a copied cookie stays valid until it expires, logout or not); `cached_db` with a per-process
cache would let a session logged out on one worker live on in another's cache. Only a cache
shared by every worker (Redis, Memcached) would make `cached_db` both fast and safe, and this app
needs nothing but its database and its storage.
"""

from datetime import UTC, datetime
from functools import cache
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.sessions.backends import db
from django.contrib.sessions.base_session import AbstractBaseSession
from django.db.models import QuerySet
from django.utils import timezone

from downloads.prepared import PreparedQuery


class SessionStore(db.SessionStore):
    def _get_session_from_db(self) -> AbstractBaseSession | None:
        session = _live_session(self.model).first(
            None, session_key=self.session_key, now=timezone.now()
        )
        if session is None:
            self._session_key = None
        return session

    async def _aget_session_from_db(self) -> AbstractBaseSession | None:
        # The same compiled SELECT as the sync path, in the thread Django's async ORM uses.
        return await sync_to_async(self._get_session_from_db)()


@cache
def _live_session(model: type[AbstractBaseSession]) -> PreparedQuery[Any]:
    def live(variant: None, *, session_key: str, now: datetime) -> QuerySet[Any]:
        return model.objects.filter(session_key=session_key, expire_date__gt=now)

    return PreparedQuery(
        model,
        live,
        fields={"session_key": model._meta.pk, "now": model._meta.get_field("expire_date")},
        stand_ins=(
            {"session_key": "a" * 32, "now": datetime(2001, 1, 1, tzinfo=UTC)},
            {"session_key": "b" * 32, "now": datetime(2002, 2, 2, tzinfo=UTC)},
        ),
    )
