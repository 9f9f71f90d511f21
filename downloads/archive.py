"""One zip of many stored files, streamed while it is built: memory stays flat whatever its size.

Library: zipstream-ng, not stream-zip. Both stream, write ZIP64 when needed and keep memory flat.
zipstream-ng writes each member's CRC-32 in a data descriptor after its bytes, so it can compute
the archive's exact size from the member sizes alone (`ZipStream(sized=True)` and `len()`)
before sending a byte: the browser gets a Content-Length and a true progress bar. stream-zip's
uncompressed members need their CRC-32 before their bytes (we keep SHA-256, so every file would
be read twice) and it has no size calculation.

The rules:
- Member names are the files' display names made safe and flat (`member_names`): no separators
  at all, so no `..` component and no absolute path; no control or bidi characters; no
  characters Windows cannot extract; at most 255 bytes of UTF-8; unique ignoring case
  ("report.pdf", "report (2).pdf"), because Windows and macOS file systems ignore case.
- Compression (`plan_compression`): already-compressed types (images, audio, video, PDF, zip and
  other archives, office documents, web fonts; decided by content type) are always stored. The
  others are deflated only while their total is at most `deflate_max_bytes`
  (DOWNLOADS_ZIP_DEFLATE_MAX_BYTES); the archive's length is then unknown, and it goes out
  chunked. Past that total, or with the limit at 0, every member is stored and the archive has an
  exact length: on a large archive a true progress bar, and no CPU spent deflating gigabytes,
  matter more than the bytes deflate would save.
- Members are read from storage (local or S3) CHUNK_SIZE bytes at a time, one file open at a
  time, and only once the archive reaches them; exactly their recorded size is read. A member
  that ends early aborts the stream: a truncated download is visible, a zip silently missing
  bytes is not.
- Member times are when the archive was made: zipstream-ng does not take a per-member time.
"""

import re
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass

from zipstream import ZIP_DEFLATED, ZIP_STORED, ZipStream

from downloads.faults import STORAGE_READ_ERRORS, report_read_failure
from downloads.http.disposition import safe_filename
from downloads.models import StoredFile
from downloads.storage import open_slice

CHUNK_SIZE = 256 * 1024
# Small pieces (member headers, data descriptors, deflate output) are joined up to this size so
# the server does not make one write per 30-byte header.
MIN_WRITE = 64 * 1024
MAX_NAME_BYTES = 255
# A longer "extension", or one not all letters and digits, is part of the name.
MAX_EXTENSION_CHARS = 16

_ALREADY_COMPRESSED_FAMILIES = frozenset({"image", "audio", "video"})
# Raw or text formats inside those families, which deflate does shrink.
_COMPRESSIBLE_MEDIA = frozenset(
    {
        "image/svg+xml",
        "image/bmp",
        "image/tiff",
        "image/vnd.microsoft.icon",
        "audio/wav",
        "audio/aiff",
        "audio/midi",
    }
)
_ALREADY_COMPRESSED_TYPES = frozenset(
    {
        "application/pdf",
        "application/zip",
        "application/gzip",
        "application/x-gzip",
        "application/x-bzip2",
        "application/x-xz",
        "application/zstd",
        "application/x-7z-compressed",
        "application/vnd.rar",
        "application/x-rar-compressed",
        "application/java-archive",
        "application/vnd.android.package-archive",
        "font/woff",
        "font/woff2",
    }
)
# Office documents are zip files underneath.
_ALREADY_COMPRESSED_PREFIXES = (
    "application/vnd.openxmlformats-officedocument.",
    "application/vnd.oasis.opendocument.",
)

# Not allowed in Windows file names; an extractor there fails on or renames such members.
_WINDOWS_FORBIDDEN = str.maketrans(dict.fromkeys('<>:"|?*', "_"))
_WINDOWS_DEVICES = frozenset(
    {"CON", "PRN", "AUX", "NUL"} | {f"{port}{n}" for port in ("COM", "LPT") for n in range(1, 10)}
)
_TRAILING_JUNK = re.compile(r"[\s.]+$")


class MemberChangedError(RuntimeError):
    """A stored file's bytes no longer match the size recorded when it was saved."""


class MemberOffsets:
    """Where each member's data begins in the zip, learnt as the zip is made (for the download
    log: which members' bytes lie within the part of the zip a client took).

    zipstream-ng yields a member's local header, then asks for its data: when the member is
    first read, every byte before its data has been produced. Joining pieces (`_coalesce`) keeps
    their order, so an offset in what zipstream produced is an offset in the response body."""

    def __init__(self, count: int) -> None:
        self.produced = 0
        self.data_starts: list[int | None] = [None] * count

    def count(self, pieces: Iterable[bytes]) -> Iterator[bytes]:
        for piece in pieces:
            self.produced += len(piece)
            yield piece


@dataclass(frozen=True)
class Archive:
    chunks: Iterator[bytes]
    # The exact number of bytes `chunks` yields, when every member is stored; else None.
    length: int | None
    offsets: MemberOffsets
    # Per member, in order: whether it is deflated (its zip bytes are not its file bytes).
    deflated: tuple[bool, ...] = ()


def build_archive(files: Sequence[StoredFile], *, deflate_max_bytes: int) -> Archive:
    """The zip of `files`, in that order; nothing is read until `chunks` is iterated."""
    deflated = plan_compression(files, deflate_max_bytes=deflate_max_bytes)
    stream = ZipStream(compress_type=ZIP_STORED, sized=not deflated)
    names = member_names(stored.name for stored in files)
    offsets = MemberOffsets(len(files))
    for index, (stored, name) in enumerate(zip(files, names, strict=True)):
        stream.add(
            _member_bytes(stored, offsets, index),
            name,
            size=stored.size,
            compress_type=ZIP_DEFLATED if stored.pk in deflated else ZIP_STORED,
        )
    length = len(stream) if stream.sized else None
    return Archive(
        chunks=_coalesce(offsets.count(stream), MIN_WRITE),
        length=length,
        offsets=offsets,
        deflated=tuple(stored.pk in deflated for stored in files),
    )


def plan_compression(
    files: Iterable[StoredFile], *, deflate_max_bytes: int
) -> frozenset[uuid.UUID]:
    """The primary keys of the members to deflate: none when their total is too large."""
    compressible = [stored for stored in files if not is_already_compressed(stored.content_type)]
    if not compressible or sum(stored.size for stored in compressible) > deflate_max_bytes:
        return frozenset()
    return frozenset(stored.pk for stored in compressible)


def is_already_compressed(content_type: str) -> bool:
    """True for types whose bytes deflate would not shrink. Parameters and case are ignored."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    family = media_type.split("/", 1)[0]
    if family in _ALREADY_COMPRESSED_FAMILIES:
        return media_type not in _COMPRESSIBLE_MEDIA
    return (
        media_type in _ALREADY_COMPRESSED_TYPES
        or media_type.endswith("+zip")
        or media_type.startswith(_ALREADY_COMPRESSED_PREFIXES)
    )


def member_names(names: Iterable[str]) -> list[str]:
    """Safe, flat, portable member names, unique ignoring case, in the order given."""
    taken: set[str] = set()
    next_number: dict[str, int] = {}
    result: list[str] = []
    for name in names:
        stem, extension = _split_extension(_portable(name))
        candidate = _fit(stem, "", extension)
        key = candidate.casefold()
        number = next_number.get(key, 1)
        while candidate.casefold() in taken:
            number += 1
            candidate = _fit(stem, f" ({number})", extension)
        next_number[key] = number
        taken.add(candidate.casefold())
        result.append(candidate)
    return result


def _member_bytes(stored: StoredFile, offsets: MemberOffsets, index: int) -> Iterator[bytes]:
    offsets.data_starts[index] = offsets.produced
    key = stored.file.name
    if not key:
        raise MemberChangedError(f"{stored.pk} has no stored bytes")
    # Local files and S3 objects alike are read in chunks, never whole (downloads/storage.py).
    try:
        opened = open_slice(stored.file.storage, key, 0, stored.size)
    except STORAGE_READ_ERRORS as error:
        # Mid-stream the status is long sent: the zip ends visibly broken, and staff are told.
        report_read_failure(stored, error, during="a zip")
        raise MemberChangedError(f"{stored.pk} could not be read from storage") from error
    with closing(opened) as source:
        remaining = stored.size
        while remaining:
            chunk = source.read(min(CHUNK_SIZE, remaining))
            if not chunk:
                raise MemberChangedError(f"{stored.pk} ended {remaining} bytes early")
            remaining -= len(chunk)
            yield chunk


def _coalesce(pieces: Iterable[bytes], at_least: int) -> Iterator[bytes]:
    pending: list[bytes] = []
    pending_size = 0
    source = iter(pieces)
    try:
        for piece in source:
            if not piece:
                continue
            pending.append(piece)
            pending_size += len(piece)
            if pending_size >= at_least:
                yield pending[0] if len(pending) == 1 else b"".join(pending)
                pending, pending_size = [], 0
    finally:
        # Closing this generator (the client went away) closes the zip's, and so the open member.
        close = getattr(source, "close", None)
        if close is not None:
            close()
    if pending:
        yield b"".join(pending)


def _portable(name: str) -> str:
    name = safe_filename(name).translate(_WINDOWS_FORBIDDEN)
    # Windows drops trailing dots and spaces, which could make two members one.
    name = _TRAILING_JUNK.sub("", name) or "download"
    if name.split(".", 1)[0].rstrip().upper() in _WINDOWS_DEVICES:
        name = f"_{name}"
    return name


def _split_extension(name: str) -> tuple[str, str]:
    """("report", ".pdf"); ("backup", ".tar.gz"); ("notes. see below", "")."""
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem or len(extension) > MAX_EXTENSION_CHARS or not extension.isalnum():
        return name, ""
    if stem.lower().endswith(".tar") and len(stem) > len(".tar"):
        return stem[: -len(".tar")], f"{stem[-len('.tar') :]}.{extension}"
    return stem, f".{extension}"


def _fit(stem: str, suffix: str, extension: str) -> str:
    """stem + suffix + extension within MAX_NAME_BYTES of UTF-8, shortening only the stem."""
    budget = MAX_NAME_BYTES - len(f"{suffix}{extension}".encode())
    stem = stem.encode()[:budget].decode("utf-8", "ignore").rstrip() or "download"
    return f"{stem}{suffix}{extension}"
