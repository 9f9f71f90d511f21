import os
from typing import Any

from django.core.management.base import BaseCommand

from downloads.demo import create_demo


class Command(BaseCommand):
    help = (
        "Create demo users (alice, bob, admin), a group and sample files. Passwords come from "
        "DEMO_PASSWORD, or one is generated and printed. Safe to run again."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        result = create_demo(os.environ.get("DEMO_PASSWORD") or None)
        if result.created_users:
            self.stdout.write(f"Created users: {', '.join(result.created_users)}")
            self.stdout.write(f"Their password: {result.password}")
        else:
            self.stdout.write("Demo users exist already; their passwords are unchanged.")
        if result.created_files:
            self.stdout.write(f"Created files: {', '.join(result.created_files)}")
        else:
            self.stdout.write("Demo files exist already.")
