"""ASGI entry point: `uvicorn project.asgi:application` (README, "Under ASGI").

Not Django's own handler: downloads.asgi streams every body a chunk at a time, where Django's
would read a synchronous streaming body (a file, a zip) whole into memory first.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

from downloads.asgi import get_asgi_application

application = get_asgi_application()
