"""The environment every process that runs the app gets: the servers, and the process that
fills their database and storage, so all of them see the same rows and files."""

from pathlib import Path
from typing import Any


def app_env(
    *, secret_key: str, database_url: str, media_root: Path, static_root: Path, **extra: str
) -> dict[str, str]:
    return {
        "DJANGO_SETTINGS_MODULE": "project.settings",
        "DJANGO_SECRET_KEY": secret_key,
        "DATABASE_URL": database_url,
        "MEDIA_ROOT": str(media_root),
        "STATIC_ROOT": str(static_root),
        **extra,
    }


def database_url_of(database: dict[str, Any]) -> str:
    """A Django DATABASES entry (e.g. the test database's) as a DATABASE_URL for a server."""
    if database["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{database['NAME']}"
    user = database.get("USER") or ""
    password = f":{database['PASSWORD']}" if database.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    host = database.get("HOST") or "localhost"
    port = f":{database['PORT']}" if database.get("PORT") else ""
    return f"postgres://{auth}{host}{port}/{database['NAME']}"
