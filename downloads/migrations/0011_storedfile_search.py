"""Issue 13: the stored-file admin's search through indexes (downloads/filesearch.py).

PostgreSQL: trigram GIN indexes on the files' searched expressions (downloads/searchindexes.py),
built CONCURRENTLY, so the migration holds off no upload while it runs (it is therefore not
atomic; `pg_trgm` is migration 0006's). SQLite: an FTS5 trigram table of the same fields, kept by
triggers on the files, built from the existing files in one transaction (downloads/filefts.py;
nothing where SQLite lacks the tokenizer, downloads.W115).
"""

from django.db import migrations


def create_trigram_indexes(apps, schema_editor):
    from downloads import searchindexes

    searchindexes.create(schema_editor.connection, searchindexes.FILE_INDEXES)


def drop_trigram_indexes(apps, schema_editor):
    from downloads import searchindexes

    searchindexes.drop(schema_editor.connection, searchindexes.FILE_INDEXES)


def create_sqlite_index(apps, schema_editor):
    from downloads import filefts

    filefts.create(schema_editor.connection)


def drop_sqlite_index(apps, schema_editor):
    from downloads import filefts

    filefts.drop(schema_editor.connection)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("downloads", "0010_storedfile_list_indexes"),
    ]

    operations = [
        migrations.RunPython(create_trigram_indexes, drop_trigram_indexes, elidable=False),
        migrations.RunPython(
            create_sqlite_index, drop_sqlite_index, atomic=True, elidable=False
        ),
    ]
