"""python -m bench.tokens [REQUESTS]: CPU per download request, logged-in session vs API token.

The whole Django stack in-process (the test client: every middleware, the view, a 1 KiB file's
response read to the end), on a throwaway SQLite database: the best of five rounds of REQUESTS
requests (default 500), as CPU time, which a busy machine disturbs less than wall-clock time.
Queries per request: session 3 (the session, the user, the access check), token 4 (the address's
failure count, the token, its user, the access check); the token's "last used" is written at most
once a minute, so no round writes it more than once.
"""

import os
import sys
import tempfile
import time


def main(requests: int) -> None:
    work = tempfile.mkdtemp(prefix="bench-tokens-")
    os.environ["DATABASE_URL"] = f"sqlite:///{work}/db.sqlite3"
    os.environ["MEDIA_ROOT"] = f"{work}/media"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.test import Client

    from downloads.tokens import ApiToken
    from tests.stored import store_file

    settings.ALLOWED_HOSTS = ["testserver"]
    call_command("migrate", verbosity=0)
    owner = User.objects.create_user("owner")
    stored = store_file(owner, "one.bin", b"x" * 1024)
    url = stored.get_download_url()
    session = Client()
    session.force_login(owner)
    secret = ApiToken.issue(owner, "bench")[1]
    bearer = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")

    def fetch(client: Client) -> None:
        response = client.get(url)
        assert response.status_code == 200, response.status_code
        b"".join(response.streaming_content)  # type: ignore[attr-defined]

    for name, client in [("session cookie", session), ("Bearer token", bearer)]:
        fetch(client)
        best = float("inf")
        for _round in range(5):
            start = time.process_time()
            for _ in range(requests):
                fetch(client)
            best = min(best, (time.process_time() - start) / requests)
        print(f"{name:15} {best * 1e3:6.2f} ms CPU per download (best of 5 rounds of {requests})")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 500)
