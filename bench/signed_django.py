"""python -m bench.signed_django [SECONDS] [ROUNDS]: a 1 KiB file through a signed media URL
(/m/) against the checked download, in django mode, through the shipped gunicorn configuration
alone.

Both requests send the same logged-in session cookie (a browser sends it with an <img> too); the
checked download reads the session, the user and the access check, and writes its log row; the
signed URL is checked by its signature, fetches the file's row by id and writes its log row.
wrk with 16 connections, SECONDS per run (default 8), the two alternating for ROUNDS rounds
(default 3); the medians are printed with every round's figure. Issue 11's target: the signed URL
at least 2x the checked download's requests/s.
"""

import os
import statistics
import sys
import time

from bench import servers, workspace, wrk
from harness.login import login

USERNAME = "bench-signed"
PASSWORD = "bench-signed-" + os.urandom(6).hex()
CONNECTIONS = 16


def main(seconds: float, rounds: int) -> None:
    ws = workspace.create()
    try:
        os.environ.update(ws.app_env(DJANGO_SETTINGS_MODULE="project.settings"))
        import django

        django.setup()
        from django.contrib.auth.models import User
        from django.core.management import call_command
        from django.db import connection

        from downloads.signedmedia import sign, signed_for
        from tests.stored import store_file

        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)  # the login page's assets
        owner = User.objects.create_user(USERNAME, password=PASSWORD)
        stored = store_file(owner, "one.png", b"\x89PNG\r\n\x1a\n" + os.urandom(1016))
        signed_path = sign(signed_for(stored, inline=True, expires=int(time.time()) + 3600))
        connection.close()  # the server is the database's only user from now on
        server = servers.start_gunicorn(ws, "signed")
        try:
            cookie = login(server.url, USERNAME, PASSWORD).cookies["sessionid"]
            headers = {"Cookie": f"sessionid={cookie}"}
            urls = {
                "checked download": server.url + stored.get_download_url(),
                "signed URL (/m/)": server.url + signed_path,
            }
            figures: dict[str, list[float]] = {name: [] for name in urls}
            for url in urls.values():  # warm-up: imports, the compiled access check
                wrk.run(url, seconds=1, connections=4, threads=2, headers=headers)
            for _ in range(rounds):
                for name, url in urls.items():
                    result = wrk.run(
                        url, seconds=seconds, connections=CONNECTIONS, threads=2, headers=headers
                    )
                    if result.errors:
                        raise SystemExit(f"{name}: {result.errors} errors\n{result.report}")
                    figures[name].append(result.requests_per_s)
        finally:
            server.stop()
        for name, rates in figures.items():
            runs = ", ".join(f"{rate:,.0f}" for rate in rates)
            print(f"{name:18} {statistics.median(rates):8,.0f} req/s (median; runs {runs})")
        checked, signed = (statistics.median(rates) for rates in figures.values())
        print(f"signed / checked: {signed / checked:.2f}x (target: at least 2x)")
    finally:
        ws.remove()


if __name__ == "__main__":
    main(
        float(sys.argv[1]) if len(sys.argv) > 1 else 8.0,
        int(sys.argv[2]) if len(sys.argv) > 2 else 3,
    )
