"""`manage.py check` compiles every variant of the one-file access check (downloads/access.py).

A policy the compiled check cannot follow exactly (it reads the database while building, lets a
value fall out of the SQL, inlines one as a literal...) is then an error at deploy, not a 500 on
the first download of some kind of user. Compiling needs neither the tables nor a connection, so
this runs on every `check`, `runserver` and `migrate`, even before the first migration.

`check --database default` (Django's way of asking checks to talk to a database) also runs each
compiled variant once with stand-in values, so the database itself has accepted the SQL. Only on
a fully migrated database: `migrate` runs the checks before it migrates, and an old schema must
not stop the migration that brings it up to date.
"""

from collections.abc import Hashable, Sequence
from typing import Any

from django.apps import AppConfig
from django.core.checks import CheckMessage, Error, Tags, register
from django.db import DatabaseError, connections, router, transaction
from django.db.migrations.executor import MigrationExecutor

from downloads.access import FLAGS, new_one_file_query
from downloads.models import StoredFile
from downloads.prepared import PreparedQuery

E050 = "downloads.E050"
E051 = "downloads.E051"


def _describe(variant: Hashable) -> str:
    if not isinstance(variant, tuple) or len(variant) != len(FLAGS):
        return repr(variant)
    flags = zip(FLAGS, variant, strict=True)
    return "users with " + ", ".join(f"{name}={on}" for name, on in flags)


@register()
def access_check_compiles(
    app_configs: Sequence[AppConfig] | None,
    databases: Sequence[str] | None = None,
    **kwargs: Any,
) -> list[CheckMessage]:
    if app_configs is not None and StoredFile._meta.app_config not in app_configs:
        return []
    hint = "The policy (downloads/access.py) must be one the one-file check can follow exactly."
    try:
        # A new one, not the process's: this checks the policy as it is now.
        query = new_one_file_query()
    except Exception as error:
        return [Error(f"The one-file access check cannot be built: {error}", hint=hint, id=E050)]
    using = router.db_for_read(StoredFile)
    errors: list[CheckMessage] = []
    for variant in query.variants:
        try:
            query.compile(using, variant)
        except Exception as error:
            errors.append(
                Error(
                    f"The one-file access check for {_describe(variant)} cannot be compiled: "
                    f"{type(error).__name__}: {error}",
                    hint=hint,
                    id=E050,
                )
            )
    return errors


@register(Tags.database)
def access_check_runs(
    app_configs: Sequence[AppConfig] | None,
    databases: Sequence[str] | None = None,
    **kwargs: Any,
) -> list[CheckMessage]:
    """With `check --database`: the database accepts every compiled variant. A database check
    (Django runs these only when a database is named), apart from the compiling above, which
    needs no database and reports its own failures."""
    if app_configs is not None and StoredFile._meta.app_config not in app_configs:
        return []
    using = router.db_for_read(StoredFile)
    if not databases or using not in databases:
        return []
    try:
        query = new_one_file_query()
        for variant in query.variants:
            query.compile(using, variant)
    except Exception:
        return []  # access_check_compiles says why
    return _run_each_variant(query, using)


def _run_each_variant(query: PreparedQuery[StoredFile], using: str) -> list[CheckMessage]:
    connection = connections[using]
    try:
        executor = MigrationExecutor(connection)
        if executor.migration_plan(executor.loader.graph.leaf_nodes()):
            return []
    except DatabaseError as error:
        return [Error(f"Database {using!r} cannot be asked: {error}", id=E051)]
    errors: list[CheckMessage] = []
    for variant in query.variants:
        try:
            # A savepoint, so one refused variant leaves the connection usable for the next.
            with transaction.atomic(using=using):
                query.first(variant, **query.stand_ins[0])
        except DatabaseError as error:
            errors.append(
                Error(
                    f"Database {using!r} refuses the one-file access check for "
                    f"{_describe(variant)}: {error}",
                    id=E051,
                )
            )
    return errors
