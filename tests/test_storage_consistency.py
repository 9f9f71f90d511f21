"""Storage and database stay consistent: every record has its bytes, no bytes outlive a record."""

import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction

from downloads.files import files_rollback_guard
from downloads.models import Grant, StoredFile
from tests.conftest import sha256, stored_keys

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)
KEY = re.compile(r"files/([0-9a-f]{2})/\1[0-9a-f]{30}")


class Abort(Exception):
    """What goes wrong later in a unit of work."""


def fail_after(block: AbstractContextManager, work: Callable[[], object]) -> None:
    """Do `work` inside `block`, then fail, as a request does when a later step raises."""
    with block:
        work()
        raise Abort


def upload(owner: User, content: bytes, uploaded_name: str, **fields) -> StoredFile:
    """A new record from an upload not yet in storage, as a form hands it to save()."""
    return StoredFile(owner=owner, file=ContentFile(content, name=uploaded_name), **fields)


def test_bytes_go_under_a_generated_key_never_the_uploaders_name(alice, private_media):
    stored = upload(alice, b"secret", "../../etc/passwd; rm -rf.txt")
    stored.save()
    assert KEY.fullmatch(stored.file.name), stored.file.name
    assert list(stored_keys(private_media)) == [stored.file.name]
    assert (private_media / stored.file.name).read_bytes() == b"secret"
    assert stored.name == "../../etc/passwd; rm -rf.txt"[len("../../etc/") :]


def test_two_uploads_of_one_name_get_two_keys(alice, private_media):
    first = upload(alice, b"one", "same.txt")
    first.save()
    second = upload(alice, b"two", "same.txt")
    second.save()
    assert first.file.name != second.file.name
    assert sorted(stored_keys(private_media)) == sorted([first.file.name, second.file.name])


def test_metadata_is_computed_at_save(alice):
    stored = upload(alice, PNG, "holiday.bin", name="")
    stored.save()
    stored.refresh_from_db()
    assert stored.name == "holiday.bin"
    assert stored.size == len(PNG)
    assert stored.sha256 == sha256(PNG)
    # The bytes decide over the name.
    assert stored.content_type == "image/png"
    assert stored.updated is not None
    assert stored.updated.microsecond == 0  # Last-Modified has whole seconds
    assert stored.etag == f'"{sha256(PNG)}"'


def test_a_given_display_name_is_kept(alice):
    stored = upload(alice, b"hello", "upload.tmp", name="Notes.txt")
    stored.save()
    assert stored.name == "Notes.txt"
    assert stored.content_type == "text/plain; charset=utf-8"


def test_saving_without_new_bytes_keeps_bytes_and_facts(alice, private_media, make_file):
    stored = make_file(b"unchanged")
    key, digest, updated = stored.file.name, stored.sha256, stored.updated
    with transaction.atomic():
        stored = StoredFile.objects.get(pk=stored.pk)
        stored.description = "edited"
        stored.save()
    assert (stored.file.name, stored.sha256, stored.updated) == (key, digest, updated)
    assert list(stored_keys(private_media)) == [key]


def test_replacing_bytes_removes_the_old_ones_only_after_commit(
    alice, private_media, make_file, django_capture_on_commit_callbacks
):
    stored = make_file(b"old bytes", name="report.txt")
    old_key = stored.file.name
    # Put the last change in the past so that the replacement visibly moves it.
    StoredFile.objects.filter(pk=stored.pk).update(updated=stored.updated - timedelta(days=1))
    stored = StoredFile.objects.get(pk=stored.pk)
    before = stored.updated

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        stored.file = ContentFile(b"new bytes!", name="report.txt")
        stored.save()
        # Not committed yet: a reader of the old row must still find the old bytes.
        assert (private_media / old_key).read_bytes() == b"old bytes"
    assert len(callbacks) == 1

    stored.refresh_from_db()
    assert stored.file.name != old_key
    assert KEY.fullmatch(stored.file.name)
    assert not (private_media / old_key).exists()
    assert list(stored_keys(private_media)) == [stored.file.name]
    assert (stored.size, stored.sha256) == (10, sha256(b"new bytes!"))
    assert stored.updated > before


def test_replacement_in_a_rolled_back_transaction_keeps_the_old_bytes(
    alice, private_media, make_file, django_capture_on_commit_callbacks
):
    stored = make_file(b"old bytes")
    old_key = stored.file.name
    stored.file = ContentFile(b"new bytes", name="x.txt")
    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(Abort):
        fail_after(files_rollback_guard(), stored.save)
    assert callbacks == []
    assert list(stored_keys(private_media)) == [old_key]
    assert StoredFile.objects.get(pk=stored.pk).file.name == old_key


def test_deleting_a_record_removes_its_bytes_after_commit(
    private_media, make_file, django_capture_on_commit_callbacks
):
    stored = make_file(b"doomed")
    key = stored.file.name
    with django_capture_on_commit_callbacks(execute=True):
        stored.delete()
        assert (private_media / key).exists()
    assert not (private_media / key).exists()
    assert list(stored_keys(private_media)) == []


def test_a_rolled_back_delete_keeps_the_bytes(
    private_media, make_file, django_capture_on_commit_callbacks
):
    stored = make_file(b"kept")
    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(Abort):
        fail_after(transaction.atomic(), StoredFile.objects.get(pk=stored.pk).delete)
    assert callbacks == []
    assert StoredFile.objects.filter(pk=stored.pk).exists()
    assert list(stored_keys(private_media)) == [stored.file.name]


def test_bulk_delete_removes_every_files_bytes(
    alice, bob, private_media, make_file, django_capture_on_commit_callbacks
):
    for n in range(3):
        make_file(f"file {n}".encode(), name=f"{n}.txt")
    kept = make_file(b"bob's", owner=bob)
    with django_capture_on_commit_callbacks(execute=True):
        deleted, _ = StoredFile.objects.filter(owner=alice).delete()
    assert deleted >= 3
    assert list(stored_keys(private_media)) == [kept.file.name]


def test_deleting_the_owner_removes_their_files_bytes(
    alice, private_media, make_file, django_capture_on_commit_callbacks
):
    make_file(b"a")
    make_file(b"b")
    with django_capture_on_commit_callbacks(execute=True):
        alice.delete()
    assert StoredFile.objects.count() == 0
    assert list(stored_keys(private_media)) == []


def test_a_row_that_fails_to_insert_leaves_no_bytes(alice, private_media, make_file):
    existing = make_file(b"first")
    duplicate = upload(alice, b"second", "dup.txt")
    duplicate.pk = existing.pk
    with pytest.raises(IntegrityError):
        duplicate.save(force_insert=True)
    assert list(stored_keys(private_media)) == [existing.file.name]
    assert StoredFile.objects.count() == 1


def test_a_row_without_owner_leaves_no_bytes(private_media):
    orphan = StoredFile(file=ContentFile(b"nobody's", name="n.txt"))
    with pytest.raises(IntegrityError):
        orphan.save()
    assert list(stored_keys(private_media)) == []
    assert StoredFile.objects.count() == 0


def test_bytes_written_before_save_are_removed_when_the_row_fails(alice, private_media):
    # The management-command way: write the bytes first, then save the row.
    stored = StoredFile(name="n.txt")
    stored.file.save("n.txt", ContentFile(b"written early"), save=False)
    assert len(list(stored_keys(private_media))) == 1
    with pytest.raises(IntegrityError):
        stored.save()  # no owner
    assert list(stored_keys(private_media)) == []


def test_a_failure_inside_the_guard_leaves_no_record_and_no_bytes(alice, bob, private_media):
    def share_twice() -> None:
        stored = upload(alice, b"shared", "s.txt")
        stored.save()
        Grant.objects.create(file=stored, user=bob)
        Grant.objects.create(file=stored, user=bob)  # a second grant for one user

    with pytest.raises(IntegrityError):
        fail_after(files_rollback_guard(), share_twice)
    assert StoredFile.objects.count() == 0
    assert Grant.objects.count() == 0
    assert list(stored_keys(private_media)) == []


def test_any_exception_inside_the_guard_removes_every_new_file(alice, private_media, make_file):
    kept = make_file(b"from before")

    def save_three() -> None:
        for n in range(3):
            upload(alice, f"new {n}".encode(), f"{n}.txt").save()

    with pytest.raises(Abort):
        fail_after(files_rollback_guard(), save_three)
    assert list(StoredFile.objects.all()) == [kept]
    assert list(stored_keys(private_media)) == [kept.file.name]


def test_a_committed_guard_keeps_its_files(alice, private_media):
    with files_rollback_guard():
        stored = upload(alice, b"keep me", "k.txt")
        stored.save()
    assert StoredFile.objects.get().file.name == stored.file.name
    assert list(stored_keys(private_media)) == [stored.file.name]


def test_an_inner_guard_failure_does_not_touch_the_outer_guards_files(alice, private_media):
    with files_rollback_guard():
        outer = upload(alice, b"outer", "o.txt")
        outer.save()
        with pytest.raises(Abort):
            fail_after(files_rollback_guard(), upload(alice, b"inner", "i.txt").save)
    assert list(StoredFile.objects.all()) == [outer]
    assert list(stored_keys(private_media)) == [outer.file.name]


def test_an_outer_rollback_removes_bytes_saved_in_an_inner_guard(alice, private_media):
    def inner_guard_commits() -> None:
        with files_rollback_guard():
            upload(alice, b"inner", "i.txt").save()

    # The outer unit of work fails after the inner one committed its savepoint.
    with pytest.raises(Abort):
        fail_after(files_rollback_guard(), inner_guard_commits)
    assert StoredFile.objects.count() == 0
    assert list(stored_keys(private_media)) == [], "the outer guard must also remove inner bytes"
