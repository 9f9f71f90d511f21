"""Conditional requests: RFC 9110 §13.2.2 precondition evaluation for one stored representation.

`headers` may be any mapping of request header names to values; names are matched
case-insensitively, so Django's `request.headers` and a plain dict both work.
"""

import math
import re
from collections.abc import Mapping
from typing import NamedTuple

from django.utils.http import parse_http_date_safe, quote_etag

NOT_MODIFIED = 304
PRECONDITION_FAILED = 412

_SAFE_METHODS = frozenset({"GET", "HEAD"})

# One token of an entity-tag list: whitespace, a comma, or an entity-tag (RFC 9110 §8.8.3).
# etagc excludes DQUOTE, so a tag can contain commas: the list must be tokenised, not split.
_LIST_TOKEN = re.compile(r'[ \t]+|,|(W/)?"([\x21\x23-\x7e\x80-\xff]*)"')


class EntityTag(NamedTuple):
    weak: bool
    opaque: str


def parse_entity_tags(value: str) -> list[EntityTag] | None:
    """The entity-tags of an If-Match / If-None-Match list, or None if the list is malformed.

    Empty list elements are skipped, as RFC 9110 §5.6.1.2 asks of recipients.
    """
    tags: list[EntityTag] = []
    position = 0
    after_tag = False
    while position < len(value):
        token = _LIST_TOKEN.match(value, position)
        if token is None:
            return None
        position = token.end()
        if token[0] == ",":
            after_tag = False
        elif token[2] is not None:
            if after_tag:  # two tags with no comma between them
                return None
            tags.append(EntityTag(weak=token[1] is not None, opaque=token[2]))
            after_tag = True
    return tags


def current_entity_tag(etag: str) -> EntityTag:
    """The server's own ETag, quoted or bare (bare means strong); ValueError if invalid."""
    tags = parse_entity_tags(quote_etag(etag))
    if tags is None or len(tags) != 1:
        raise ValueError(f"not a valid entity-tag: {etag!r}")
    return tags[0]


def strong_match(a: EntityTag, b: EntityTag) -> bool:
    return not a.weak and not b.weak and a.opaque == b.opaque


def weak_match(a: EntityTag, b: EntityTag) -> bool:
    return a.opaque == b.opaque


def precondition_status(
    method: str, headers: Mapping[str, str], etag: str, last_modified: float
) -> int | None:
    """304 or 412 when a precondition decides the response, None to go on serving.

    Follows the order of RFC 9110 §13.2.2 steps 1-4; If-Range (step 5) is `ranges.if_range_allows`.
    `etag` is the representation's current ETag; `last_modified` a Unix timestamp, compared in
    whole seconds because that is all an HTTP-date carries.
    """
    fields = _present_fields(headers)
    current = current_entity_tag(etag)
    modified = math.floor(last_modified)
    safe = method.upper() in _SAFE_METHODS

    if "if-match" in fields:
        if not _if_match_passes(fields["if-match"], current):
            return PRECONDITION_FAILED
    elif _was_modified_after(fields.get("if-unmodified-since"), modified):
        return PRECONDITION_FAILED

    if "if-none-match" in fields:
        if not _if_none_match_passes(fields["if-none-match"], current):
            return NOT_MODIFIED if safe else PRECONDITION_FAILED
    elif safe and _not_modified_since(fields.get("if-modified-since"), modified):
        return NOT_MODIFIED
    return None


def _present_fields(headers: Mapping[str, str]) -> dict[str, str]:
    # A field sent with an empty value says nothing, so it counts as absent.
    return {name.lower(): value for name, value in headers.items() if value.strip(" \t")}


def _if_match_passes(value: str, current: EntityTag) -> bool:
    # §13.1.1: "*" or a strong match. A malformed list matches nothing, so it fails closed.
    if value.strip(" \t") == "*":
        return True
    tags = parse_entity_tags(value) or []
    return any(strong_match(tag, current) for tag in tags)


def _if_none_match_passes(value: str, current: EntityTag) -> bool:
    # §13.1.2: false on "*" (the representation exists) or on any weak match.
    if value.strip(" \t") == "*":
        return False
    tags = parse_entity_tags(value) or []
    return not any(weak_match(tag, current) for tag in tags)


def _was_modified_after(value: str | None, modified: int) -> bool:
    # §13.1.4: an invalid date is ignored, so it cannot fail the request.
    since = parse_http_date_safe(value.strip(" \t")) if value else None
    return since is not None and modified > since


def _not_modified_since(value: str | None, modified: int) -> bool:
    # §13.1.3: an invalid date is ignored, so the full response is sent.
    since = parse_http_date_safe(value.strip(" \t")) if value else None
    return since is not None and modified <= since
