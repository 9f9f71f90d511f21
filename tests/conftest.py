import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, User

from downloads.models import StoredFile
from tests.stored import store_file

pytest_plugins = ["tests.servers", "tests.browser", "tests.livefiles"]


@pytest.fixture(autouse=True)
def private_media(settings, tmp_path: Path) -> Path:
    """Each test gets its own storage directory, so no test sees another's bytes."""
    media = tmp_path / "media"
    media.mkdir()
    settings.MEDIA_ROOT = media
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(media), "base_url": None},
        },
    }
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
