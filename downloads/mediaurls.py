"""The URL a page embeds for a file it shows inline (an image, a video, audio): one function,
whatever the delivery mode, so the app decides once, when it renders the page, and the bytes
come without another checked request (issue 11; README, Signed media URLs).

- django and nginx modes: a signed media URL (`/m/<payload>.<signature>`, downloads/signedmedia.py),
  which the app (downloads/views_media.py) or nginx itself (njs) checks and serves.
- s3 mode: the bucket's presigned URL itself, with the headers the checked view's redirect
  would ask for (delivery/s3.py): no 302 hop per image.
- s3 mode behind CloudFront (DOWNLOADS_CLOUDFRONT_*): a CloudFront signed URL (canned policy,
  botocore's CloudFrontSigner, RSA key from a file).

Every URL lives DOWNLOADS_SIGNED_MEDIA_SECONDS, and each one issued is a download log row (user,
file, expiry), all of a page's rows handed to the log writer at once. Only the caller decides
who may see the file: give this module files from the access policy only.
"""

import re
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from botocore.signers import CloudFrontSigner
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest

from downloads import signedmedia
from downloads.conf import AppSettings, app_settings
from downloads.delivery.headers import file_headers
from downloads.delivery.s3 import bucket_response_headers, presigned_file_url
from downloads.downloadlog import SIGNED_DELIVERY, log_issued
from downloads.http.types import is_safe_inline
from downloads.models import StoredFile
from downloads.storage import s3_key

CLOUDFRONT_DELIVERY = "cloudfront"


# What the pages show inline: the file page previews these kinds, My files shows a thumbnail
# of each image. Only types safe to render (http/types.py): never SVG, HTML or unknown types.
PREVIEW_KINDS = ("image/", "video/", "audio/")


def has_preview(stored: StoredFile) -> bool:
    return is_safe_inline(stored.content_type) and stored.content_type.startswith(PREVIEW_KINDS)


def is_thumbnail(stored: StoredFile) -> bool:
    return is_safe_inline(stored.content_type) and stored.content_type.startswith("image/")


def media_urls(request: HttpRequest, files: Sequence[StoredFile]) -> dict[Any, str]:
    """URLs to embed for `files`, shown inline, by file id; each one logged as issued."""
    settings = app_settings()
    now = int(time.time())
    expires = now + settings.signed_media_seconds
    urls: dict[Any, str] = {}
    issued = []
    for stored in files:
        url, delivery = _url_for(stored, settings, expires)
        urls[stored.pk] = url
        issued.append((stored, datetime.fromtimestamp(expires, tz=UTC), delivery))
    log_issued(request, issued)
    return urls


def media_url(request: HttpRequest, stored: StoredFile) -> str:
    return media_urls(request, [stored])[stored.pk]


def _url_for(stored: StoredFile, settings: AppSettings, expires: int) -> tuple[str, str]:
    # Inline only for types safe to render, as the checked view's ?inline=1: anything else is an
    # attachment, whatever the page does with it.
    inline = is_safe_inline(stored.content_type)
    if settings.delivery != "s3":
        media = signedmedia.signed_for(stored, inline=inline, expires=expires)
        return signedmedia.sign(media), SIGNED_DELIVERY
    headers = file_headers(stored, inline=inline)
    if settings.cloudfront_url:
        return _cloudfront_url(stored, headers, settings, expires), CLOUDFRONT_DELIVERY
    return presigned_file_url(stored, headers, expires_in=settings.signed_media_seconds), "s3"


def _cloudfront_url(
    stored: StoredFile, headers: dict[str, str], settings: AppSettings, expires: int
) -> str:
    """The object's URL on the distribution, with the same response-content-* parameters a
    presigned URL carries (the distribution must forward them to the bucket), signed with a
    canned policy that ends at `expires`."""
    key = s3_key(stored.file.storage, stored.file.name or "")  # type: ignore[arg-type]
    # ResponseContentType -> response-content-type, as botocore names them in a presigned URL.
    query = urlencode(
        {
            re.sub(r"(?<!^)([A-Z])", r"-\1", param).lower(): value
            for param, value in bucket_response_headers(headers).items()
        },
        quote_via=quote,
    )
    url = f"{settings.cloudfront_url}/{quote(key, safe='/')}?{query}"
    signer = CloudFrontSigner(
        settings.cloudfront_key_id, _rsa_signer(settings.cloudfront_private_key_file)
    )
    signed: str = signer.generate_presigned_url(
        url, date_less_than=datetime.fromtimestamp(expires, tz=UTC)
    )
    return signed


@cache
def _private_key(path: str) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{path} does not hold an RSA private key")
    return key


def _rsa_signer(path: str) -> Any:
    key = _private_key(path)

    def sign(message: bytes) -> bytes:
        # CloudFront's signed URLs are RSA-SHA1 (PKCS#1 v1.5): the only algorithm it accepts
        # for a key given by Key-Pair-Id.
        return key.sign(message, padding.PKCS1v15(), hashes.SHA1())  # noqa: S303

    return sign


def check_private_key(path: str) -> str | None:
    """What is wrong with the CloudFront key file, or None (downloads/checks.py)."""
    try:
        _private_key.__wrapped__(path)
    except (OSError, ValueError, TypeError) as error:
        return str(error)
    return None


@receiver(setting_changed)
def _forget_keys(setting: str, **kwargs: Any) -> None:
    if setting.startswith("DOWNLOADS_CLOUDFRONT"):
        _private_key.cache_clear()
