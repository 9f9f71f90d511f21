"""ASGI entry point: `uvicorn project.asgi:application` (README, "Under ASGI").

Not Django's own handler: downloads.asgi streams every body a chunk at a time, where Django's
would read a synchronous streaming body (a file, a zip) whole into memory first.
"""

import os

from project.database import WEB_STATEMENT_TIMEOUT_S

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
# Requests get a deadline on every database statement; management commands do not
# (project/database.py).
os.environ.setdefault("DATABASE_STATEMENT_TIMEOUT", str(WEB_STATEMENT_TIMEOUT_S))
# Under ASGI every request runs its sync view in a thread of its own (Django's per-request
# ThreadSensitiveContext), so a persistent connection would be one more open database
# connection per request served, never reused; Django's docs say to turn them off under ASGI.
# (On PostgreSQL the pool already makes them 0: project/database.py.)
os.environ.setdefault("DATABASE_CONN_MAX_AGE", "0")

# Imported after the defaults above, which the settings read.
from downloads.asgi import get_asgi_application

application = get_asgi_application()
