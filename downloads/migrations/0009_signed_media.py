"""Issue 11: signed media URLs. The download log records each URL a page issued (outcome
"issued", with the URL's expiry), and the download counter's triggers leave those rows out: a
URL issued is not a download (downloads/logcounts.py). No row is "issued" before this
migration, so the counts stand as they are: the triggers are replaced, not recounted.
"""

from django.db import migrations, models


def replace_triggers(apps, schema_editor):
    from downloads import logcounts

    logcounts.drop_triggers(schema_editor.connection)
    logcounts.create_triggers(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [
        ("downloads", "0008_sqlite_search"),
    ]

    operations = [
        migrations.AddField(
            model_name="downloadlog",
            name="expires_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="URL expires"),
        ),
        migrations.AlterField(
            model_name="downloadlog",
            name="outcome",
            field=models.CharField(
                blank=True,
                choices=[
                    ("complete", "sent in full"),
                    ("aborted", "cut off"),
                    ("handed_over", "handed over"),
                    ("denied", "denied"),
                    ("failed", "storage failed"),
                    ("issued", "URL issued"),
                ],
                max_length=16,
            ),
        ),
        # Reversed, the triggers stay as they are: they count the same rows while none is
        # "issued".
        migrations.RunPython(replace_triggers, migrations.RunPython.noop),
    ]
