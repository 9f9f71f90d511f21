import os
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from downloads.demo import create_demo, demo_share_link


def read_password(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        return path.read_text().strip() or None
    except FileNotFoundError:
        return None


def write_password(path: Path, password: str) -> None:
    # A password: readable by its owner only, and never half-written.
    partial = path.with_name(f".{path.name}.partial")
    partial.unlink(missing_ok=True)
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(password + "\n")
    partial.replace(path)


class Command(BaseCommand):
    help = (
        "Create demo users (alice, bob, uploader, admin), groups and sample files. Passwords "
        "come from DEMO_PASSWORD, or one is generated and printed. Safe to run again: existing "
        "users keep their passwords."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--password-file",
            type=Path,
            help="where the demo users' password is kept between runs (`make run`): read when "
            "DEMO_PASSWORD is not set, written with the password the users are created with",
        )
        parser.add_argument(
            "--share-link-file",
            type=Path,
            help="where the token of a live share link to alice's video is kept (`make run` "
            "prints the link): kept while the link works, else a new link is made and written",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        password_file: Path | None = options["password_file"]
        given = os.environ.get("DEMO_PASSWORD") or None
        kept = read_password(password_file)
        result = create_demo(given or kept)
        if result.created_users and result.password:
            if password_file is not None:
                write_password(password_file, result.password)
            self.stdout.write(f"Created users: {', '.join(result.created_users)}")
            self.stdout.write(f"Their password: {result.password}")
        else:
            self.stdout.write("Demo users exist already; their passwords are unchanged.")
            if given and given != kept:
                # Never reset: `manage.py demo` on a database with a real "admin" must not
                # change that user's password.
                self.stdout.write(
                    "DEMO_PASSWORD applies only when they are created: start from a new "
                    "database to use it."
                )
        if result.created_files:
            self.stdout.write(f"Created files: {', '.join(result.created_files)}")
        else:
            self.stdout.write("Demo files exist already.")
        link_file: Path | None = options["share_link_file"]
        if link_file is not None:
            token, new = demo_share_link(read_password(link_file))
            if new:
                # A share link's token opens a file: as private as a password.
                write_password(link_file, token)
                self.stdout.write(f"Created a share link to alice's video: /s/{token}")
