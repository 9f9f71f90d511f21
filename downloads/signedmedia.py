"""Signed media URLs: what one says, how it is signed, and how it is checked (issue 11).

A page that shows a file inline (an image, a video, a PDF preview) embeds a URL signed for that
file, so the bytes are served without a session, a user query or an access query: by nginx
itself (njs checks the signature, deploy/), or by the app with no database work beyond fetching
the file's row. The app decides once, when it renders the page; the URL carries the decision.

The format, which nginx's njs and this module both implement (keep them in step):

    /m/<payload>.<signature>

- `payload`: the URL-safe base64 (no padding) of a compact JSON object with sorted keys:
    f  the stored file's id (UUID, hex with dashes)
    k  its storage key (the name in storage: MEDIA_ROOT-relative for local files)
    h  the SHA-256 of its bytes (hex): new bytes are stored under a new key with a new hash,
       so a URL signed for the old bytes names bytes that are gone
    n  its size in bytes
    t  the Content-Type to send
    d  the whole Content-Disposition value to send (RFC 6266, non-ASCII names already encoded
       by downloads.http.disposition: the checker copies it, never builds it)
    m  Last-Modified, as Unix seconds
    x  expiry, as Unix seconds: the URL is refused from that second on
- `signature`: the URL-safe base64 (no padding) of HMAC-SHA256(media key, payload), the payload
  being the ASCII text exactly as it appears in the URL (no re-encoding, nothing to canonicalise).
- The media key: HMAC-SHA256(SECRET_KEY, "protected-downloads signed media v1"), 32 bytes. A
  key derived for this one purpose: nginx holds it (in a file only nginx can read), never the
  SECRET_KEY, and a URL signature is not valid for anything else Django signs. Keys derived from
  SECRET_KEY_FALLBACKS still verify, so rotating the secret does not break the URLs on pages
  already open (they expire within minutes anyway).

Nothing in the URL is a path a client can steer: the storage key is only used once the
signature over it has been checked, and a key is never built from anything but the payload.
"""

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.utils.encoding import force_bytes

from downloads.http.disposition import content_disposition
from downloads.http.types import is_safe_inline
from downloads.models import StoredFile

URL_PREFIX = "/m/"
KEY_PURPOSE = b"protected-downloads signed media v1"
# Bounds on the token, checked before any decoding: a hostile URL costs nothing. The longest
# payload a stored file can need (a 255-character name of 4-byte characters, percent-encoded in
# `filename*`, and 255-character key and type) is about 5,400 characters; with the rest of the
# request line that stays under nginx's 8 KiB default for one (large_client_header_buffers).
MAX_PAYLOAD = 6144
_TOKEN = re.compile(
    rf"(?P<payload>[A-Za-z0-9_-]{{1,{MAX_PAYLOAD}}})\.(?P<signature>[A-Za-z0-9_-]{{43}})"
)
_FIELDS = {"f": str, "k": str, "h": str, "n": int, "t": str, "d": str, "m": int, "x": int}


# Why a URL is refused, as logged (views_media.py; nginx's `verdict` uses the same words where
# it checks the same thing, docs/deploy.md). Never the URL or its signature: until it expires, a
# URL opens its file.
MALFORMED = "malformed"  # not the shape of a token: nothing was decoded
BAD_SIGNATURE = "signature"  # no media key signed it: tampered, forged or another secret's
UNDECODABLE = "undecodable"  # signed, yet not this format (a bug or a leaked key)
EXPIRED = "expired"


class Refused(Exception):
    """A signed URL that must not be served: malformed, tampered, foreign or expired. Every
    reason gets the same answer (403): a client learns nothing from trying. `reason` is one of
    the words above, and `file_id` the file's once the signature holds, for the server's log
    only."""

    def __init__(self, reason: str, detail: str = "", *, file_id: str | None = None) -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.file_id = file_id


@dataclass(frozen=True)
class SignedMedia:
    """What a signed URL was signed for: which stored bytes, the headers to send, until when."""

    file_id: str
    storage_key: str
    sha256: str
    size: int
    content_type: str
    content_disposition: str
    last_modified: int
    expires: int

    def payload(self) -> str:
        fields = {
            "f": self.file_id,
            "k": self.storage_key,
            "h": self.sha256,
            "n": self.size,
            "t": self.content_type,
            "d": self.content_disposition,
            "m": self.last_modified,
            "x": self.expires,
        }
        text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        return _b64encode(text.encode("ascii"))


def signed_for(stored: StoredFile, *, inline: bool, expires: int) -> SignedMedia:
    """What a URL for `stored`'s current bytes says, valid until `expires` (Unix seconds).
    Inline only for a type the checked view shows inline (decision.py): any other is sent as an
    attachment, however the page asked for it."""
    inline = inline and is_safe_inline(stored.content_type)
    return SignedMedia(
        file_id=str(stored.pk),
        storage_key=stored.file.name or "",
        sha256=stored.sha256,
        size=stored.size,
        content_type=stored.content_type,
        content_disposition=content_disposition(stored.name, inline=inline),
        last_modified=stored.last_modified,
        expires=expires,
    )


def media_key(secret: str | bytes) -> bytes:
    return hmac.new(force_bytes(secret), KEY_PURPOSE, hashlib.sha256).digest()


def media_keys() -> list[bytes]:
    """The key URLs are signed with, then the keys that still verify (SECRET_KEY_FALLBACKS)."""
    secrets = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return [media_key(secret) for secret in secrets]


def sign(media: SignedMedia, key: bytes | None = None) -> str:
    """The URL path for `media`, signed with `key` (default: the current media key)."""
    payload = media.payload()
    if len(payload) > MAX_PAYLOAD:
        # Not reachable from a stored file (see MAX_PAYLOAD): a URL no checker would accept.
        raise ValueError(f"a signed media payload of {len(payload)} characters is too long")
    return f"{URL_PREFIX}{payload}.{_signature(key or media_keys()[0], payload)}"


def verify(token: str, now: int, keys: Iterable[bytes] | None = None) -> SignedMedia:
    """The SignedMedia a URL's token (what follows URL_PREFIX) was signed for, if the signature
    holds under one of `keys` and it has not expired at `now` (Unix seconds); else Refused."""
    match = _TOKEN.fullmatch(token)
    if match is None:
        raise Refused(MALFORMED)
    payload, signature = match["payload"], match["signature"]
    if not any(
        hmac.compare_digest(_signature(key, payload), signature) for key in keys or media_keys()
    ):
        raise Refused(BAD_SIGNATURE)
    media = _decode(payload)
    if now >= media.expires:
        raise Refused(EXPIRED, file_id=media.file_id)
    return media


def _signature(key: bytes, payload: str) -> str:
    return _b64encode(hmac.new(key, payload.encode("ascii"), hashlib.sha256).digest())


def _decode(payload: str) -> SignedMedia:
    # Only a payload this app signed gets here: a failure is a bug or a leaked key, refused all
    # the same rather than a 500.
    try:
        fields = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (binascii.Error, ValueError) as error:
        raise Refused(UNDECODABLE, "not base64 JSON") from error
    if not isinstance(fields, dict) or set(fields) != set(_FIELDS):
        raise Refused(UNDECODABLE, "unexpected fields")
    for name, kind in _FIELDS.items():
        # bool is an int to isinstance: refuse it as the JSON it is not meant to be.
        if not isinstance(fields[name], kind) or isinstance(fields[name], bool):
            raise Refused(UNDECODABLE, f"field {name} is not a {kind.__name__}")
    return SignedMedia(
        file_id=fields["f"],
        storage_key=fields["k"],
        sha256=fields["h"],
        size=fields["n"],
        content_type=fields["t"],
        content_disposition=fields["d"],
        last_modified=fields["m"],
        expires=fields["x"],
    )


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")
