"""Content types: which ones a browser may render inline, and what an upload really is.

`sniff_content_type` trusts the bytes before the name:
1. A binary signature decides, except that a container (ZIP, OLE, MP4, Ogg, ...) keeps the more
   specific type its name gives when that type is built on the same container (.docx is a ZIP).
2. Markup (HTML, SVG, XML) is only believed under a name whose type can hold markup (text/*,
   *xml*, *html*). Under any other name, an image or PDF say, the sniffed markup type wins:
   it is never safe inline, so a page disguised as a picture is downloaded, not rendered.
3. Otherwise the name decides, from a fixed table first so that the answer does not depend on
   the host's /etc/mime.types, then Python's built-in table (also host-independent).
4. An unknown name on bytes that read as UTF-8 text is text/plain; anything else is
   application/octet-stream.
text/* types get "; charset=..." when the bytes show the encoding.
"""

import codecs
import mimetypes
import posixpath
import re
from collections.abc import Callable

OCTET_STREAM = "application/octet-stream"
SNIFF_BYTES = 2048

_MEDIA_TYPE = re.compile(r"([a-z0-9!#$&^_.+-]+)/([a-z0-9!#$&^_.+-]+)")
_INLINE_EXACT = frozenset({"application/pdf", "text/plain"})
_INLINE_FAMILIES = frozenset({"image", "audio", "video"})


def is_safe_inline(content_type: str) -> bool:
    """True for types a browser renders without running anything: images but not SVG, PDF,
    audio, video and plain text. Parameters and case are ignored."""
    media_type = content_type.split(";", 1)[0].strip(" \t").lower()
    parts = _MEDIA_TYPE.fullmatch(media_type)
    if parts is None or "xml" in media_type:
        return False
    return media_type in _INLINE_EXACT or parts[1] in _INLINE_FAMILIES


def sniff_content_type(name: str, head: bytes) -> str:
    """The content type of an upload called `name` whose first bytes are `head`."""
    head = head[:SNIFF_BYTES]
    named = _type_from_name(name)
    signed = _type_from_signature(head)
    if signed is not None:
        if named is not None and named in _CONTAINER_VARIANTS.get(signed, ()):
            return named
        return signed
    markup = _markup_type(head)
    if markup is not None and not _may_hold_markup(named):
        return _with_charset(markup, head)
    if named is not None:
        return _with_charset(named, head)
    if head and _looks_like_text(head):
        return "text/plain; charset=utf-8"
    return OCTET_STREAM


# --- by name -------------------------------------------------------------------------------

_BY_EXTENSION: dict[str, str] = {
    # text
    ".txt": "text/plain", ".log": "text/plain", ".csv": "text/csv",
    ".tsv": "text/tab-separated-values", ".md": "text/markdown", ".markdown": "text/markdown",
    ".html": "text/html", ".htm": "text/html", ".css": "text/css", ".js": "text/javascript",
    ".mjs": "text/javascript", ".ics": "text/calendar", ".vcf": "text/vcard",
    ".json": "application/json", ".xml": "application/xml", ".yaml": "application/yaml",
    ".yml": "application/yaml", ".xhtml": "application/xhtml+xml", ".rtf": "application/rtf",
    # images
    ".svg": "image/svg+xml", ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
    ".gif": "image/gif", ".webp": "image/webp", ".avif": "image/avif", ".heic": "image/heic",
    ".heif": "image/heif", ".bmp": "image/bmp", ".ico": "image/vnd.microsoft.icon",
    ".tif": "image/tiff", ".tiff": "image/tiff",
    # audio and video
    ".mp3": "audio/mpeg", ".m4a": "audio/mp4", ".aac": "audio/aac", ".wav": "audio/wav",
    ".flac": "audio/flac", ".ogg": "audio/ogg", ".oga": "audio/ogg", ".opus": "audio/ogg",
    ".mid": "audio/midi", ".midi": "audio/midi", ".aif": "audio/aiff", ".aiff": "audio/aiff",
    ".weba": "audio/webm", ".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/quicktime",
    ".webm": "video/webm", ".mkv": "video/x-matroska", ".ogv": "video/ogg",
    ".avi": "video/x-msvideo", ".3gp": "video/3gpp",
    # documents
    ".pdf": "application/pdf", ".epub": "application/epub+zip",
    ".doc": "application/msword", ".xls": "application/vnd.ms-excel",
    ".ppt": "application/vnd.ms-powerpoint", ".msg": "application/vnd.ms-outlook",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ".odt": "application/vnd.oasis.opendocument.text",
    ".ods": "application/vnd.oasis.opendocument.spreadsheet",
    ".odp": "application/vnd.oasis.opendocument.presentation",
    ".odg": "application/vnd.oasis.opendocument.graphics",
    # archives and other binaries
    ".zip": "application/zip", ".gz": "application/gzip", ".tgz": "application/gzip",
    ".bz2": "application/x-bzip2", ".xz": "application/x-xz", ".zst": "application/zstd",
    ".tar": "application/x-tar", ".7z": "application/x-7z-compressed",
    ".rar": "application/vnd.rar",
    ".jar": "application/java-archive", ".apk": "application/vnd.android.package-archive",
    ".sqlite": "application/vnd.sqlite3", ".wasm": "application/wasm",
    ".woff": "font/woff", ".woff2": "font/woff2", ".ps": "application/postscript",
}  # fmt: skip

# MimeTypes() built without file names reads only Python's own table, never the host's.
_BUILTIN_TYPES = mimetypes.MimeTypes()


def _type_from_name(name: str) -> str | None:
    basename = re.split(r"[/\\]", name)[-1]
    extension = posixpath.splitext(basename)[1].lower()
    if not extension:
        return None
    if extension in _BY_EXTENSION:
        return _BY_EXTENSION[extension]
    guessed, encoding = _BUILTIN_TYPES.guess_type(f"file{extension}", strict=True)
    # An encoding ("gzip" for .svgz) means the bytes are not of the guessed type.
    return guessed if encoding is None else None


# --- by signature --------------------------------------------------------------------------

_PREFIXES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"\x00\x00\x01\x00", "image/vnd.microsoft.icon"),
    (b"fLaC", "audio/flac"),
    (b"MThd\x00\x00\x00\x06", "audio/midi"),
    (b"PK\x03\x04", "application/zip"),
    (b"PK\x05\x06", "application/zip"),  # an empty archive
    (b"\x1f\x8b\x08", "application/gzip"),
    (b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"),
    (b"\xfd7zXZ\x00", "application/x-xz"),
    (b"\x28\xb5\x2f\xfd", "application/zstd"),
    (b"Rar!\x1a\x07", "application/vnd.rar"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/x-ole-storage"),
    (b"SQLite format 3\x00", "application/vnd.sqlite3"),
    (b"wOFF", "font/woff"),
    (b"wOF2", "font/woff2"),
    (b"\x00asm", "application/wasm"),
    (b"%!PS", "application/postscript"),
)

_RIFF_FORMS = {b"WEBP": "image/webp", b"WAVE": "audio/wav", b"AVI ": "video/x-msvideo"}

# ISO base media (MP4 family) major brands; any other brand is taken as MP4 video.
_FTYP_BRANDS = {
    b"qt  ": "video/quicktime",
    b"M4A ": "audio/mp4",
    b"M4B ": "audio/mp4",
    b"avif": "image/avif",
    b"avis": "image/avif",
    b"heic": "image/heic",
    b"heix": "image/heic",
    b"mif1": "image/heif",
    b"msf1": "image/heif",
    b"3gp4": "video/3gpp",
    b"3gp5": "video/3gpp",
    b"3gp6": "video/3gpp",
}

_BMP_DIB_SIZES = frozenset({12, 40, 52, 56, 64, 108, 124})

_ZIP_EXTENSIONS = (
    ".docx",
    ".xlsx",
    ".pptx",
    ".odt",
    ".ods",
    ".odp",
    ".odg",
    ".epub",
    ".jar",
    ".apk",
)
_OLE_EXTENSIONS = (".doc", ".xls", ".ppt", ".msg")

# A signature that only names the container: the name may pick a type stored in it.
_CONTAINER_VARIANTS: dict[str, frozenset[str]] = {
    "application/zip": frozenset(_BY_EXTENSION[extension] for extension in _ZIP_EXTENSIONS),
    "application/x-ole-storage": frozenset(_BY_EXTENSION[ext] for ext in _OLE_EXTENSIONS),
    "video/mp4": frozenset({"audio/mp4"}),
    "audio/ogg": frozenset({"video/ogg"}),
    "video/webm": frozenset({"audio/webm"}),
}


def _riff(head: bytes) -> str | None:
    return _RIFF_FORMS.get(head[8:12]) if head.startswith(b"RIFF") else None


def _aiff(head: bytes) -> str | None:
    return "audio/aiff" if head.startswith(b"FORM") and head[8:12] in (b"AIFF", b"AIFC") else None


def _iso_media(head: bytes) -> str | None:
    if head[4:8] != b"ftyp":
        return None
    return _FTYP_BRANDS.get(head[8:12], "video/mp4")


def _matroska(head: bytes) -> str | None:
    if not head.startswith(b"\x1a\x45\xdf\xa3"):
        return None
    # The DocType element near the start says which flavour it is.
    return "video/x-matroska" if b"matroska" in head[:64] else "video/webm"


def _ogg(head: bytes) -> str | None:
    if not head.startswith(b"OggS\x00"):
        return None
    return "video/ogg" if b"theora" in head[:128] else "audio/ogg"


def _mpeg_audio(head: bytes) -> str | None:
    # ID3 tag (version 2-4: a non-printable byte, so no text file starts like this).
    if head.startswith(b"ID3") and len(head) > 4 and 2 <= head[3] <= 4 and head[4] != 0xFF:
        return "audio/mpeg"
    # A bare frame header: 11 sync bits, then version and layer; layer 0 is AAC in ADTS.
    if len(head) < 3 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return None
    layer = (head[1] >> 1) & 3
    if layer == 0:
        return "audio/aac" if head[1] & 0xF6 == 0xF0 else None
    # Layer I is left out: its header FF FE is also the UTF-16 byte order mark. Bitrate index
    # 15 and sample-rate index 3 are reserved, so such bytes are no frame either.
    if layer == 3 or head[2] >> 4 == 0xF or (head[2] >> 2) & 3 == 3:
        return None
    return "audio/mpeg"


def _bmp(head: bytes) -> str | None:
    # "BM" alone starts plenty of text; also require zero reserved bytes and a known DIB size.
    if not head.startswith(b"BM") or len(head) < 18 or head[6:10] != b"\x00" * 4:
        return None
    dib_header_size = int.from_bytes(head[14:18], "little")
    return "image/bmp" if dib_header_size in _BMP_DIB_SIZES else None


def _bzip2(head: bytes) -> str | None:
    # "BZh" + block size digit + the block magic (digits of pi) or the end-of-stream magic.
    if not head.startswith(b"BZh") or not head[3:4].isdigit() or head[3:4] == b"0":
        return None
    return "application/x-bzip2" if head[4:10] in (b"1AY&SY", b"\x17rE8P\x90") else None


def _tar(head: bytes) -> str | None:
    return "application/x-tar" if head[257:262] == b"ustar" else None


_SIGNATURE_CHECKS: tuple[Callable[[bytes], str | None], ...] = (
    _riff, _aiff, _iso_media, _matroska, _ogg, _mpeg_audio, _bmp, _bzip2, _tar,
)  # fmt: skip


def _type_from_signature(head: bytes) -> str | None:
    for prefix, content_type in _PREFIXES:
        if head.startswith(prefix):
            return content_type
    for check in _SIGNATURE_CHECKS:
        if found := check(head):
            return found
    return None


# --- markup and text -----------------------------------------------------------------------

# The tags WHATWG MIME Sniffing uses to recognise HTML, each ending in a space or ">".
_HTML_START = re.compile(
    rb"<(?:!doctype\s+html|html|head|script|iframe|h1|div|font|table|a|style|title|b|body|br|p)"
    rb"[\s>]"
)
_HTML_ROOT = re.compile(rb"<html[\s>]")
_SVG_ROOT = re.compile(rb"<svg[\s>/]")
# A prolog, comment, doctype or element: markup of some kind, sorted out by the roots it holds.
_MARKUP_START = re.compile(rb"<(?:\?xml|!--|!doctype|[a-z_])")
_LEADING_SPACE = b" \t\n\r\f"
# Bytes that never occur in text (WHATWG MIME Sniffing "binary data byte").
_BINARY_BYTES = frozenset(
    bytes(range(0x09)) + b"\x0b" + bytes(range(0x0E, 0x1B)) + bytes(range(0x1C, 0x20))
)


def _markup_type(head: bytes) -> str | None:
    start = head.removeprefix(codecs.BOM_UTF8).lstrip(_LEADING_SPACE)[:1024].lower()
    if not start.startswith(b"<"):
        return None
    if _HTML_START.match(start):
        return "text/html"
    if not _MARKUP_START.match(start):
        return None
    if _SVG_ROOT.search(start):
        return "image/svg+xml"
    if _HTML_ROOT.search(start):
        return "text/html"
    return "application/xml"


def _may_hold_markup(content_type: str | None) -> bool:
    if content_type is None:
        return False
    return content_type.startswith("text/") or "xml" in content_type or "html" in content_type


def _looks_like_text(head: bytes) -> bool:
    return not _BINARY_BYTES.intersection(head) and _text_charset(head) == "utf-8"


def _text_charset(head: bytes) -> str | None:
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        # Not final: the head may end in the middle of a multi-byte character.
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return None
    return "utf-8"


def _with_charset(content_type: str, head: bytes) -> str:
    if not content_type.startswith("text/"):
        return content_type
    charset = _text_charset(head)
    return f"{content_type}; charset={charset}" if charset else content_type
