"""The rows of the HTTP contract that every delivery mode answers alike, shared by the in-process
suite (test_download_view.py) and the live one through real servers (test_contract_live.py)."""

import re

import pytest

BODY = bytes(range(256)) * 40  # 10,240 bytes, every byte value, so a wrong offset shows
SIZE = len(BODY)
# The headers every download carries, in every mode and whoever asks.
CONTRACT_HEADERS = (
    "Content-Length",
    "Content-Type",
    "Content-Disposition",
    "ETag",
    "Last-Modified",
    "Accept-Ranges",
    "X-Content-Type-Options",
    "Cache-Control",
)

SINGLE_RANGES = pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-0", 0, 0),
        ("bytes=100-199", 100, 199),
        ("bytes=10000-", 10000, 10239),
        ("bytes=-40", 10200, 10239),
        ("bytes=10200-99999", 10200, 10239),
    ],
    ids=["first-byte", "a-b", "a-", "suffix", "end-clamped"],
)
UNSATISFIABLE_RANGES = pytest.mark.parametrize(
    "header", ["bytes=10240-", "bytes=20000-30000", "bytes=-0"]
)
IGNORED_RANGES = pytest.mark.parametrize(
    "header", ["bytes=abc", "bytes=5-2", "items=0-10", "bytes", "bytes=1-2-3", "bytes=0 -9"]
)
STALE_IF_RANGES = pytest.mark.parametrize(
    "if_range", ['"stale"', 'W/"weak"', "Tue, 01 Jan 2019 00:00:00 GMT", "garbage"]
)
NON_ASCII_NAMES = pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "résumé 2024.pdf",
            'attachment; filename="resume 2024.pdf"; '
            "filename*=UTF-8''r%C3%A9sum%C3%A9%202024.pdf",
        ),
        (
            "報告書.pdf",
            "attachment; filename=\"___.pdf\"; filename*=UTF-8''%E5%A0%B1%E5%91%8A%E6%9B%B8.pdf",
        ),
    ],
)


def parse_multipart(content_type: str, content_length: str, raw: bytes) -> list[tuple[str, bytes]]:
    """The (Content-Range, bytes) of each part of a multipart/byteranges body, checking its
    framing and that Content-Length counts the body exactly."""
    boundary = re.fullmatch(r"multipart/byteranges; boundary=(\S+)", content_type)
    assert boundary, content_type
    assert len(raw) == int(content_length)
    assert raw.endswith(f"--{boundary[1]}--\r\n".encode())
    parts = []
    for chunk in raw.split(f"--{boundary[1]}".encode())[1:-1]:
        head, _, part = chunk.partition(b"\r\n\r\n")
        assert b"Content-Type: application/octet-stream" in head
        content_range = re.search(rb"Content-Range: (.+)", head)
        assert content_range, head
        parts.append((content_range[1].decode().strip(), part[:-2]))
    return parts
