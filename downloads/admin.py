from typing import Any

from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.defaultfilters import filesizeformat
from django.template.response import TemplateResponse
from django.utils.html import format_html

from downloads.access import downloadable_files
from downloads.files import files_rollback_guard
from downloads.forms import GrantToGroupForm, StoredFileForm
from downloads.models import DownloadLog, Grant, StoredFile


class GrantInline(admin.TabularInline):
    model = Grant
    extra = 1
    fields = ["user", "group", "expires_at"]
    autocomplete_fields = ["user", "group"]


@admin.register(StoredFile)
class StoredFileAdmin(admin.ModelAdmin):
    form = StoredFileForm
    inlines = [GrantInline]
    list_display = ["name", "owner", "content_type", "size_display", "updated", "download_count"]
    list_filter = ["content_type", "updated", ("owner", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["name", "description", "owner__username", "sha256"]
    date_hierarchy = "updated"
    readonly_fields = [
        "id",
        "content_type",
        "size",
        "sha256",
        "created",
        "updated",
        "download_link",
    ]
    autocomplete_fields = ["owner"]
    actions = ["grant_to_group"]
    fieldsets = [
        (None, {"fields": ["file", "name", "description", "owner"]}),
        (
            "Stored facts",
            {
                "fields": [
                    "id",
                    "content_type",
                    "size",
                    "sha256",
                    "created",
                    "updated",
                    "download_link",
                ]
            },
        ),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[StoredFile]:
        # The same policy as the site: staff see what they may download.
        return (
            downloadable_files(request.user)
            .select_related("owner")
            .annotate(download_total=Count("downloads"))
        )

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        return {"owner": request.user.pk, **super().get_changeform_initial_data(request)}

    def changeform_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        # A failure anywhere in the form (e.g. an inline) also takes back the uploaded bytes.
        with files_rollback_guard():
            return super().changeform_view(request, *args, **kwargs)

    @admin.display(description="size", ordering="size")
    def size_display(self, stored: StoredFile) -> str:
        return filesizeformat(stored.size)

    @admin.display(description="downloads", ordering="download_total")
    def download_count(self, stored: StoredFile) -> int:
        return getattr(stored, "download_total", 0)

    @admin.display(description="download")
    def download_link(self, stored: StoredFile) -> str:
        if not stored.pk or not stored.file:
            return "-"
        return format_html('<a href="{}">Download {}</a>', stored.get_download_url(), stored.name)

    @admin.action(description="Grant selected files to a group", permissions=["change"])
    def grant_to_group(
        self, request: HttpRequest, queryset: QuerySet[StoredFile]
    ) -> HttpResponse | None:
        form = GrantToGroupForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            group = form.cleaned_data["group"]
            expires_at = form.cleaned_data["expires_at"]
            for stored in queryset:
                Grant.objects.update_or_create(
                    file=stored, group=group, defaults={"expires_at": expires_at}
                )
            self.message_user(
                request,
                f"Granted {queryset.count()} file(s) to group “{group}”.",
                messages.SUCCESS,
            )
            return None
        return TemplateResponse(
            request,
            "admin/downloads/grant_to_group.html",
            {
                **self.admin_site.each_context(request),
                "title": "Grant files to a group",
                "form": form,
                "files": queryset,
                "opts": self.model._meta,
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            },
        )


@admin.register(DownloadLog)
class DownloadLogAdmin(admin.ModelAdmin):
    list_display = ["at", "file_name", "user", "ip", "status", "range", "bytes_sent", "delivery"]
    list_filter = ["status", "delivery", "at"]
    search_fields = ["file_name", "user__username", "ip"]
    date_hierarchy = "at"
    list_select_related = ["user"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
