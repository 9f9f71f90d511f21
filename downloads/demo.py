"""Demo data: four users, two groups and sample files that show off every kind of answer.

Idempotent: what exists is left as it is, so running it again changes nothing.
"""

import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.files.base import ContentFile
from django.utils import timezone

from downloads.conf import app_settings
from downloads.files import files_rollback_guard
from downloads.models import Grant, StoredFile
from downloads.sharelinks import create_link, find_link

ASSETS = Path(__file__).resolve().parent / "demo_assets"
GROUP = "reviewers"
# Holds the permission to upload from My files; its one member is the demo user "uploader".
UPLOADERS = "uploaders"

# (name shown to users, asset file, who may have it besides alice, description)
SAMPLES = [
    ("Quarterly report.pdf", "report.pdf", "bob", "A PDF: opens inline in the browser."),
    ("Harbour at dusk.png", "harbour.png", GROUP, "An image shared with the reviewers group."),
    ("Launch teaser.webm", "teaser.webm", "bob", "A short video: seek in it, ranges at work."),
    ("résumé 2024.txt", "resume.txt", None, "Only alice's: a non-ASCII name done right."),
    ("landing-page.html", "landing.html", GROUP, "HTML never renders here: always an attachment."),
]
# The file the demo share link hands out: the video, so a player seeking through it shows that
# a link spends one download however many ranges it asks for.
SHARED_SAMPLE = "Launch teaser.webm"
SHARE_NOTE = "demo link"


@dataclass
class DemoResult:
    password: str | None
    created_users: list[str] = field(default_factory=list)
    created_files: list[str] = field(default_factory=list)


def create_demo(password: str | None = None) -> DemoResult:
    User = get_user_model()
    result = DemoResult(password=None)
    chosen = password or secrets.token_urlsafe(12)
    with files_rollback_guard():
        users = {}
        for username, staff in (
            ("alice", False),
            ("bob", False),
            ("uploader", False),
            ("admin", True),
        ):
            user, created = User.objects.get_or_create(
                username=username,
                defaults={
                    "is_staff": staff,
                    "is_superuser": staff,
                    "email": f"{username}@example.com",
                },
            )
            if created:
                user.set_password(chosen)
                user.save(update_fields=["password"])
                result.created_users.append(username)
                result.password = chosen
            users[username] = user
        group, _ = Group.objects.get_or_create(name=GROUP)
        group.user_set.add(users["bob"])
        uploaders, _ = Group.objects.get_or_create(name=UPLOADERS)
        uploaders.permissions.add(
            Permission.objects.get(codename="upload_files", content_type__app_label="downloads")
        )
        uploaders.user_set.add(users["uploader"])

        for name, asset, audience, description in SAMPLES:
            stored = StoredFile.objects.filter(owner=users["alice"], name=name).first()
            if stored is None:
                stored = StoredFile(owner=users["alice"], name=name, description=description)
                stored.file.save(asset, ContentFile((ASSETS / asset).read_bytes()), save=False)
                stored.save()
                result.created_files.append(name)
            if audience == GROUP:
                Grant.objects.get_or_create(file=stored, group=group)
            elif audience:
                Grant.objects.get_or_create(file=stored, user=users[audience])
    return result


def demo_share_link(kept_token: str | None) -> tuple[str, bool]:
    """The token of a live share link to alice's video, and whether it is new: the kept one
    while it still works, else a new one for the default expiry. Only a token's hash is stored,
    so the caller keeps the token (`make run`: .demo_share_link) to show it again."""
    if kept_token:
        link = find_link(kept_token)
        if link is not None and link.state == "live":
            return kept_token, False
    alice = get_user_model().objects.get(username="alice")
    video = StoredFile.objects.get(owner=alice, name=SHARED_SAMPLE)
    expires_at = timezone.now() + timedelta(days=app_settings().share_link_default_days)
    _, token = create_link(
        alice, [video], expires_at=expires_at, max_downloads=None, note=SHARE_NOTE
    )
    return token, True
