"""List filters that name their choices without reading the whole download log."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import connections
from django.db.models import Field, Model, QuerySet


def distinct_by_skip_scan(rows: QuerySet[Any], field: Field[Any, Any]) -> list[Any]:
    """The distinct values of a NOT NULL, indexed column of the whole table: one index probe
    per value (a recursive "next value above the last one") instead of reading every row."""
    table = connections[rows.db].ops.quote_name(rows.model._meta.db_table)
    column = connections[rows.db].ops.quote_name(str(field.column))
    # Names from the model's metadata, quoted by the backend; no client input.
    sql = f"""
        WITH RECURSIVE seen(value) AS (
            SELECT MIN({column}) FROM {table}
            UNION ALL
            SELECT (SELECT MIN({column}) FROM {table} WHERE {column} > seen.value)
            FROM seen WHERE seen.value IS NOT NULL
        )
        SELECT value FROM seen WHERE value IS NOT NULL
    """  # noqa: S608
    with connections[rows.db].cursor() as cursor:
        cursor.execute(sql)
        return [field.to_python(value) for (value,) in cursor.fetchall()]


class IndexedValuesFilter(admin.AllValuesFieldListFilter):
    """Django's "all values" filter; over the whole table (someone who sees every row), its
    choices come from a skip scan of the column's index. Anyone who sees only
    some rows gets the choices of those rows, as before (downloads/logaccess.py)."""

    def __init__(
        self,
        field: Field[Any, Any],
        request: Any,
        params: dict[str, Any],
        model: type[Model],
        model_admin: admin.ModelAdmin[Any],
        field_path: str,
    ) -> None:
        super().__init__(field, request, params, model, model_admin, field_path)
        rows = model_admin.get_queryset(request)
        whole_table = not rows.query.where and field_path == field.name and not field.null
        if whole_table:
            # Django iterates its own queryset here; a list of the same values does as well.
            self.lookup_choices = distinct_by_skip_scan(rows, field)  # type: ignore[assignment]
