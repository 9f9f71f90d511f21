"""ASGI entry point, for servers that speak ASGI."""

import os

from django.core.asgi import get_asgi_application

from project.database import WEB_STATEMENT_TIMEOUT_S

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
# Requests get a deadline on every database statement; management commands do not
# (project/database.py).
os.environ.setdefault("DATABASE_STATEMENT_TIMEOUT", str(WEB_STATEMENT_TIMEOUT_S))

application = get_asgi_application()
