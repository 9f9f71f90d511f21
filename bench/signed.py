"""Signed media URLs (/m/...) for the benchmark's files, made by downloads.signedmedia: the code
the pages embed them with, in this process (Django set up with the servers' secret key)."""

import time

# Longer than the longest run: the URLs are made once, before rounds that take many minutes
# (the pages' own URLs live a few minutes).
LIFETIME_S = 4 * 3600


def signed_paths(ids: list[str], *, inline: bool) -> dict[str, str]:
    """id -> the path of a signed URL for that file's current bytes."""
    from django.db import connection

    from downloads.models import StoredFile
    from downloads.signedmedia import sign, signed_for

    expires = int(time.time()) + LIFETIME_S
    try:
        stored = {str(file.pk): file for file in StoredFile.objects.filter(pk__in=ids)}
        return {id: sign(signed_for(stored[id], inline=inline, expires=expires)) for id in ids}
    finally:
        # The servers are the database's only users while the rounds run.
        connection.close()
