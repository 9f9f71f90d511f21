"""Issue 13: the admin at ten million download log rows.

Indexes for the stored-file list's order and content-type filter, for the log's filters (user, status, outcome, delivery; each newest first), and each
file's download count kept by triggers on the log (downloads/logcounts.py), counted once from
the existing rows. All in one transaction, which holds off writes to the log while it runs
(README, Performance).
"""

import django.db.models.deletion
from django.db import migrations, models


def add_counts(apps, schema_editor):
    from downloads import logcounts

    # Triggers first, then the count, in one transaction: no row is counted twice or missed.
    logcounts.create_triggers(schema_editor.connection)
    logcounts.recount(schema_editor.connection)


def drop_counts(apps, schema_editor):
    from downloads import logcounts

    logcounts.drop_triggers(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [
        ("downloads", "0002_outcomes_missing_bytes"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="storedfile",
            index=models.Index(fields=["-updated", "name", "-id"], name="storedfile_updated_name"),
        ),
        migrations.AddIndex(
            model_name="storedfile",
            index=models.Index(fields=["content_type"], name="storedfile_content_type"),
        ),
        migrations.AddIndex(
            model_name="downloadlog",
            index=models.Index(fields=["user", "at"], name="downloadlog_user_at"),
        ),
        migrations.AddIndex(
            model_name="downloadlog",
            index=models.Index(fields=["status", "at"], name="downloadlog_status_at"),
        ),
        migrations.AddIndex(
            model_name="downloadlog",
            index=models.Index(fields=["outcome", "at"], name="downloadlog_outcome_at"),
        ),
        migrations.AddIndex(
            model_name="downloadlog",
            index=models.Index(fields=["delivery", "at"], name="downloadlog_delivery_at"),
        ),
        migrations.CreateModel(
            name="DownloadCount",
            fields=[
                (
                    "file",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="download_counter",
                        serialize=False,
                        to="downloads.storedfile",
                    ),
                ),
                ("total", models.BigIntegerField(default=0)),
            ],
        ),
        migrations.RunPython(add_counts, drop_counts),
    ]
