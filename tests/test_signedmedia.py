"""downloads/signedmedia.py: the signed media URL format, and every way a URL is refused."""

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime

import pytest

from downloads.models import StoredFile
from downloads.signedmedia import (
    URL_PREFIX,
    Refused,
    SignedMedia,
    media_key,
    media_keys,
    sign,
    signed_for,
    verify,
)

KEY = media_key("a secret for tests")
MEDIA = SignedMedia(
    file_id="0b6f3c1e-8f2a-4c53-9d1e-2a7b6c5d4e3f",
    storage_key="private/2026/12/0b6f3c1e.jpg",
    sha256="e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    size=30_720,
    content_type="image/jpeg",
    content_disposition="inline; filename=\"Zuerich.jpg\"; filename*=utf-8''Z%C3%BCrich.jpg",
    last_modified=1_796_000_000,
    expires=1_796_000_300,
)


def token(media: SignedMedia = MEDIA, key: bytes = KEY) -> str:
    path = sign(media, key)
    assert path.startswith(URL_PREFIX)
    return path.removeprefix(URL_PREFIX)


def test_a_url_verifies_to_what_it_was_signed_for_until_it_expires():
    assert verify(token(), now=MEDIA.expires - 1, keys=[KEY]) == MEDIA
    with pytest.raises(Refused):
        verify(token(), now=MEDIA.expires, keys=[KEY])


# A known answer, for the njs checker's tests: this key and these fields give this token.
KNOWN_KEY_HEX = "bdb5bf41afb5f77a2fa0a288862dc33879ccb39766982c25274cc6a1a341eba1"
KNOWN_SIGNATURE = "eE59OFRZPkcRZDX0PNifzZz6C_7arvsmtXgLgouCgYQ"


def test_the_format_is_fixed_for_nginx_to_check_too():
    assert KEY.hex() == KNOWN_KEY_HEX
    payload, signature = token().split(".")
    assert signature == KNOWN_SIGNATURE
    fields = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert list(fields) == ["d", "f", "h", "k", "m", "n", "t", "x"]
    assert fields["d"] == MEDIA.content_disposition
    assert fields["x"] == MEDIA.expires


@pytest.mark.parametrize("position", [0, 10, -44, -1])
def test_a_flipped_character_anywhere_is_refused(position):
    text = token()
    flipped = "A" if text[position] != "A" else "B"
    tampered = text[:position] + flipped + (text[position + 1 :] if position != -1 else "")
    with pytest.raises(Refused):
        verify(tampered, now=0, keys=[KEY])


def test_a_later_expiry_or_another_file_is_refused_without_a_new_signature():
    _, signature = token().split(".")
    for changed in (
        SignedMedia(**{**MEDIA.__dict__, "expires": MEDIA.expires + 3600}),
        SignedMedia(**{**MEDIA.__dict__, "storage_key": "private/2026/12/other.jpg"}),
    ):
        with pytest.raises(Refused):
            verify(f"{changed.payload()}.{signature}", now=0, keys=[KEY])


def test_a_url_signed_with_another_key_is_refused():
    with pytest.raises(Refused):
        verify(token(key=media_key("another secret")), now=0, keys=[KEY])


@pytest.mark.parametrize(
    "text",
    ["", ".", "abc", "abc.def", "a" * 7000 + "." + "b" * 43, "../etc/passwd." + "b" * 43],
)
def test_malformed_tokens_are_refused_before_anything_is_decoded(text):
    with pytest.raises(Refused):
        verify(text, now=0, keys=[KEY])


def test_a_signed_payload_that_is_not_the_format_is_refused_not_a_crash():
    bodies = [b"not json", b"[1,2]", b'{"f":"x"}', MEDIA.payload().encode()]
    bodies[-1] = base64.urlsafe_b64decode(bodies[-1] + b"=" * (-len(bodies[-1]) % 4)).replace(
        b'"n":30720', b'"n":true'
    )
    for body in bodies:
        payload = base64.urlsafe_b64encode(body).rstrip(b"=").decode()
        signature = hmac.new(KEY, payload.encode(), hashlib.sha256).digest()
        signed = base64.urlsafe_b64encode(signature).rstrip(b"=").decode()
        with pytest.raises(Refused):
            verify(f"{payload}.{signed}", now=0, keys=[KEY])


def test_the_secret_key_fallbacks_still_verify(settings):
    settings.SECRET_KEY = "the new secret"
    settings.SECRET_KEY_FALLBACKS = ["the old secret"]
    old = token(key=media_key("the old secret"))
    assert verify(old, now=0) == MEDIA
    assert sign(MEDIA).removeprefix(URL_PREFIX) == token(key=media_keys()[0])
    settings.SECRET_KEY_FALLBACKS = []
    with pytest.raises(Refused):
        verify(old, now=0)


def stored_file(name: str, content_type: str) -> StoredFile:
    stored = StoredFile(
        name=name,
        content_type=content_type,
        size=10,
        sha256="0" * 64,
        updated=datetime(2026, 12, 4, tzinfo=UTC),
    )
    stored.file.name = "k" * 255
    return stored


def test_the_longest_name_a_stored_file_can_have_still_makes_a_url_the_checkers_accept():
    # 255 characters of 4 bytes each: every one percent-encoded in filename*.
    stored = stored_file("\U0001f600" * 255, "x" * 255)
    media = signed_for(stored, inline=False, expires=MEDIA.expires)
    path = sign(media, KEY)
    assert len(path) < 8192 - len("GET  HTTP/1.1")
    assert verify(path.removeprefix(URL_PREFIX), now=0, keys=[KEY]) == media


def test_a_type_not_shown_inline_by_the_checked_view_is_signed_as_an_attachment():
    inline = signed_for(stored_file("a.png", "image/png"), inline=True, expires=1)
    assert inline.content_disposition.startswith("inline;")
    for risky in ("text/html", "image/svg+xml", "application/xhtml+xml"):
        media = signed_for(stored_file("a", risky), inline=True, expires=1)
        assert media.content_disposition.startswith("attachment;"), risky
