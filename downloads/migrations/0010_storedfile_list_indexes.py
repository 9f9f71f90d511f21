"""Issue 13: the stored-file admin list sorted by downloads through an index.

Every stored file gets its counter row (0 until its first download): a trigger on the files'
insert, then a row for each file that has none, in this migration's transaction (which holds
off new files, not the log writer, for the moment it takes: one row per file). With a row for
every file the admin joins the counts with an inner join and reads `(total, file_id)` in order
(downloads/logcounts.py, README, Performance).
"""

from django.db import migrations, models


def add_file_counts(apps, schema_editor):
    from downloads import logcounts

    logcounts.create_file_trigger(schema_editor.connection)
    logcounts.add_missing_rows(schema_editor.connection)


def drop_file_counts(apps, schema_editor):
    from downloads import logcounts

    # The zero rows stay: the counter is right with or without them.
    logcounts.drop_file_trigger(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [
        ("downloads", "0009_signed_media"),
    ]

    operations = [
        # The index first: PostgreSQL builds no index on a table whose rows' deferred
        # foreign-key checks (the rows added below) are still pending.
        migrations.AddIndex(
            model_name="downloadcount",
            index=models.Index(fields=["total", "file"], name="downloadcount_total_file"),
        ),
        migrations.RunPython(add_file_counts, drop_file_counts, elidable=False),
    ]
