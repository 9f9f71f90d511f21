"""The project's own settings, with the one value tests cannot take from a deployer."""

import os
import tempfile

os.environ.setdefault("DJANGO_SECRET_KEY", "tests-only-secret-key-not-for-any-deployment")

from project.settings import *  # noqa: F403

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # Tests that start a real server need the test database in a file both processes can open;
    # one per test run, so two runs on one machine never share it.
    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": os.path.join(
            tempfile.gettempdir(), f"protected-downloads-test-{os.getpid()}.sqlite3"
        )
    }

# Pages render without a prior collectstatic; test_static.py switches the manifest back on.
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Password hashing is the slowest thing a test does; tests need no real protection.
# Live-server tests hash with PBKDF2 (tests/servers.py), which the server checks.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.MD5PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]

# Each test run's download log writers report here, not in the machine's shared default.
DOWNLOADS_LOG_STATUS_DIR = os.path.join(
    tempfile.gettempdir(), f"protected-downloads-test-log-status-{os.getpid()}"
)
