"""Files and logged-in clients for tests that download through the live stacks (tests/servers.py).

The rows are made once per test module and committed, so the servers see them; the module's end
flushes the database, as a TransactionTestCase does after each test.
"""

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.test import override_settings

from downloads.models import StoredFile
from harness.login import login
from harness.storages import local_storage, with_default_storage
from tests.contract_cases import BODY
from tests.servers import RATE_LIMIT, Stack, make_live_user

USER = "contract-alice"
OTHER = "contract-bob"
PASSWORD = "contract-password-1"
RESTORED_AT = 1_000_000_000  # 2001-09-09

# name -> bytes of the files whose names and types the contract is about.
NAMED: dict[str, bytes] = {
    "data.bin": BODY,
    "résumé 2024.pdf": b"%PDF-1.4\n%%EOF\n",
    "報告書.pdf": b"%PDF-1.4\n%%EOF\n",
    "doc.pdf": b"%PDF-1.4\n%%EOF\n",
    "pic.png": b"\x89PNG\r\n\x1a\n" + b"\0" * 16,
    "notes.txt": b"plain words\n",
    "page.html": b"<!doctype html><script>alert(1)</script>",
    "pic.svg": b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
    "data.xml": b'<?xml version="1.0"?><a/>',
    "blob.bin": b"\x00\x01\x02",
    "empty.txt": b"",
    # Three seconds' worth for the rate-limited stack.
    "big.bin": bytes(range(256)) * (3 * RATE_LIMIT // 256),
}


@dataclass
class Files:
    """One storage's files: `named` are the user's; `foreign` is another user's, not shared."""

    named: dict[str, StoredFile]
    foreign: StoredFile

    @property
    def data(self) -> StoredFile:
        return self.named["data.bin"]


@dataclass
class Live:
    """A logged-in browser-like client of one stack."""

    stack: Stack
    session: requests.Session
    files: Files
    anonymous: requests.Session = field(default_factory=requests.Session)

    def url(self, stored: StoredFile, query: str = "") -> str:
        return f"{self.stack.url}{stored.get_download_url()}{query}"

    def get(
        self, stored: StoredFile, headers: dict[str, str] | None = None, query: str = ""
    ) -> requests.Response:
        return self.session.get(
            self.url(stored, query), headers=headers or {}, allow_redirects=False, timeout=10
        )

    def head(self, stored: StoredFile, headers: dict[str, str] | None = None) -> requests.Response:
        return self.session.head(
            self.url(stored), headers=headers or {}, allow_redirects=False, timeout=10
        )


def storage_setting(storage: str, live_media: Path, request: pytest.FixtureRequest) -> Any:
    if storage == "s3":
        return request.getfixturevalue("moto_s3").storage_settings()
    return local_storage(live_media)


@pytest.fixture(scope="module")
def live_files(
    request: pytest.FixtureRequest, django_db_blocker: Any, live_media: Path
) -> Iterator[Callable[[str], Files]]:
    """The contract's files in a storage ("local" or "s3"), made on first use."""
    made: dict[str, Files] = {}
    users: dict[str, User] = {}

    def files_in(storage: str) -> Files:
        if storage in made:
            return made[storage]
        default = storage_setting(storage, live_media, request)
        with (
            django_db_blocker.unblock(),
            override_settings(STORAGES=with_default_storage(default)),
        ):
            if not users:
                users[USER] = make_live_user(USER, PASSWORD)
                users[OTHER] = make_live_user(OTHER, PASSWORD)
            named = {name: _stored(name, content, users[USER]) for name, content in NAMED.items()}
            foreign = _stored("secret.txt", b"not yours\n", users[OTHER])
        if storage == "local":
            # As after a restore from backup: the files' mtimes say nothing about `updated`, so
            # a server that answered from mtimes instead of the app's validators would fail.
            for stored in [*named.values(), foreign]:
                os.utime(live_media / stored.file.name, (RESTORED_AT, RESTORED_AT))
        made[storage] = Files(named=named, foreign=foreign)
        return made[storage]

    yield files_in
    with django_db_blocker.unblock():
        call_command("flush", interactive=False, verbosity=0)


def _stored(name: str, content: bytes, owner: User) -> StoredFile:
    stored = StoredFile(owner=owner, name=name)
    stored.file.save(name, ContentFile(content), save=False)
    stored.save()
    return stored


@pytest.fixture(scope="module")
def live_sessions() -> Callable[[Stack], requests.Session]:
    """One logged-in session per stack, logged in through that stack's nginx."""
    sessions: dict[str, requests.Session] = {}

    def session_for(stack: Stack) -> requests.Session:
        if stack.name not in sessions:
            sessions[stack.name] = login(stack.url, USER, PASSWORD)
        return sessions[stack.name]

    return session_for


@pytest.fixture(scope="module")
def live_for(
    live_stack: Callable[[str], Stack],
    live_files: Callable[[str], dict[str, StoredFile]],
    live_sessions: Callable[[Stack], requests.Session],
) -> Callable[[str], Live]:
    """A stack by name with its files and a logged-in session."""

    def make(name: str) -> Live:
        stack = live_stack(name)
        files = live_files(stack.storage)  # makes the user the session logs in as
        return Live(stack=stack, session=live_sessions(stack), files=files)

    return make
