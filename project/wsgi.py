"""WSGI entry point: gunicorn serves `project.wsgi:application`."""

import os

from django.core.wsgi import get_wsgi_application

from project.database import WEB_STATEMENT_TIMEOUT_S

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
# Requests get a deadline on every database statement; management commands do not
# (project/database.py).
os.environ.setdefault("DATABASE_STATEMENT_TIMEOUT", str(WEB_STATEMENT_TIMEOUT_S))

application = get_wsgi_application()
