"""The permission to upload from My files (downloads/useruploads.py)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("downloads", "0003_admin_scale"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="storedfile",
            options={
                "ordering": ["-updated", "name"],
                "permissions": [
                    ("download_any", "Can download any file (staff only)"),
                    ("upload_files", "Can upload files from My files"),
                ],
            },
        ),
    ]
