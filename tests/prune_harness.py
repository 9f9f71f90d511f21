"""`manage.py prune` with a pause at one chosen point, for tests that interrupt it for real.

    python -m tests.prune_harness hold-before-delete N -- <prune options>
        archives batch N, prints "archived, not deleted" and waits to be killed (SIGKILL);
    python -m tests.prune_harness pause-after-delete N -- <prune options>
        deletes batch N, prints "deleted" and waits for a line on stdin, then goes on.

Everything else — the database, the storage, the archives — is the real command's; only the
moment is chosen, so a test knows what state it interrupts.
"""

import os
import sys
import time

import django


def main() -> None:
    mode, batch = sys.argv[1], int(sys.argv[2])
    prune_args = sys.argv[sys.argv.index("--") + 1 :]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    django.setup()
    from django.core.management import execute_from_command_line

    from downloads import logarchive

    real_delete = logarchive.delete_archived_rows
    calls = 0

    def delete_archived_rows(ids: list[int]) -> int:
        nonlocal calls
        calls += 1
        if mode == "hold-before-delete" and calls == batch:
            print("archived, not deleted", flush=True)
            time.sleep(600)
            raise SystemExit("not killed within 600 s")
        deleted = real_delete(ids)
        if mode == "pause-after-delete" and calls == batch:
            print("deleted", flush=True)
            sys.stdin.readline()
        return deleted

    logarchive.delete_archived_rows = delete_archived_rows  # type: ignore[assignment]
    execute_from_command_line(["manage.py", "prune", *prune_args])


if __name__ == "__main__":
    main()
