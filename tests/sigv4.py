"""An independent check of presigned S3 URLs (AWS Signature Version 4, query-string form).

moto's server checks neither signatures nor expiry, so the tests recompute the signature the
way S3 does, from the URL as the bucket received it and the HTTP method it was used with.
"""

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, quote, urlsplit

_UNRESERVED = "-_.~"


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def expected_signature(url: str, method: str, secret_key: str) -> str:
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    params = dict(pairs)
    scope_date, region, service, terminator = params["X-Amz-Credential"].split("/")[1:]
    canonical_query = "&".join(
        f"{name}={value}"
        for name, value in sorted(
            (quote(name, safe=_UNRESERVED), quote(value, safe=_UNRESERVED))
            for name, value in pairs
            if name != "X-Amz-Signature"
        )
    )
    signed_headers = params["X-Amz-SignedHeaders"]
    assert signed_headers == "host", f"signed headers: {signed_headers}"
    canonical_request = "\n".join(
        [
            method,
            parts.path,
            canonical_query,
            f"host:{parts.netloc}\n",
            signed_headers,
            "UNSIGNED-PAYLOAD",
        ]
    )
    scope = f"{scope_date}/{region}/{service}/{terminator}"
    string_to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            params["X-Amz-Date"],
            scope,
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        ]
    )
    key = f"AWS4{secret_key}".encode()
    for part in (scope_date, region, service, terminator):
        key = _hmac(key, part)
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


def signature_is_valid(url: str, method: str, secret_key: str) -> bool:
    signature = dict(parse_qsl(urlsplit(url).query))["X-Amz-Signature"]
    return hmac.compare_digest(signature, expected_signature(url, method, secret_key))


def expires_at(url: str) -> datetime:
    params = dict(parse_qsl(urlsplit(url).query))
    signed_at = datetime.strptime(params["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    return signed_at + timedelta(seconds=int(params["X-Amz-Expires"]))
