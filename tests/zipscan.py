"""Check a zip while it streams past, keeping none of it: for archives too big to hold.

`scan_zip` walks the local headers, member bytes and data descriptors in order, checking every
CRC-32 and size against the bytes it saw, and keeps only what follows the last member (the
central directory and end records, a few KiB), which `zipfile` then reads. Both views of the
archive must agree on every name, size, CRC-32 and offset: what `testzip()` and `infolist()` would
say about the whole archive, without the archive ever on disk or in memory.
"""

import hashlib
import io
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

LOCAL_HEADER = struct.Struct("<4s5H3L2H")
LOCAL_SIGNATURE = b"PK\x03\x04"
DESCRIPTOR_SIGNATURE = b"PK\x07\x08"
ZIP64_EXTRA_ID = 0x0001
FLAG_DATA_DESCRIPTOR = 0x08
FLAG_UTF8 = 0x800
ZIP64_LOCATOR = struct.Struct("<4sLQL")
END_RECORD_SIZE = 22  # without a comment; the archives here have none


@dataclass
class ScannedMember:
    name: str
    offset: int
    method: int
    size: int
    compressed_size: int
    crc: int
    zip64: bool
    sha256: str = ""


@dataclass
class ScannedZip:
    members: list[ScannedMember]
    length: int
    central_directory_offset: int
    central: list[zipfile.ZipInfo] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return [member.name for member in self.members]


class _Reader:
    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._buffer = b""
        self.position = 0

    def _fill(self) -> bool:
        for chunk in self._chunks:
            if chunk:
                self._buffer += chunk
                return True
        return False

    def peek(self, size: int) -> bytes:
        while len(self._buffer) < size and self._fill():
            pass
        return self._buffer[:size]

    def read(self, size: int) -> bytes:
        data = self.peek(size)
        assert len(data) == size, f"archive ends at {self.position + len(data)}, inside a record"
        self._buffer = self._buffer[size:]
        self.position += size
        return data

    def pieces(self, size: int) -> Iterator[bytes]:
        """Exactly `size` bytes, as the pieces they arrive in."""
        while size:
            if not self._buffer and not self._fill():
                raise AssertionError(f"archive ends {size} bytes into a member")
            piece, self._buffer = self._buffer[:size], self._buffer[size:]
            size -= len(piece)
            self.position += len(piece)
            yield piece

    def inflate(self, on_data: Callable[[bytes], None]) -> int:
        """Feed a raw deflate stream to `on_data` until it ends; return its compressed size."""
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        consumed = 0
        while not inflater.eof:
            if not self._buffer and not self._fill():
                raise AssertionError("archive ends inside a deflated member")
            piece, self._buffer = self._buffer, b""
            on_data(inflater.decompress(piece))
            used = len(piece) - len(inflater.unused_data)
            self._buffer = inflater.unused_data
            consumed += used
            self.position += used
        on_data(inflater.flush())
        return consumed

    def rest(self) -> bytes:
        while self._fill():
            pass
        data, self._buffer = self._buffer, b""
        self.position += len(data)
        return data


def scan_zip(
    chunks: Iterable[bytes],
    stored_sizes: Sequence[int],
    *,
    on_data: Callable[[int, bytes], None] | None = None,
    sha256: bool = False,
) -> ScannedZip:
    """Walk and check a streamed zip. `stored_sizes` are the members' sizes in order (a stored
    member with a data descriptor says its size only after its bytes); `on_data(index, bytes)`
    sees every member's uncompressed bytes."""
    reader = _Reader(chunks)
    members: list[ScannedMember] = []
    while reader.peek(4) == LOCAL_SIGNATURE:
        index = len(members)
        assert index < len(stored_sizes), "more members than expected"
        members.append(_scan_member(reader, index, stored_sizes[index], on_data, sha256))
    assert len(members) == len(stored_sizes), f"{len(members)} members, not {len(stored_sizes)}"

    central_offset = reader.position
    tail = reader.rest()
    scanned = ScannedZip(members, reader.position, central_offset)
    # zipfile finds the end records from the end of what it is given and, like for an archive
    # with bytes prepended, shifts every offset by how much of the archive is missing in front.
    with zipfile.ZipFile(io.BytesIO(tail)) as archive:
        scanned.central = archive.infolist()
    _agree(scanned)
    _check_zip64_locator(tail, central_offset)
    return scanned


def _check_zip64_locator(tail: bytes, tail_start: int) -> None:
    """The ZIP64 locator must point at the ZIP64 end record: Python 3.11's zipfile does not
    look, but newer readers do."""
    locator = tail[-(ZIP64_LOCATOR.size + END_RECORD_SIZE) : -END_RECORD_SIZE]
    if not locator.startswith(b"PK\x06\x07"):
        return
    _, _, record_offset, _ = ZIP64_LOCATOR.unpack(locator)
    start = record_offset - tail_start
    assert tail[start : start + 4] == b"PK\x06\x06", "ZIP64 locator points elsewhere"


def _scan_member(
    reader: _Reader,
    index: int,
    stored_size: int,
    on_data: Callable[[int, bytes], None] | None,
    want_sha256: bool,
) -> ScannedMember:
    offset = reader.position
    header = LOCAL_HEADER.unpack(reader.read(LOCAL_HEADER.size))
    _, _, flags, method, _, _, _, _, _, name_length, extra_length = header
    raw_name = reader.read(name_length)
    name = raw_name.decode("utf-8" if flags & FLAG_UTF8 else "ascii")
    zip64 = ZIP64_EXTRA_ID in _extra_ids(reader.read(extra_length))
    assert flags & FLAG_DATA_DESCRIPTOR, f"{name}: streamed members carry a data descriptor"

    crc = 0
    size = 0
    digest = hashlib.sha256()

    def take(data: bytes) -> None:
        nonlocal crc, size
        crc = zlib.crc32(data, crc)
        size += len(data)
        if want_sha256:
            digest.update(data)
        if on_data is not None and data:
            on_data(index, data)

    if method == zipfile.ZIP_STORED:
        for piece in reader.pieces(stored_size):
            take(piece)
        compressed_size = stored_size
    else:
        assert method == zipfile.ZIP_DEFLATED, f"{name}: unexpected method {method}"
        compressed_size = reader.inflate(take)

    signature = reader.read(4)
    assert signature == DESCRIPTOR_SIGNATURE, f"{name}: no data descriptor after the bytes"
    layout = "<LQQ" if zip64 else "<LLL"
    told_crc, told_compressed, told_size = struct.unpack(
        layout, reader.read(struct.calcsize(layout))
    )
    assert told_crc == crc, f"{name}: CRC-32 in descriptor {told_crc:08x}, bytes give {crc:08x}"
    assert (told_size, told_compressed) == (size, compressed_size), f"{name}: sizes disagree"
    assert size == stored_size, f"{name}: {size} bytes, the stored file has {stored_size}"
    return ScannedMember(
        name=name,
        offset=offset,
        method=method,
        size=size,
        compressed_size=compressed_size,
        crc=crc,
        zip64=zip64,
        sha256=digest.hexdigest() if want_sha256 else "",
    )


def _extra_ids(extra: bytes) -> set[int]:
    ids = set()
    while len(extra) >= 4:
        field_id, length = struct.unpack("<HH", extra[:4])
        ids.add(field_id)
        extra = extra[4 + length :]
    return ids


def _agree(scanned: ScannedZip) -> None:
    central = scanned.central
    assert [info.filename for info in central] == scanned.names
    for info, member in zip(central, scanned.members, strict=True):
        # header_offset as zipfile saw it, shifted back by the bytes it was not given.
        assert info.header_offset + scanned.central_directory_offset == member.offset
        assert (info.CRC, info.file_size, info.compress_size, info.compress_type) == (
            member.crc,
            member.size,
            member.compressed_size,
            member.method,
        ), info.filename
