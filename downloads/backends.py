"""Django's ModelBackend, with the per-request user lookup compiled once (downloads/prepared.py).

Everything else is Django's: passwords, `is_active`, permissions. Each request still reads the
user from the database, so a deactivated user or a changed password (the session hash) takes
effect on the next request. `aget_user` (`await request.auser()`) runs the same code.
"""

from functools import cache
from typing import TYPE_CHECKING, Any

from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend as DjangoModelBackend
from django.db.models import QuerySet

from downloads.prepared import PreparedQuery

if TYPE_CHECKING:
    from django.contrib.auth.models import User


class ModelBackend(DjangoModelBackend):
    def get_user(self, user_id: Any) -> "User | None":
        user = _user_by_id().first(None, user_id=user_id)
        return user if user is not None and self.user_can_authenticate(user) else None

    async def aget_user(self, user_id: Any) -> "User | None":
        # The same compiled SELECT as the sync path, in the thread Django's async ORM uses.
        return await sync_to_async(self.get_user)(user_id)


def _by_id(variant: None, *, user_id: Any) -> QuerySet[Any]:
    return get_user_model()._default_manager.filter(pk=user_id)


@cache
def _user_by_id() -> PreparedQuery[Any]:
    model = get_user_model()
    return PreparedQuery(
        model,
        _by_id,
        fields={"user_id": model._meta.pk},
        stand_ins=({"user_id": 1}, {"user_id": 2}),
    )
