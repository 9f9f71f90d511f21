"""Querysets compiled to SQL once, then run again and again with new values.

On the download path the ORM spent about a millisecond per request building and compiling the
access check (profiled in `make bench`: more than the rest of the request together), for SQL that
differs between two downloads only in a few values: the user, the file, the time. A
PreparedQuery asks the ORM for that SQL once per database and variant, finds which parameters
carry which value, and from then on only puts new values in. The queryset stays the one place
where the query is written; the ORM's own functions still adapt every value
(`Field.get_db_prep_value`, as its lookups do), convert what the database returns (the backend's
converters) and make the instance (`Model.from_db`).

Compiling checks itself and fails loudly rather than run wrong SQL:
- building the queryset must not run SQL: whatever it read (a permission, a row) would be frozen
  into the compiled query, right for the stand-ins and wrong for everyone else;
- built twice with the same values it must give the same SQL and parameters (no clock, no
  counter: nothing but the declared values reaches the query);
- the SQL text must not change with the values (no value inlined as a literal);
- each declared value must land in a parameter, unless the variant declares it unused (then it
  must land in none): a value that reaches no parameter means the SQL does not depend on it;
- each value must sit exactly where the ORM put it, adapted exactly as the ORM adapted it.
`compile()` does all of it ahead of time (downloads/access_checks.py: `manage.py check`); `first()`
does it on first use otherwise.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.core.exceptions import ImproperlyConfigured
from django.db import connections, router
from django.db.models import Field, Model, QuerySet
from django.db.models.expressions import Col

M = TypeVar("M", bound=Model)


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: tuple[Any, ...]
    # value name -> positions in `params` that carry it
    slots: dict[str, tuple[int, ...]]
    # what the SELECT returns, in order: the model's columns
    columns: tuple[Col, ...]
    attnames: tuple[str, ...]


Converters = dict[int, tuple[list[Callable[..., Any]], Col]]


class PreparedQuery(Generic[M]):
    """`build(variant, **values)` returns the queryset; `fields[name]` is the model field a value
    is compared with (how it is adapted); `stand_ins` are two sets of values that differ in
    every name, used only while compiling; `variants` maps every variant `build` accepts to the
    names it leaves out of its SQL (by default one variant, None, that uses every value)."""

    def __init__(
        self,
        model: type[M],
        build: Callable[..., QuerySet[M]],
        fields: dict[str, Field[Any, Any]],
        stand_ins: tuple[dict[str, Any], dict[str, Any]],
        variants: Mapping[Hashable, Iterable[str]] | None = None,
    ) -> None:
        self.model = model
        self.build = build
        self.fields = fields
        self.stand_ins = stand_ins
        self.variants = {
            variant: frozenset(unused) for variant, unused in (variants or {None: ()}).items()
        }
        for variant, unused in self.variants.items():
            if unknown := unused - fields.keys():
                raise ImproperlyConfigured(
                    f"variant {variant!r} leaves out {sorted(unknown)}, which are not values."
                )
        self._compiled: dict[tuple[str, Hashable], _Compiled] = {}
        self._lock = threading.Lock()
        # Converters are bound to a connection, and connections to a thread.
        self._local = threading.local()

    def compile(self, using: str, variant: Hashable) -> None:
        """Compile (and keep) one variant's SQL for database `using`, or raise why it cannot be."""
        self._compiled_for(using, variant)

    def first(self, variant: Hashable, **values: Any) -> M | None:
        """The first row the query finds for these values, or None."""
        using = router.db_for_read(self.model)
        compiled = self._compiled.get((using, variant)) or self._compiled_for(using, variant)
        params = list(compiled.params)
        for name, positions in compiled.slots.items():
            adapted = self._adapt(name, values[name], using)
            for position in positions:
                params[position] = adapted
        connection = connections[using]
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, params)
            row = cursor.fetchone()
        if row is None:
            return None
        # What the ORM does to each row it reads (SQLCompiler.apply_converters).
        row = list(row)
        for position, (converters, column) in self._converters(using, variant, compiled).items():
            value = row[position]
            for convert in converters:
                value = convert(value, column, connection)
            row[position] = value
        return self.model.from_db(using, compiled.attnames, row)

    def _compiled_for(self, using: str, variant: Hashable) -> _Compiled:
        with self._lock:
            compiled = self._compiled.get((using, variant)) or self._compile(using, variant)
            self._compiled[(using, variant)] = compiled
        return compiled

    def _converters(self, using: str, variant: Hashable, compiled: _Compiled) -> Converters:
        cache: dict[tuple[str, Hashable], Converters] = self._local.__dict__.setdefault(
            "converters", {}
        )
        found = cache.get((using, variant))
        if found is None:
            connection = connections[using]
            found = {}
            for position, column in enumerate(compiled.columns):
                converters = connection.ops.get_db_converters(column)
                converters += column.get_db_converters(connection)
                if converters:
                    found[position] = (converters, column)
            cache[(using, variant)] = found
        return found

    def _adapt(self, name: str, value: Any, using: str) -> Any:
        return self.fields[name].get_db_prep_value(value, connections[using], prepared=False)

    def _sql(
        self, using: str, variant: Hashable, values: dict[str, Any]
    ) -> tuple[str, tuple[Any, ...], tuple[Col, ...]]:
        with _no_sql_runs():
            queryset = self.build(variant, **values)
        if queryset.model is not self.model:
            raise ImproperlyConfigured(f"{self.build!r} must return {self.model.__name__} rows.")
        compiler = queryset.query.get_compiler(using=using)
        sql, params = compiler.as_sql()
        columns = tuple(expression for expression, _sql, _alias in compiler.select)
        if not all(isinstance(c, Col) and c.target.model is self.model for c in columns):
            raise ImproperlyConfigured("a prepared query selects its model's own columns only.")
        return sql, tuple(params), columns

    def _compile(self, using: str, variant: Hashable) -> _Compiled:
        if variant not in self.variants:
            raise ImproperlyConfigured(f"{variant!r} is not a declared variant.")
        unused = self.variants[variant]
        first, second = self.stand_ins
        sql, params, columns = self._sql(using, variant, first)
        if self._sql(using, variant, first)[:2] != (sql, params):
            raise ImproperlyConfigured(
                "built twice with the same values, the query differs: something besides the "
                "declared values (the clock?) reaches the SQL."
            )
        slots: dict[str, tuple[int, ...]] = {}
        for name in self.fields:
            other_sql, other_params, _ = self._sql(using, variant, {**first, name: second[name]})
            if other_sql != sql or len(other_params) != len(params):
                raise ImproperlyConfigured(f"{name!r} changes the SQL text, not only a parameter.")
            positions = tuple(
                i for i, (a, b) in enumerate(zip(params, other_params, strict=True)) if a != b
            )
            adapted = self._adapt(name, first[name], using)
            if any(params[i] != adapted for i in positions):
                raise ImproperlyConfigured(f"{name!r} is adapted otherwise than the ORM does.")
            if not positions and name not in unused:
                raise ImproperlyConfigured(
                    f"{name!r} lands in no SQL parameter of variant {variant!r}: its SQL does "
                    "not depend on it. Compare with it, or declare it unused by the variant."
                )
            if positions and name in unused:
                raise ImproperlyConfigured(
                    f"{name!r} is declared unused by variant {variant!r} but lands in its SQL."
                )
            if positions:
                slots[name] = positions
        taken = [i for positions in slots.values() for i in positions]
        if len(taken) != len(set(taken)):
            raise ImproperlyConfigured("two values share one SQL parameter.")
        attnames = tuple(column.target.attname for column in columns)
        return _Compiled(sql, params, slots, columns, attnames)


def _refuse_sql(execute: Callable[..., Any], sql: str, *args: Any) -> Any:
    raise ImproperlyConfigured(
        f"building a prepared query ran SQL ({sql[:120]}...): what it read would be frozen "
        "into the compiled query. Compare with the declared values in the query instead."
    )


@contextmanager
def _no_sql_runs() -> Iterator[None]:
    with ExitStack() as stack:
        for connection in connections.all():
            stack.enter_context(connection.execute_wrapper(_refuse_sql))
        yield
