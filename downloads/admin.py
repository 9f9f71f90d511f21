import uuid
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet, Value
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.http.response import HttpResponseBase
from django.template.defaultfilters import filesizeformat
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils.html import format_html

# Imported to register the share links' admin (issue 10), which lives in its own module.
from downloads import admin_sharelinks  # noqa: F401
from downloads.access import downloadable_files
from downloads.admin_counts import CountOrderedChangeList
from downloads.admin_faults import BytesMissingFilter, bytes_missing
from downloads.admin_filters import IndexedValuesFilter
from downloads.admin_tokens import ApiTokenAdmin  # noqa: F401  (registers it)
from downloads.adminrows import DirectCheckboxMixin
from downloads.csvexport import download_log_csv
from downloads.estimate import EstimatingPaginator
from downloads.faults import STORAGE_WRITE_ERRORS, storage_write_message
from downloads.files import files_rollback_guard
from downloads.filesearch import SEARCH_FIELDS as FILE_SEARCH_FIELDS
from downloads.filesearch import search_files
from downloads.forms import GrantForm, GrantFormSet, GrantToGroupForm, StoredFileForm
from downloads.logaccess import visible_log_entries
from downloads.logsearch import SEARCH_FIELDS, only_short_terms, search_log, short_search_message
from downloads.models import DownloadLog, Grant, StoredFile
from downloads.selection import BadSelectionError, SelectionTooLargeError, files_within_limits
from downloads.views_exports import zip_response

# Computed from the bytes at upload; shown, never edited.
STORED_FACTS = (
    "id",
    "content_type",
    "size",
    "sha256",
    "created",
    "updated",
    "download_link",
    "bytes_missing_since",
)


class GrantInline(admin.TabularInline):
    model = Grant
    form = GrantForm
    formset = GrantFormSet
    extra = 1
    fields = ["user", "group", "expires_at"]
    autocomplete_fields = ["user", "group"]


@admin.register(StoredFile)
class StoredFileAdmin(DirectCheckboxMixin, admin.ModelAdmin):
    form = StoredFileForm
    inlines = [GrantInline]
    list_display = [
        "name",
        "owner",
        "content_type",
        "size_display",
        "updated",
        "download_count",
        bytes_missing,
    ]
    list_filter = [
        BytesMissingFilter,
        ("content_type", IndexedValuesFilter),
        "updated",
        ("owner", admin.RelatedOnlyFieldListFilter),
    ]
    # Searched by downloads/filesearch.py, which answers for exactly these fields.
    search_fields = list(FILE_SEARCH_FIELDS)
    # No date_hierarchy: its links are a DISTINCT over the whole table; the "updated" filter
    # above narrows by date without one. No full count beside the filtered one.
    show_full_result_count = False
    paginator = EstimatingPaginator
    readonly_fields = STORED_FACTS
    autocomplete_fields = ["owner"]
    actions = ["grant_to_group", "download_as_zip"]
    fieldsets = [
        (None, {"fields": ["file", "name", "description", "owner"]}),
        ("Stored facts", {"fields": STORED_FACTS}),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[StoredFile]:
        # The same policy as the site: staff see what they may download.
        # The count kept by the log table's triggers (downloads/logcounts.py): one row by
        # primary key per file shown, not the whole log joined and grouped. Sorted by
        # downloads, an inner join read from the counts' index (downloads/admin_counts.py).
        return (
            downloadable_files(request.user)
            .select_related("owner")
            .annotate(download_total=Coalesce("download_counter__total", Value(0)))
        )

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[StoredFile], search_term: str
    ) -> tuple[QuerySet[StoredFile], bool]:
        # Django's rows, the owners looked up first instead of joined (downloads/filesearch.py).
        return search_files(queryset, search_term), False

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[CountOrderedChangeList]:
        # Sorted by downloads, ties broken in the index's order (downloads/admin_counts.py).
        return CountOrderedChangeList

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        return {"owner": request.user.pk, **super().get_changeform_initial_data(request)}

    def changeform_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        # A failure anywhere in the form (e.g. an inline) also takes back the uploaded bytes.
        try:
            with files_rollback_guard():
                return super().changeform_view(request, *args, **kwargs)
        except STORAGE_WRITE_ERRORS as error:
            # Nothing was kept (rolled back, partial bytes removed): the same form again, its
            # file field saying why (get_form).
            request.storage_write_error = storage_write_message(error)  # type: ignore[attr-defined]
            return super().changeform_view(request, *args, **kwargs)

    def get_form(self, request: HttpRequest, *args: Any, **kwargs: Any) -> type[Any]:
        form = super().get_form(request, *args, **kwargs)
        refused = getattr(request, "storage_write_error", "")
        return type(form.__name__, (form,), {"storage_error": refused}) if refused else form

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
                "action_checkbox_name": ACTION_CHECKBOX_NAME,
            },
        )

    @admin.action(description="Download selected files as one zip", permissions=["view"])
    def download_as_zip(
        self, request: HttpRequest, queryset: QuerySet[StoredFile]
    ) -> HttpResponseBase | None:
        # The queryset is get_queryset()'s: only files this user may download.
        try:
            files = files_within_limits(queryset)
        except (BadSelectionError, SelectionTooLargeError) as error:
            self.message_user(request, str(error), messages.ERROR)
            return None
        return zip_response(request, files)


@admin.register(DownloadLog)
class DownloadLogAdmin(DirectCheckboxMixin, admin.ModelAdmin):
    list_display = [
        "at",
        "file_name",
        "user",
        "ip",
        "status",
        "outcome",
        "range",
        "bytes_planned",
        "bytes_sent",
        "delivery",
        "requested_id",
        "share_link_id",
        # ISSUED rows: until when the signed media URL works (downloads/mediaurls.py).
        "expires_at",
    ]
    # "outcome" lists its choices, "denied" among them: the audit's view of refused requests,
    # "URL issued" the signed media URLs pages embedded.
    list_filter = [
        "outcome",
        ("status", IndexedValuesFilter),
        ("delivery", IndexedValuesFilter),
        "at",
    ]
    # Searched by downloads/logsearch.py, which answers for exactly these fields.
    search_fields = list(SEARCH_FIELDS)
    # No date_hierarchy (a DISTINCT over every row's day); the "at" filter narrows by date with
    # the index. The page count is PostgreSQL's estimate past 100,000 rows, no full count, no
    # facet counts: each would read the whole log (README, Performance).
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = EstimatingPaginator
    list_select_related = ["user"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[DownloadLog]:
        # Changelist, filters' choices, change page, history and both CSV exports start here:
        # only rows of files the access policy lets this user download (downloads/logaccess.py).
        return visible_log_entries(request.user, super().get_queryset(request))

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[DownloadLog], search_term: str
    ) -> tuple[QuerySet[DownloadLog], bool]:
        # Django's search over search_fields, the same rows, but through the log's own indexes
        # instead of a join to the users (downloads/logsearch.py). No join: no duplicates.
        found, may_have_duplicates = search_log(queryset, search_term), False
        if only_short_terms(search_term):
            self.message_user(request, short_search_message(), messages.INFO)
        try:
            wanted = uuid.UUID(search_term.strip())
        except ValueError:
            return found, may_have_duplicates
        # A file's id finds its rows, and the denied requests that named it.
        by_id = queryset.filter(Q(file_id=wanted) | Q(requested_id=wanted))
        return found | by_id, may_have_duplicates

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    # Read-only: exporting needs only the view permission. With "select all N matching" the
    # action gets the whole filtered queryset; the changelist's "Export all as CSV" link
    # (export_matching_csv) needs no selection at all.
    actions = ["export_csv"]

    @admin.action(description="Export selected log entries as CSV", permissions=["view"])
    def export_csv(self, request: HttpRequest, queryset: QuerySet[DownloadLog]) -> HttpResponseBase:
        return download_log_csv(request, queryset)

    def get_urls(self) -> list[URLPattern]:
        name = f"{self.opts.app_label}_{self.opts.model_name}_export"
        export = path("export.csv", self.admin_site.admin_view(self.export_matching_csv), name=name)
        return [export, *super().get_urls()]

    def export_matching_csv(self, request: HttpRequest) -> HttpResponseBase:
        """Every row the changelist shows for the same filters, search and date drill-down."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            return HttpResponseBadRequest("Unknown filter.", content_type="text/plain")
        return download_log_csv(request, changelist.queryset)
