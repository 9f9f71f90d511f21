"""The client's address, taken one way for the download log and for login throttling."""

import ipaddress
import logging

from django.http import HttpRequest

from downloads.conf import app_settings

logger = logging.getLogger(__name__)


def valid_ip(value: str) -> str | None:
    """`value` as a canonical IP address, or None when it is not one.

    Proxies write addresses in more than one way ("[::1]:8080", "10.0.0.1:443", "::ffff:10.0.0.1"),
    and a header a client wrote can say anything; PostgreSQL's inet column refuses anything that is
    not an address, and a row it refuses would never be written."""
    candidate = value.strip()
    if candidate.startswith("[") and "]" in candidate:
        candidate = candidate[1 : candidate.index("]")]
    elif candidate.count(":") == 1:
        # IPv4 with a port; a bare IPv6 address has at least two colons.
        candidate = candidate.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(candidate)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return str(address)


def client_ip(request: HttpRequest) -> str | None:
    """REMOTE_ADDR, or the address the nearest of DOWNLOADS_TRUSTED_PROXIES proxies saw.

    Each trusted proxy appends the address it saw to X-Forwarded-For; anything further left was
    written by the client. A value that is not an address is not believed: the answer is None,
    and the reason is logged."""
    remote = valid_ip(request.META.get("REMOTE_ADDR") or "")
    trusted = app_settings().trusted_proxies
    if not trusted:
        return remote
    forwarded = [a.strip() for a in request.headers.get("X-Forwarded-For", "").split(",")]
    forwarded = [a for a in forwarded if a]
    if len(forwarded) < trusted:
        return remote
    claimed = forwarded[-trusted]
    address = valid_ip(claimed)
    if address is None:
        logger.warning(
            "X-Forwarded-For entry %r (DOWNLOADS_TRUSTED_PROXIES=%d) is not an IP address",
            claimed[:100],
            trusted,
        )
    return address
