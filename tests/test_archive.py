"""downloads/archive.py: the zip itself, read back with zipfile and with the streaming scanner."""

import io
import os
import zipfile
from pathlib import Path

import pytest

from downloads.archive import (
    MAX_NAME_BYTES,
    MemberChangedError,
    build_archive,
    is_already_compressed,
    member_names,
    plan_compression,
)
from downloads.models import StoredFile
from harness.storages import local_storage, with_default_storage
from tests.sparse import ExpectedBytes, fast_sparse_directory, sparse_file
from tests.zipscan import scan_zip

GiB = 1024**3
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40
TEXT = "Zeile für Zeile, line after line.\n".encode() * 2000


def read_all(files, deflate_max_bytes=64 * 1024**2) -> tuple[bytes, int | None]:
    archive = build_archive(files, deflate_max_bytes=deflate_max_bytes)
    return b"".join(archive.chunks), archive.length


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("report.pdf", "report.pdf"),
        ("../../etc/passwd", "_.._etc_passwd"),
        ("/abs", "_abs"),
        ("/etc/shadow.txt", "_etc_shadow.txt"),
        ("a\\b.txt", "a_b.txt"),
        ("C:\\Windows\\win.ini", "C__Windows_win.ini"),
        ("nul\x00byte\x07bell.txt", "nulbytebell.txt"),
        ("line\r\nbreak.txt", "linebreak.txt"),
        ("tab\there.txt", "tabhere.txt"),
        ("evil\u202egpj.exe", "evilgpj.exe"),
        ("re\u200bport\ufeff.pdf", "report.pdf"),
        ("\u2060\u00ad\u180e.env", "env"),
        ("a\u200d\u200c\U000e0041.txt", "a.txt"),
        ("...", "download"),
        ("  .hidden", "hidden"),
        ("trailing. . ", "trailing"),
        ('what?<is>|this*:"', "what__is__this___"),
        ("con.txt", "_con.txt"),
        ("LPT1", "_LPT1"),
        ("Übersicht 报告.txt", "Übersicht 报告.txt"),
    ],
)
def test_member_names_are_flat_and_portable(given, expected):
    (name,) = member_names([given])
    assert name == expected
    assert "/" not in name
    assert "\\" not in name
    assert name not in (".", "..")
    assert not name.startswith(".")
    assert all(ord(char) >= 32 and char != "\x7f" for char in name)


def test_duplicate_names_are_numbered_ignoring_case():
    names = member_names(
        [
            *("report.pdf", "report.pdf", "Report.PDF", "report (2).pdf", "notes", "notes"),
            *("backup.tar.gz", "backup.tar.gz", "a../b", "a.._b"),
        ]
    )
    assert names == [
        "report.pdf",
        "report (2).pdf",
        "Report (3).PDF",
        "report (2) (2).pdf",
        "notes",
        "notes (2)",
        "backup.tar.gz",
        "backup (2).tar.gz",
        "a.._b",
        "a.._b (2)",
    ]
    assert len({name.casefold() for name in names}) == len(names)


def test_long_names_keep_their_extension_within_255_bytes():
    names = member_names(["x" * 300 + ".txt", "é" * 200 + ".txt", "é" * 200 + ".txt"])
    assert all(len(name.encode()) <= MAX_NAME_BYTES for name in names)
    assert all(name.endswith(".txt") for name in names)
    assert names[2].endswith(" (2).txt")
    assert names[1] != names[2]


@pytest.mark.parametrize(
    ("content_type", "compressed"),
    [
        ("image/png", True),
        ("image/jpeg", True),
        ("video/mp4", True),
        ("audio/mpeg", True),
        ("application/pdf", True),
        ("application/zip", True),
        ("application/gzip", True),
        ("application/epub+zip", True),
        ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", True),
        ("font/woff2", True),
        ("IMAGE/PNG; foo=bar", True),
        ("image/svg+xml", False),
        ("image/bmp", False),
        ("audio/wav", False),
        ("text/plain; charset=utf-8", False),
        ("text/csv", False),
        ("application/json", False),
        ("application/octet-stream", False),
    ],
)
def test_already_compressed_is_decided_by_content_type(content_type, compressed):
    assert is_already_compressed(content_type) is compressed


def test_every_member_round_trips(make_file):
    files = [
        make_file(TEXT, "notes.txt"),
        make_file(PNG, "picture.png"),
        make_file(b"", "empty.txt"),
        make_file(os.urandom(700_000), "noise.bin"),
        make_file(TEXT, "notes.txt"),
    ]
    data, _ = read_all(files)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        assert archive.namelist() == [
            "notes.txt",
            "picture.png",
            "empty.txt",
            "noise.bin",
            "notes (2).txt",
        ]
        for info, stored in zip(archive.infolist(), files, strict=True):
            with stored.file.open("rb") as source:
                assert archive.read(info) == source.read()
    scanned = scan_zip([data], [stored.size for stored in files], sha256=True)
    assert [member.sha256 for member in scanned.members] == [stored.sha256 for stored in files]


def test_hostile_names_extract_inside_the_target_directory(make_file, tmp_path):
    hostile = ["../../etc/passwd", "/abs", "a\\b", "ctrl\x01\x1b[31m", "cr\r\nlf", "dup", "DUP"]
    files = [make_file(f"bytes of {name!r}".encode(), name) for name in hostile]
    data, _ = read_all(files)
    target = tmp_path / "out"
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        archive.extractall(target)
    extracted = sorted(path.relative_to(target).as_posix() for path in target.rglob("*"))
    assert len(extracted) == len(hostile)
    assert all("/" not in name for name in extracted)  # flat: every member is directly inside
    for stored, name in zip(files, member_names(hostile), strict=True):
        assert (target / name).read_bytes() == stored.file.open("rb").read()


def test_compressed_types_only_is_stored_with_an_exact_length(make_file):
    files = [make_file(PNG, "a.png"), make_file(b"%PDF-1.4\n" + TEXT, "b.pdf")]
    data, length = read_all(files)
    assert length == len(data)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert {info.compress_type for info in archive.infolist()} == {zipfile.ZIP_STORED}


def test_small_text_is_deflated_and_the_length_is_unknown(make_file):
    files = [make_file(TEXT, "notes.txt"), make_file(PNG, "a.png")]
    assert plan_compression(files, deflate_max_bytes=len(TEXT)) == {files[0].pk}
    data, length = read_all(files, deflate_max_bytes=len(TEXT))
    assert length is None
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        notes, picture = archive.infolist()
        assert notes.compress_type == zipfile.ZIP_DEFLATED
        assert notes.compress_size < len(TEXT) / 5
        assert picture.compress_type == zipfile.ZIP_STORED
        assert archive.read(notes) == TEXT


@pytest.mark.parametrize("deflate_max_bytes", [0, len(TEXT) - 1])
def test_too_much_text_to_deflate_means_everything_stored(make_file, deflate_max_bytes):
    files = [make_file(TEXT, "notes.txt"), make_file(PNG, "a.png")]
    data, length = read_all(files, deflate_max_bytes=deflate_max_bytes)
    assert length == len(data)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        assert {info.compress_type for info in archive.infolist()} == {zipfile.ZIP_STORED}


def test_nothing_is_read_before_the_archive_is_iterated(make_file, private_media):
    stored = make_file(PNG, "a.png")
    (private_media / stored.file.name).unlink()
    archive = build_archive([stored], deflate_max_bytes=0)
    assert archive.length is not None
    with pytest.raises(MemberChangedError) as failure:  # reported and flagged (faults.py)
        b"".join(archive.chunks)
    assert isinstance(failure.value.__cause__, FileNotFoundError)


def test_a_member_shorter_than_recorded_aborts_the_stream(make_file, private_media):
    stored = make_file(PNG, "a.png")
    (private_media / stored.file.name).write_bytes(PNG[:100])
    with pytest.raises(MemberChangedError):
        b"".join(build_archive([stored], deflate_max_bytes=0).chunks)


def open_files_under(directory: Path) -> list[str]:
    targets = (os.readlink(fd) for fd in Path("/proc/self/fd").iterdir() if fd.is_symlink())
    return [target for target in targets if target.startswith(str(directory))]


def test_one_member_open_at_a_time_and_closed_when_the_client_leaves(make_file, private_media):
    files = [make_file(os.urandom(1024 * 1024), f"part{n}.bin") for n in range(3)]
    chunks = build_archive(files, deflate_max_bytes=0).chunks
    assert open_files_under(private_media) == []
    next(chunks)
    assert len(open_files_under(private_media)) == 1
    chunks.close()  # what the WSGI server does when the client disconnects
    assert open_files_under(private_media) == []


# --- ZIP64: an archive past 4 GiB, from sparse files, checked as it streams --------------------


@pytest.fixture
def sparse_media(settings) -> Path:
    with fast_sparse_directory("zip64-") as media:
        settings.STORAGES = with_default_storage(local_storage(media))
        yield media


def test_zip64_archive_past_4_gib_streams_and_checks_out(alice, sparse_media):
    big = 4 * GiB + 4097  # one member whose sizes do not fit in 32 bits
    marks = [
        {0: b"first file\n"},
        {0: b"BEGIN", 2**32 - 5: b"ACROSS-4-GiB", big - 3: b"END"},
        {0: b"after 4 GiB\n"},
    ]
    sizes = [len(marks[0][0]), big, len(marks[2][0])]
    files = StoredFile.objects.bulk_create(
        sparse_file(sparse_media, alice, name, size, mark)
        for name, size, mark in zip(["first.txt", "big.bin", "last.txt"], sizes, marks, strict=True)
    )
    archive = build_archive(files, deflate_max_bytes=64 * 1024**2)
    expected = ExpectedBytes(marks)

    scanned = scan_zip(archive.chunks, sizes, on_data=expected)

    assert expected.position == sizes
    assert scanned.names == ["first.txt", "big.bin", "last.txt"]
    assert [member.zip64 for member in scanned.members] == [False, True, False]
    assert scanned.members[2].offset > 4 * GiB  # its offset needs the ZIP64 central record
    assert {member.method for member in scanned.members} == {zipfile.ZIP_STORED}
    assert archive.length == scanned.length > 4 * GiB
