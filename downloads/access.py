"""The one access policy: which files a user may download. Nothing else decides.

The policy is `allowed_files(subject, now)`, a function of plain values: who asks (`Subject`:
the user's id and their superuser and staff flags) and the moment. It has no user object to read
anything else from. A rule that needs another fact about the user adds it to `Subject`, where the
compiled check below must declare it too, or refuses to compile.

The list page, the JSON API and the admin start from `downloadable_files(user)`: the request's
user turned into a Subject, then the policy, as one SQL query whatever the number of grants or
groups. The download view asks for one file through `downloadable_file()`: the same function,
compiled to SQL once per variant (downloads/prepared.py), one variant per combination of the
Subject's flags, the user's id, the file's id and the moment its parameters. `manage.py check`
compiles every variant (downloads/access_checks.py), so a policy the compiled check cannot follow
exactly stops the deploy rather than a download.

Anonymous users have no Subject: they may download nothing, and no SQL is run for them.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from functools import cache
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser, Permission
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Exists, Field, OuterRef, Q, QuerySet
from django.utils import timezone

from downloads.models import Grant, StoredFile
from downloads.prepared import PreparedQuery

DOWNLOAD_ANY = ("downloads", "download_any")

# The Subject's facts that choose the SQL's shape: each combination is a compiled variant.
FLAGS = ("is_superuser", "is_staff")


@dataclass(frozen=True, slots=True)
class Subject:
    """Who asks, as the policy sees them: plain values, no user object behind them."""

    user_id: int | str | uuid.UUID
    is_superuser: bool
    is_staff: bool

    def __post_init__(self) -> None:
        # Runs on every download: written out, and held to FLAGS and VALUES by
        # new_one_file_query(), so a fact added to the Subject is checked here too.
        if type(self.is_superuser) is not bool or type(self.is_staff) is not bool:
            raise TypeError(f"Subject's flags are bools, not {self.variant()!r}.")
        # Not None: the compiled check would compare `= NULL`, the ORM would write IS NULL.
        if type(self.user_id) not in _ID_TYPES:
            raise TypeError(f"Subject.user_id is an id (int, str or UUID), not {self.user_id!r}.")

    @classmethod
    def of(cls, user: AbstractBaseUser | AnonymousUser) -> Subject | None:
        """The request's user as the policy sees them; None for an anonymous user."""
        if not user.is_authenticated:
            return None
        return cls(
            user.pk,
            bool(getattr(user, "is_superuser", False)),
            bool(getattr(user, "is_staff", False)),
        )

    def variant(self) -> tuple[bool, ...]:
        """The flags, in the order of FLAGS."""
        return (self.is_superuser, self.is_staff)

    def values(self) -> dict[str, Any]:
        """The values, named as in VALUES."""
        return {"user_id": self.user_id}


_ID_TYPES = (int, str, uuid.UUID)

# The Subject's facts compared in SQL: parameters of every variant that uses them.
VALUES = tuple(f.name for f in fields(Subject) if f.name not in FLAGS)


def allowed_files(subject: Subject, now: datetime) -> QuerySet[StoredFile]:
    """The policy: the files `subject` may download at `now`."""
    files = StoredFile.objects.all()
    if subject.is_superuser:
        return files
    allowed = Q(owner_id=subject.user_id) | Q(
        Exists(
            Grant.objects.live(now)
            .filter(file=OuterRef("pk"))
            .filter(Q(user_id=subject.user_id) | Q(group__user=subject.user_id))
        )
    )
    if subject.is_staff:
        # Folded into the same query rather than user.has_perm(), which costs two more.
        app_label, codename = DOWNLOAD_ANY
        allowed |= Q(
            Exists(
                Permission.objects.filter(
                    content_type__app_label=app_label, codename=codename
                ).filter(Q(user=subject.user_id) | Q(group__user=subject.user_id))
            )
        )
    return files.filter(allowed)


def _unused_by(variant: tuple[bool, ...]) -> frozenset[str]:
    """What a variant's SQL does not depend on; the compiler holds every variant to it."""
    flags = dict(zip(FLAGS, variant, strict=True))
    # A superuser may have every file: the check names neither the user nor the moment.
    return frozenset({*VALUES, "now"}) if flags["is_superuser"] else frozenset()


def downloadable_files(
    user: AbstractBaseUser | AnonymousUser, *, now: datetime | None = None
) -> QuerySet[StoredFile]:
    subject = Subject.of(user)
    if subject is None:
        return StoredFile.objects.none()
    return allowed_files(subject, timezone.now() if now is None else now)


def downloadable_file(
    user: AbstractBaseUser | AnonymousUser, file_id: uuid.UUID | str
) -> StoredFile | None:
    """The file with this id if `user` may download it; None if it is missing or not theirs."""
    subject = Subject.of(user)
    if subject is None:
        return None
    return _one_file_query().first(
        subject.variant(), **subject.values(), file_id=file_id, now=timezone.now()
    )


def _one_file(
    variant: tuple[bool, ...], *, file_id: uuid.UUID, now: datetime, **values: Any
) -> QuerySet[StoredFile]:
    subject = Subject(**dict(zip(FLAGS, variant, strict=True)), **values)
    return allowed_files(subject, now).filter(pk=file_id)


def _subject_values() -> dict[str, tuple[Field[Any, Any], tuple[Any, Any]]]:
    """Each Subject value: the column the policy compares it with (how it is adapted), and two
    stand-ins that differ, used only while compiling."""
    return {"user_id": (get_user_model()._meta.pk, (1, 2))}


def new_one_file_query() -> PreparedQuery[StoredFile]:
    """The one-file check as it stands now, not yet compiled (`manage.py check` compiles one)."""
    declared = _subject_values()
    if undeclared := [name for name in VALUES if name not in declared]:
        raise ImproperlyConfigured(
            f"Subject.{', '.join(undeclared)} is not declared in access._subject_values(): the "
            "compiled one-file check could not give it to the policy."
        )
    _hold_the_subject_to_its_declaration(declared)
    first = {"file_id": uuid.UUID(int=1), "now": datetime(2001, 1, 1, tzinfo=UTC)}
    second = {"file_id": uuid.UUID(int=2), "now": datetime(2002, 2, 2, tzinfo=UTC)}
    for name in VALUES:
        first[name], second[name] = declared[name][1]
    return PreparedQuery(
        StoredFile,
        _one_file,
        fields={
            **{name: declared[name][0] for name in VALUES},
            "file_id": StoredFile._meta.pk,
            "now": Grant._meta.get_field("expires_at"),
        },
        stand_ins=(first, second),
        variants={
            variant: _unused_by(variant)
            for variant in itertools.product((False, True), repeat=len(FLAGS))
        },
    )


def _hold_the_subject_to_its_declaration(
    declared: dict[str, tuple[Field[Any, Any], tuple[Any, Any]]],
) -> None:
    """Subject's hand-written fast paths name exactly its FLAGS and VALUES, in order, and refuse
    anything but a bool flag and an id value (None included)."""
    values = {name: declared[name][1][0] for name in VALUES}
    for variant in itertools.product((False, True), repeat=len(FLAGS)):
        sample = Subject(**dict(zip(FLAGS, variant, strict=True)), **values)
        if sample.variant() != variant or sample.values() != values:
            raise ImproperlyConfigured(
                "Subject.variant() or .values() does not follow FLAGS, VALUES."
            )
    wrong = {name: "yes" for name in FLAGS} | {name: None for name in VALUES}
    for name, value in wrong.items():
        try:
            Subject(**{**values, **dict.fromkeys(FLAGS, False), name: value})
        except TypeError:
            continue
        raise ImproperlyConfigured(f"Subject accepts {name}={value!r}; it must refuse it.")


# The one the download view uses, compiled variant by variant on first use in each process.
_one_file_query = cache(new_one_file_query)
