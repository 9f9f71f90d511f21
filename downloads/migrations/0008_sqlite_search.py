"""Issue 13: the download log's admin search through an index on SQLite too.

An FTS5 table with the trigram tokenizer over the log's `file_name` and `ip`, kept by triggers,
built from the existing rows (downloads/logfts.py). Nothing on PostgreSQL (its trigram GIN
indexes are migration 0006's), nor where SQLite lacks FTS5's trigram tokenizer (the search then
reads the log; `manage.py check` warns, downloads.W115). One transaction: the build holds off
the log writer while it runs (~40 s at 1M rows, README, Performance).
"""

from django.db import migrations


def create_search_index(apps, schema_editor):
    from downloads import logfts

    logfts.create(schema_editor.connection)


def drop_search_index(apps, schema_editor):
    from downloads import logfts

    logfts.drop(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [
        ("downloads", "0007_share_links"),
    ]

    operations = [
        migrations.RunPython(create_search_index, drop_search_index, elidable=False),
    ]
