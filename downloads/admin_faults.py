"""The admin's view of files whose bytes were found missing or corrupt (faults.py,
`manage.py verify_files`): a column and a filter on the StoredFile changelist."""

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from downloads.models import StoredFile


@admin.display(description="bytes missing", boolean=True, ordering="bytes_missing_since")
def bytes_missing(stored: StoredFile) -> bool:
    return stored.bytes_missing_since is not None


class BytesMissingFilter(admin.SimpleListFilter):
    title = "bytes missing"
    parameter_name = "bytes_missing"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Missing or corrupt"), ("no", "Whole")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "yes":
            return queryset.filter(bytes_missing_since__isnull=False)
        if self.value() == "no":
            return queryset.filter(bytes_missing_since__isnull=True)
        return queryset
