"""PreparedQuery: a queryset compiled once, run with new values, or refused when it cannot be."""

import uuid
from datetime import UTC, datetime

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.utils import timezone

from downloads.models import StoredFile
from downloads.prepared import PreparedQuery

pytestmark = pytest.mark.django_db

NAME = StoredFile._meta.get_field("name")
STAND_INS = ({"name": "first stand-in"}, {"name": "second stand-in"})
VARIANTS = {"any": (), "non-empty": ()}


def by_name(variant, *, name):
    files = StoredFile.objects.filter(name=name)
    return files.filter(size__gt=0) if variant == "non-empty" else files


def test_new_values_give_new_rows(make_file):
    query = PreparedQuery(StoredFile, by_name, {"name": NAME}, STAND_INS, VARIANTS)
    one, two = make_file(name="one.txt"), make_file(name="two.txt")
    empty = make_file(b"", name="empty.txt")
    assert query.first("any", name="one.txt") == one
    assert query.first("any", name="two.txt") == two
    assert query.first("any", name="three.txt") is None
    assert query.first("any", name="empty.txt") == empty
    assert query.first("non-empty", name="empty.txt") is None
    assert query.first("non-empty", name="one.txt") == one


def test_rows_come_back_typed_as_the_orm_gives_them(make_file):
    query = PreparedQuery(StoredFile, by_name, {"name": NAME}, STAND_INS, VARIANTS)
    stored = make_file(name="typed.txt")
    found = query.first("any", name="typed.txt")
    assert isinstance(found.pk, uuid.UUID)
    assert found.updated == stored.updated
    assert found.updated.tzinfo is not None


def test_one_query_per_call(make_file, django_assert_num_queries):
    query = PreparedQuery(StoredFile, by_name, {"name": NAME}, STAND_INS, VARIANTS)
    make_file(name="counted.txt")
    query.first("any", name="counted.txt")
    with django_assert_num_queries(1):
        query.first("any", name="counted.txt")


def test_a_value_that_changes_the_sql_text_is_refused():
    def shape_depends_on_value(variant, *, name):
        if name.startswith("first"):
            return StoredFile.objects.filter(name=name)
        return StoredFile.objects.filter(name=name, size__gt=0)

    query = PreparedQuery(StoredFile, shape_depends_on_value, {"name": NAME}, STAND_INS, VARIANTS)
    with pytest.raises(ImproperlyConfigured, match="changes the SQL text"):
        query.first("any", name="x")


def test_a_value_adapted_otherwise_is_refused():
    # Compared with `updated` (a DateTimeField) but declared as a CharField: adapted differently.
    def by_time(variant, *, name):
        return StoredFile.objects.filter(updated=name)

    stand_ins = (
        {"name": datetime(2001, 1, 1, tzinfo=UTC)},
        {"name": datetime(2002, 1, 1, tzinfo=UTC)},
    )
    query = PreparedQuery(StoredFile, by_time, {"name": NAME}, stand_ins, VARIANTS)
    with pytest.raises(ImproperlyConfigured, match="adapted otherwise"):
        query.first("any", name=datetime(2003, 1, 1, tzinfo=UTC))


def test_a_query_that_selects_other_columns_is_refused():
    def with_owner(variant, *, name):
        return StoredFile.objects.select_related("owner").filter(name=name)

    query = PreparedQuery(StoredFile, with_owner, {"name": NAME}, STAND_INS, VARIANTS)
    with pytest.raises(ImproperlyConfigured, match="own columns only"):
        query.first("any", name="x")


def test_a_value_inlined_as_a_literal_is_refused():
    def inlined(variant, *, name):
        # The mistake under test: the value written into the SQL text.
        return StoredFile.objects.extra(where=[f"name = '{name}'"])  # noqa: S610

    query = PreparedQuery(StoredFile, inlined, {"name": NAME}, STAND_INS, VARIANTS)
    with pytest.raises(ImproperlyConfigured, match="changes the SQL text"):
        query.first("any", name="x")


def test_a_value_that_lands_in_no_parameter_is_refused():
    # The SQL would answer the same whoever asks: a rule that lost its value.
    def ignores_the_name(variant, *, name):
        return StoredFile.objects.filter(name__isnull=False)

    query = PreparedQuery(StoredFile, ignores_the_name, {"name": NAME}, STAND_INS, VARIANTS)
    with pytest.raises(ImproperlyConfigured, match="'name' lands in no SQL parameter"):
        query.first("any", name="x")


def test_a_variant_may_declare_a_value_unused(make_file):
    def every_file(variant, *, name):
        files = StoredFile.objects.all()
        return files if variant == "every" else files.filter(name=name)

    variants = {"every": ("name",), "named": ()}
    query = PreparedQuery(StoredFile, every_file, {"name": NAME}, STAND_INS, variants)
    stored = make_file(name="one.txt")
    assert query.first("every", name="not its name") == stored
    assert query.first("named", name="not its name") is None
    assert query.first("named", name="one.txt") == stored


def test_a_value_declared_unused_must_not_land_in_the_sql():
    query = PreparedQuery(StoredFile, by_name, {"name": NAME}, STAND_INS, {"any": ("name",)})
    with pytest.raises(ImproperlyConfigured, match="declared unused by variant 'any'"):
        query.first("any", name="x")


def test_only_values_can_be_declared_unused():
    with pytest.raises(ImproperlyConfigured, match="not values"):
        PreparedQuery(StoredFile, by_name, {"name": NAME}, STAND_INS, {"any": ("size",)})


def test_an_undeclared_variant_is_refused():
    query = PreparedQuery(StoredFile, by_name, {"name": NAME}, STAND_INS, VARIANTS)
    with pytest.raises(ImproperlyConfigured, match="'other' is not a declared variant"):
        query.first("other", name="x")


def test_building_may_not_run_sql(make_file):
    # What a build reads from the database is frozen into the SQL: right for the stand-ins,
    # wrong for everyone else. Refused before the SQL reaches the database.
    reached = []

    def reaches_the_driver(execute, sql, params, many, context):
        reached.append(sql)
        return execute(sql, params, many, context)

    def reads_the_database(variant, *, name):
        # Installed inside the refusal: it sees only SQL that goes on to the driver.
        with connection.execute_wrapper(reaches_the_driver):
            if StoredFile.objects.filter(name=name).exists():
                return StoredFile.objects.filter(name=name)
        return StoredFile.objects.filter(name=name, size__gt=0)

    make_file(name="first stand-in")
    query = PreparedQuery(StoredFile, reads_the_database, {"name": NAME}, STAND_INS, VARIANTS)
    with pytest.raises(ImproperlyConfigured, match="ran SQL"):
        query.first("any", name="x")
    assert reached == []
    # The connection (on PostgreSQL, its transaction) is still good.
    assert StoredFile.objects.filter(name="first stand-in").exists()


def test_a_build_that_reads_the_clock_is_refused():
    def reads_the_clock(variant, *, name):
        return StoredFile.objects.filter(name=name, updated__lte=timezone.now())

    query = PreparedQuery(StoredFile, reads_the_clock, {"name": NAME}, STAND_INS, VARIANTS)
    with pytest.raises(ImproperlyConfigured, match="built twice with the same values"):
        query.first("any", name="x")


def test_compile_ahead_of_use_keeps_the_result(make_file, django_assert_num_queries):
    query = PreparedQuery(StoredFile, by_name, {"name": NAME}, STAND_INS, VARIANTS)
    with django_assert_num_queries(0):
        for variant in query.variants:
            query.compile("default", variant)
    stored = make_file(name="ahead.txt")
    with django_assert_num_queries(1):
        assert query.first("non-empty", name="ahead.txt") == stored
