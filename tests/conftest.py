import hashlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import Group, User
from django.core.management.base import CommandError
from django.core.management.commands import flush
from django.db import DEFAULT_DB_ALIAS, OperationalError, connections
from django.test.utils import setup_databases, teardown_databases

from downloads.models import StoredFile
from harness.storages import local_storage, with_default_storage
from tests.stored import store_file

pytest_plugins = ["tests.servers", "tests.browser", "tests.livefiles", "tests.prunehelp"]

FLUSH_TRIES = 5


# The database as configured, before any test database replaces its name.
CONFIGURED_DATABASE = django_settings.DATABASES[DEFAULT_DB_ALIAS]["NAME"]


@pytest.fixture(scope="session")
def django_db_setup(
    django_db_setup: None, django_db_blocker: Any, request: pytest.FixtureRequest
) -> Iterator[None]:
    """pytest-django makes only the test databases its own fixtures (`db`, `transactional_db`)
    ask for. The live-server tests ask through the servers and module fixtures instead, which it
    cannot see: a live module run alone would get no test database, and its rows, and the flush
    at its end, would go to the configured database (a developer's db.sqlite3 with the demo).
    Whenever an integration test is collected and no test database was made, make one."""
    made = connections[DEFAULT_DB_ALIAS].settings_dict["NAME"] != CONFIGURED_DATABASE
    live = any(item.get_closest_marker("integration") for item in request.session.items)
    if made or not live:
        yield
        return
    with django_db_blocker.unblock():
        old_config = setup_databases(verbosity=0, interactive=False, aliases={DEFAULT_DB_ALIAS})
    yield
    with django_db_blocker.unblock():
        teardown_databases(old_config, verbosity=0)


@pytest.fixture(autouse=True, scope="session")
def flush_outlasts_live_log_writers() -> Iterator[None]:
    """A live server writes a download's log row when the body ends, which can be just after
    the test has read the last byte and begun flushing the database. On PostgreSQL the flush's
    TRUNCATE and that INSERT can deadlock, and the flush may be the one refused: it is tried
    again (the writer retries its side by itself)."""
    handle = flush.Command.handle

    def handle_with_retries(self: flush.Command, *args: Any, **options: Any) -> Any:
        for attempt in range(1, FLUSH_TRIES + 1):
            try:
                return handle(self, *args, **options)
            except CommandError as error:
                deadlock = isinstance(error.__cause__, OperationalError) and "deadlock" in str(
                    error.__cause__
                )
                if not deadlock or attempt == FLUSH_TRIES:
                    raise
                time.sleep(0.2 * attempt)
        return None

    flush.Command.handle = handle_with_retries  # type: ignore[method-assign]
    yield
    flush.Command.handle = handle  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def private_media(settings, tmp_path: Path) -> Path:
    """Each test gets its own storage directory, so no test sees another's bytes."""
    media = tmp_path / "media"
    media.mkdir()
    settings.MEDIA_ROOT = media
    settings.STORAGES = with_default_storage(local_storage(media))
    return media


@pytest.fixture
def alice(db) -> User:
    return User.objects.create_user("alice", password="pw-alice")


@pytest.fixture
def bob(db) -> User:
    return User.objects.create_user("bob", password="pw-bob")


@pytest.fixture
def carol(db) -> User:
    return User.objects.create_user("carol", password="pw-carol")


@pytest.fixture
def reviewers(db, bob: User) -> Group:
    group = Group.objects.create(name="reviewers")
    group.user_set.add(bob)
    return group


MakeFile = Callable[..., StoredFile]


@pytest.fixture
def make_file(db, alice: User) -> MakeFile:
    def make(
        content: bytes = b"hello world\n",
        name: str = "hello.txt",
        owner: User | None = None,
        share_with: User | Group | None = None,
    ) -> StoredFile:
        return store_file(owner or alice, name, content, share_with)

    return make


@pytest.fixture
def alice_client(client, alice: User):
    client.force_login(alice)
    return client


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def stored_keys(media: Path) -> Iterator[str]:
    return (p.relative_to(media).as_posix() for p in media.rglob("*") if p.is_file())


@pytest.fixture(scope="session", autouse=True)
def download_log_writer_stopped(django_db_setup, django_db_blocker) -> Iterator[None]:
    """The log writer's thread, and its database connection, end before the test database is
    dropped (PostgreSQL refuses to drop a database someone is connected to)."""
    from downloads.logwriter import WRITER

    yield
    with django_db_blocker.unblock():
        WRITER.stop()
