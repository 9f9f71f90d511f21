"""Issue 13: the download log's admin search through indexes (downloads/logsearch.py).

PostgreSQL: the `pg_trgm` extension and trigram GIN indexes on the searched expressions
(downloads/searchindexes.py), built CONCURRENTLY, so the migration does not hold off the log
writer (it is therefore not atomic). Every database: an index on `requested_id` for the rows
that are not NULL (denied requests), which a search by file id also asks for.
"""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations, models


class KeptTrigramExtension(TrigramExtension):
    """Django's operation (a no-op on databases other than PostgreSQL), except that reversing
    the migration keeps the extension: other objects may use it, and Django's reverse would
    also run its PostgreSQL query on SQLite."""

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        pass


def create_trigram_indexes(apps, schema_editor):
    from downloads import searchindexes

    searchindexes.create(schema_editor.connection)


def drop_trigram_indexes(apps, schema_editor):
    from downloads import searchindexes

    searchindexes.drop(schema_editor.connection)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("downloads", "0005_api_tokens"),
    ]

    operations = [
        KeptTrigramExtension(),
        migrations.RunPython(create_trigram_indexes, drop_trigram_indexes),
        migrations.AddIndex(
            model_name="downloadlog",
            index=models.Index(
                condition=models.Q(("requested_id__isnull", False)),
                fields=["requested_id"],
                name="downloadlog_requested_id",
            ),
        ),
    ]
