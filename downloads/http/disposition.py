"""Content-Disposition for user-supplied file names (RFC 6266, RFC 8187)."""

import re
import unicodedata
from urllib.parse import quote

DEFAULT_NAME = "download"

# Never part of a name: C0/C1 controls (CR and LF would split the header), line and paragraph
# separators, lone surrogates (not encodable as UTF-8) and every format character (Cf). Cf holds
# the bidirectional controls, which let "evil\u202egpj.exe" display as "evilexe.jpg", and the
# invisible ones (zero-width space U+200B, BOM U+FEFF, word joiner U+2060, soft hyphen U+00AD,
# Mongolian vowel separator U+180E, tag characters) that make two names look alike. The price:
# joiners inside emoji sequences and Persian/Indic ZWNJ go too; the name stays readable.
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
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


def visible_text(text: str) -> str:
    """`text` (NFC) without controls, separators of lines and invisible format characters."""
    # Dropped before NFC, so "e\u200b\u0301" composes to "é" once the space between is gone.
    kept = "".join(char for char in text if unicodedata.category(char) not in _DROPPED_CATEGORIES)
    return unicodedata.normalize("NFC", kept)


def safe_filename(name: str) -> str:
    """The Unicode name (NFC) without controls or path separators; never empty or hidden."""
    kept = ("_" if char in _SEPARATORS else char for char in visible_text(name))
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
