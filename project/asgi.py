"""ASGI entry point: `uvicorn project.asgi:application` (README, "Under ASGI").

Not Django's own handler: downloads.asgi streams every body a chunk at a time, where Django's
would read a synchronous streaming body (a file, a zip) whole into memory first.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
# Under ASGI every request runs its sync view in a thread of its own (Django's per-request
# ThreadSensitiveContext), so a persistent connection would be one more open database
# connection per request served, never reused; Django's docs say to turn them off under ASGI.
os.environ.setdefault("DATABASE_CONN_MAX_AGE", "0")

from downloads.asgi import get_asgi_application

application = get_asgi_application()
