"""Content-Disposition for user-supplied file names (RFC 6266, RFC 8187)."""

import re
import unicodedata
from urllib.parse import quote

DEFAULT_NAME = "download"

# Never part of a name: C0/C1 controls (CR and LF would split the header), line and paragraph
# separators, and lone surrogates (not encodable as UTF-8).
_DROPPED_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})
# Bidirectional overrides let "evil\u202egpj.exe" display as "evilexe.jpg".
_BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
_SEPARATORS = frozenset("/\\")
# Besides the separators: '"' and '\' end or escape the quoted-string, some browsers
# percent-decode filename= so '%' must go, and naive parsers split parameters at ';'.
_FALLBACK_REPLACED = frozenset('"\\%;/')
_LEADING_JUNK = re.compile(r"^[\s.]+")
# RFC 8187 attr-char not already in quote()'s always-safe set (letters, digits, "_.-~").
_ATTR_CHAR_EXTRA = "!#$&+^`|"


def content_disposition(filename: str, *, inline: bool) -> str:
    """`inline`/`attachment` with an ASCII `filename=` and, if that lost anything, `filename*=`."""
    disposition = "inline" if inline else "attachment"
    name = safe_filename(filename)
    fallback = ascii_filename(name)
    header = f'{disposition}; filename="{fallback}"'
    if fallback != name:
        header += f"; filename*=UTF-8''{quote(name, safe=_ATTR_CHAR_EXTRA)}"
    return header


def safe_filename(name: str) -> str:
    """The Unicode name (NFC) without controls or path separators; never empty or hidden."""
    kept = (
        "_" if char in _SEPARATORS else char
        for char in unicodedata.normalize("NFC", name)
        if unicodedata.category(char) not in _DROPPED_CATEGORIES and char not in _BIDI_CONTROLS
    )
    return _tidy("".join(kept))


def ascii_filename(name: str) -> str:
    """A printable-ASCII approximation of `name` that is safe inside a quoted-string."""
    # NFKD splits "é" into "e" + a combining accent, and folds "ﬁ" or full-width letters to ASCII.
    decomposed = unicodedata.normalize("NFKD", safe_filename(name))
    kept = (
        "_" if char in _FALLBACK_REPLACED or not " " <= char <= "~" else char
        for char in decomposed
        if not unicodedata.combining(char)
    )
    return _tidy("".join(kept))


def _tidy(name: str) -> str:
    # A leading dot would make a hidden file, and "..", once separators are gone, is just noise.
    name = _LEADING_JUNK.sub("", name).rstrip()
    return name or DEFAULT_NAME
