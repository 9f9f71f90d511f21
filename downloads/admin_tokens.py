"""The admin's view of every API token: list, filter, search, revoke. Never the secret (it is not
stored), never a way to make one for someone else (a token is its owner's to make and keep)."""

from datetime import datetime
from typing import Any

from django.contrib import admin, messages
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from downloads.tokens import ApiToken


class TokenStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("active", "Active"), ("expired", "Expired"), ("revoked", "Revoked")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> QuerySet[ApiToken]:
        now = timezone.now()
        live = Q(expires_at__isnull=True) | Q(expires_at__gt=now)
        if self.value() == "active":
            return queryset.filter(live, revoked_at__isnull=True)
        if self.value() == "expired":
            return queryset.filter(revoked_at__isnull=True, expires_at__lte=now)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "hint", "created", "last_used", "expires_at", "status_shown"]
    list_filter = [TokenStatusFilter, "created", "last_used"]
    search_fields = ["name", "user__username", "hint"]
    list_select_related = ["user"]
    # Nothing is edited on the form: revoking is the action below, and a token's history
    # (created, used, revoked) stays as it was.
    fields = ("user", "name", "hint", "created", "last_used", "expires_at", "revoked_at")
    readonly_fields = fields
    actions = ["revoke_selected"]

    @admin.display(description="status")
    def status_shown(self, token: ApiToken) -> str:
        return token.status()

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Revoke the selected tokens", permissions=["change"])
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        now: datetime = timezone.now()
        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=now)
        self.message_user(request, f"Revoked {count} token(s).", messages.SUCCESS)
