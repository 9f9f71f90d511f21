"""python -m bench.access_check [CALLS]: CPU per call of the one-file access check.

`downloads.access.downloadable_file(user, id)` in-process, on a throwaway SQLite database, for a
plain user (group grant), a staff user holding download_any and a superuser: the best of five
rounds of CALLS calls (default 10,000), as CPU time, which a busy machine disturbs less than
wall-clock time. Run it before and after a change to the policy or to downloads/prepared.py.
"""

import os
import sys
import tempfile
import time


def main(calls: int) -> None:
    work = tempfile.mkdtemp(prefix="access-check-")
    os.environ["DATABASE_URL"] = f"sqlite:///{work}/db.sqlite3"
    os.environ["MEDIA_ROOT"] = f"{work}/media"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()
    from django.contrib.auth.models import Group, Permission, User
    from django.core.management import call_command

    from downloads.access import downloadable_file
    from downloads.models import Grant
    from tests.stored import store_file

    call_command("migrate", verbosity=0)
    for n in range(10):
        User.objects.create_user(f"filler{n}")
    owner = User.objects.create_user("owner")
    plain = User.objects.create_user("plain")
    staff = User.objects.create_user("staff", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="download_any"))
    root = User.objects.create_superuser("root")
    group = Group.objects.create(name="readers")
    group.user_set.add(plain)
    target = store_file(owner, "target.txt", b"x")
    Grant.objects.create(file=target, group=group)
    users = [("plain, group grant", plain), ("staff, download_any", staff), ("superuser", root)]
    for name, user in users:
        assert downloadable_file(user, target.pk) == target
        best = float("inf")
        for _round in range(5):
            start = time.process_time()
            for _ in range(calls):
                downloadable_file(user, target.pk)
            best = min(best, (time.process_time() - start) / calls)
        print(f"{name:20} {best * 1e6:6.1f} µs CPU per call (best of 5 rounds of {calls})")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
