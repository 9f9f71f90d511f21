"""Share links in the admin: every link, filtered by state, searched by note, creator or file,
and revoked one at a time or many at once. Links are made from the file page only (the token is
shown once there); the admin never sees a token, only what the link does."""

from datetime import datetime
from typing import Any

from django.contrib import admin, messages
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from downloads.access import downloadable_files
from downloads.models import ShareLink, StoredFile


def _state_conditions(now: datetime) -> dict[str, Q]:
    not_revoked = Q(revoked_at__isnull=True)
    not_expired = Q(expires_at__gt=now)
    used_up = Q(max_downloads__isnull=False, download_count__gte=F("max_downloads"))
    return {
        "live": not_revoked & not_expired & ~used_up,
        "expired": not_revoked & ~not_expired,
        "revoked": ~not_revoked,
        "used up": not_revoked & not_expired & used_up,
    }


class ShareLinkStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(name, name) for name in _state_conditions(timezone.now())]

    def queryset(self, request: HttpRequest, queryset: QuerySet[ShareLink]) -> QuerySet[ShareLink]:
        condition = _state_conditions(timezone.now()).get(self.value() or "")
        return queryset if condition is None else queryset.filter(condition)


@admin.register(ShareLink)
class ShareLinkAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "note",
        "created_by",
        "file_names",
        "created",
        "expires_at",
        "uses",
        "last_used_at",
        "state",
    ]
    list_filter = [ShareLinkStateFilter, "created", "expires_at"]
    search_fields = ["note", "created_by__username", "files__name"]
    list_select_related = ["created_by"]
    readonly_fields = (
        "created_by",
        "files",
        "file_count",
        "note",
        "created",
        "expires_at",
        "max_downloads",
        "download_count",
        "last_used_at",
        "revoked_at",
    )
    fields = readonly_fields
    actions = ["revoke"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ShareLink]:
        # As the download log (logaccess.py): staff see the links whose every file the access
        # policy lets them download, so a link's note and file names tell nothing more.
        links = super().get_queryset(request).prefetch_related("files")
        hidden = StoredFile.objects.filter(share_links=OuterRef("pk")).exclude(
            pk__in=downloadable_files(request.user).values("pk")
        )
        return links.exclude(Exists(hidden))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="files")
    def file_names(self, link: ShareLink) -> str:
        return ", ".join(stored.name for stored in link.files.all()) or "(deleted)"

    @admin.display(description="uses")
    def uses(self, link: ShareLink) -> str:
        limit = f" / {link.max_downloads}" if link.max_downloads is not None else ""
        return f"{link.download_count}{limit}"

    @admin.action(description="Revoke selected share links", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ShareLink]) -> None:
        revoked = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"Revoked {revoked} share link(s).", messages.SUCCESS)
