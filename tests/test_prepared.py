"""PreparedQuery: a queryset compiled once, run with new values, or refused when it cannot be."""

import uuid
from datetime import UTC, datetime

import pytest
from django.core.exceptions import ImproperlyConfigured

from downloads.models import StoredFile
from downloads.prepared import PreparedQuery

pytestmark = pytest.mark.django_db

NAME = StoredFile._meta.get_field("name")
STAND_INS = ({"name": "first stand-in"}, {"name": "second stand-in"})


def by_name(variant, *, name):
    files = StoredFile.objects.filter(name=name)
    return files.filter(size__gt=0) if variant == "non-empty" else files


def test_new_values_give_new_rows(make_file):
    query = PreparedQuery(StoredFile, by_name, {"name": NAME}, STAND_INS)
    one, two = make_file(name="one.txt"), make_file(name="two.txt")
    empty = make_file(b"", name="empty.txt")
    assert query.first("any", name="one.txt") == one
    assert query.first("any", name="two.txt") == two
    assert query.first("any", name="three.txt") is None
    assert query.first("any", name="empty.txt") == empty
    assert query.first("non-empty", name="empty.txt") is None
    assert query.first("non-empty", name="one.txt") == one


def test_rows_come_back_typed_as_the_orm_gives_them(make_file):
    query = PreparedQuery(StoredFile, by_name, {"name": NAME}, STAND_INS)
    stored = make_file(name="typed.txt")
    found = query.first("any", name="typed.txt")
    assert isinstance(found.pk, uuid.UUID)
    assert found.updated == stored.updated
    assert found.updated.tzinfo is not None


def test_one_query_per_call(make_file, django_assert_num_queries):
    query = PreparedQuery(StoredFile, by_name, {"name": NAME}, STAND_INS)
    make_file(name="counted.txt")
    query.first("any", name="counted.txt")
    with django_assert_num_queries(1):
        query.first("any", name="counted.txt")


def test_a_value_that_changes_the_sql_text_is_refused():
    def shape_depends_on_value(variant, *, name):
        if name.startswith("first"):
            return StoredFile.objects.filter(name=name)
        return StoredFile.objects.filter(name=name, size__gt=0)

    query = PreparedQuery(StoredFile, shape_depends_on_value, {"name": NAME}, STAND_INS)
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
    query = PreparedQuery(StoredFile, by_time, {"name": NAME}, stand_ins)
    with pytest.raises(ImproperlyConfigured, match="adapted otherwise"):
        query.first("any", name=datetime(2003, 1, 1, tzinfo=UTC))


def test_a_query_that_selects_other_columns_is_refused():
    def with_owner(variant, *, name):
        return StoredFile.objects.select_related("owner").filter(name=name)

    query = PreparedQuery(StoredFile, with_owner, {"name": NAME}, STAND_INS)
    with pytest.raises(ImproperlyConfigured, match="own columns only"):
        query.first("any", name="x")
