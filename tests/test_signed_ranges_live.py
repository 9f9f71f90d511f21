"""Range requests to a signed media URL are answered exactly as the checked download answers them.

One table of Range (and If-Range, If-Match) headers, many of them hostile: unsorted, overlapping
and touching ranges, ranges past the end mixed with good ones, more ranges than
DOWNLOADS_MAX_RANGES, hundreds of tiny ones, numbers too long for any integer type, whitespace
where the grammar allows it and where it does not, an empty `bytes=`. Each is sent to the checked
download and to `/m/` of the same file, in nginx mode through real nginx (where njs,
deploy/signedmedia.js, answers /m/ without the app) and in django mode through gunicorn alone;
the two answers must have the same status, the same headers that describe the answer and the
same bytes (for a multipart answer, the same parts: each part's headers and bytes; only the
boundary may differ).
"""

import re
import time
from dataclasses import dataclass
from email.parser import BytesParser
from email.policy import HTTP
from types import SimpleNamespace

import pytest
import requests
from django.utils.http import http_date

from downloads.models import StoredFile
from downloads.signedmedia import sign, signed_for
from harness.login import login
from tests.contract_cases import BODY, SIZE
from tests.livefiles import PASSWORD, USER, Files

pytestmark = pytest.mark.integration

TIMEOUT = 10  # answered, not hung
MAX_RANGES = 16  # DOWNLOADS_MAX_RANGES's default, which the test servers run with
# The headers that say what the answer is. Content-Type and Content-Length of a multipart
# answer name and count its boundary, so for those the parts are compared instead.
COMPARED = (
    "Content-Type",
    "Content-Length",
    "Content-Range",
    "Content-Disposition",
    "Content-Security-Policy",
    "ETag",
    "Last-Modified",
    "Accept-Ranges",
    "Cache-Control",
    "X-Content-Type-Options",
)


def tiny_ranges(count: int, *, descending: bool = False) -> str:
    """`count` one-byte ranges with a byte between them, so none merge."""
    positions = [2 * i for i in range(count)]
    if descending:
        positions.reverse()
    return "bytes=" + ",".join(f"{p}-{p}" for p in positions)


HUGE = "9" * 40  # past 2^63 and past any float's precision

# (id, headers): ids name the rule each case is about.
RANGE_CASES: list[tuple[str, dict[str, str]]] = [
    ("no-range", {}),
    ("sorted-pair", {"Range": "bytes=0-9,100-199"}),
    ("unsorted-pair", {"Range": "bytes=500-600,0-100"}),
    ("overlapping", {"Range": "bytes=0-10,5-20"}),
    ("overlapping-into-one", {"Range": "bytes=0-99,50-149"}),
    ("suffix-and-prefix", {"Range": "bytes=-5,0-1"}),
    ("touching", {"Range": "bytes=0-1,2-3"}),
    ("same-twice", {"Range": "bytes=7-7,7-7"}),
    ("contained", {"Range": "bytes=0-999,10-20,500-"}),
    ("whole-twice", {"Range": "bytes=0-,0-"}),
    ("suffix-covers-all", {"Range": f"bytes=-{SIZE + 5},100-199"}),
    ("max-ranges-unsorted", {"Range": tiny_ranges(MAX_RANGES, descending=True)}),
    ("max-ranges-sorted", {"Range": tiny_ranges(MAX_RANGES)}),
    ("one-over-max-ranges", {"Range": tiny_ranges(MAX_RANGES + 1)}),
    ("hundreds-of-tiny-ranges", {"Range": tiny_ranges(400, descending=True)}),
    ("hundreds-of-one-byte", {"Range": "bytes=" + ",".join(["0-0"] * 300)}),
    ("past-end-and-good", {"Range": f"bytes={SIZE + 100}-,0-9"}),
    ("good-and-past-end", {"Range": f"bytes=5000-5009,{SIZE}-{SIZE + 10},0-0"}),
    ("zero-suffix-and-good", {"Range": "bytes=-0,20-29,0-9"}),
    ("all-past-end", {"Range": f"bytes={SIZE}-,{SIZE + 1}-{SIZE + 9}"}),
    ("huge-last", {"Range": f"bytes=0-{HUGE}"}),
    ("huge-first", {"Range": f"bytes={HUGE}-"}),
    ("huge-suffix", {"Range": f"bytes=-{HUGE}"}),
    ("huge-mixed", {"Range": f"bytes={HUGE}-,10-19,-{HUGE},0-0"}),
    ("huge-reversed", {"Range": f"bytes={HUGE}-5"}),
    ("nineteen-digits", {"Range": "bytes=0-1000000000000000000,5-9"}),
    ("leading-zeros", {"Range": "bytes=0000000000000000000000010-0000000000000000000000019,0-1"}),
    ("spaces-around-commas", {"Range": "bytes=20-29 ,  0-9"}),
    ("tab-around-commas", {"Range": "bytes=0-9,\t20-29"}),
    ("ows-after-value", {"Range": "bytes=20-29,0-9 \t "}),
    ("space-after-equals", {"Range": "bytes= 20-29,0-9"}),
    ("space-before-equals", {"Range": "bytes =0-9"}),
    ("space-inside-spec", {"Range": "bytes=0 -9,20-29"}),
    ("empty-set", {"Range": "bytes="}),
    ("only-commas", {"Range": "bytes=,,"}),
    ("empty-elements", {"Range": "bytes=,20-29,,0-9,"}),
    ("upper-case-unit", {"Range": "BYTES=20-29,0-9"}),
    ("other-unit", {"Range": "items=0-9"}),
    ("malformed-one-of-many", {"Range": "bytes=0-9,abc,20-29"}),
    ("reversed-one-of-many", {"Range": "bytes=20-29,9-5"}),
    ("three-numbers", {"Range": "bytes=1-2-3,0-0"}),
    ("plus-sign", {"Range": "bytes=+5-9"}),
    ("non-ascii-digits", {"Range": "bytes=0-\xb2"}),
]


def if_range_cases(stored: StoredFile | SimpleNamespace) -> list[tuple[str, dict[str, str]]]:
    unsorted = "bytes=500-600,0-100,50-60"
    return [
        ("if-range-tag-unsorted", {"If-Range": stored.etag, "Range": unsorted}),
        (
            "if-range-date-unsorted",
            {"If-Range": http_date(stored.last_modified), "Range": unsorted},
        ),
        ("if-range-stale-unsorted", {"If-Range": '"stale"', "Range": unsorted}),
        ("if-range-weak-unsorted", {"If-Range": f"W/{stored.etag}", "Range": unsorted}),
        ("if-range-old-date", {"If-Range": http_date(stored.last_modified - 1), "Range": unsorted}),
        ("if-range-garbage", {"If-Range": "garbage", "Range": unsorted}),
        ("if-range-ows-tag", {"If-Range": f"{stored.etag} \t", "Range": unsorted}),
        ("if-range-ows-tag-sorted", {"If-Range": f"{stored.etag}  ", "Range": "bytes=0-9"}),
        ("if-range-tag-past-end", {"If-Range": stored.etag, "Range": f"bytes={SIZE}-"}),
        ("if-range-stale-past-end", {"If-Range": '"stale"', "Range": f"bytes={SIZE}-"}),
        ("if-range-tag-tabs", {"If-Range": stored.etag, "Range": "bytes=0-9,\t20-29"}),
        ("if-match-unsorted", {"If-Match": stored.etag, "Range": unsorted}),
        (
            "if-match-stale-if-range",
            {"If-Match": stored.etag, "If-Range": '"x"', "Range": unsorted},
        ),
        ("if-match-malformed-range", {"If-Match": "*", "Range": "bytes=0-9,\t,x"}),
        (
            "if-unmodified-overlapping",
            {"If-Unmodified-Since": http_date(stored.last_modified), "Range": "bytes=0-10,5-20"},
        ),
        ("if-none-match-other-unsorted", {"If-None-Match": '"other"', "Range": unsorted}),
    ]


EMPTY_FILE_CASES: list[tuple[str, dict[str, str]]] = [
    ("empty-suffix", {"Range": "bytes=-5"}),
    ("empty-suffixes", {"Range": "bytes=-5,-1"}),
    ("empty-from-zero", {"Range": "bytes=0-"}),
    ("empty-mixed", {"Range": "bytes=0-,-3"}),
]


@dataclass
class Target:
    """One mode's checked download and signed URL for the same files."""

    url: str
    session: requests.Session  # logged in, for the checked download
    files: Files

    def checked(
        self, stored: StoredFile, headers: dict[str, str], method: str = "GET"
    ) -> requests.Response:
        return self.session.request(
            method,
            self.url + stored.get_download_url(),
            headers=headers,
            allow_redirects=False,
            timeout=TIMEOUT,
        )

    def signed(
        self, stored: StoredFile, headers: dict[str, str], method: str = "GET"
    ) -> requests.Response:
        url = self.url + sign(signed_for(stored, inline=False, expires=int(time.time()) + 300))
        # A fresh client: a signed URL needs no session.
        return requests.request(
            method, url, headers=headers, allow_redirects=False, timeout=TIMEOUT
        )


@pytest.fixture(scope="module", params=["nginx", "django"])
def target(request: pytest.FixtureRequest, live_stack, live_files) -> Target:
    # The server first (it sets the test database up), then the files and their user.
    if request.param == "nginx":
        url = live_stack("nginx").url
    else:
        url = request.getfixturevalue("gunicorn_server").url
    files = live_files("local")
    return Target(url, login(url, USER, PASSWORD), files)


Part = tuple[dict[str, str], bytes]


def parts(response: requests.Response) -> list[Part]:
    """The parts of a multipart/byteranges body: each part's headers and bytes."""
    content_type = response.headers["Content-Type"]
    boundary = re.fullmatch(r"multipart/byteranges; boundary=(\S+)", content_type)
    assert boundary, content_type
    raw = response.content
    assert len(raw) == int(response.headers["Content-Length"])
    delimiter = f"--{boundary[1]}".encode()
    assert raw.endswith(delimiter + b"--\r\n")
    found = []
    for chunk in raw.split(delimiter)[1:-1]:
        assert chunk.startswith(b"\r\n"), chunk[:40]
        head, separator, body = chunk[2:].partition(b"\r\n\r\n")
        assert separator
        assert body.endswith(b"\r\n")
        fields = BytesParser(policy=HTTP).parsebytes(head + b"\r\n\r\n", headersonly=True)
        found.append(({name.lower(): value for name, value in fields.items()}, body[:-2]))
    return found


def answer(response: requests.Response) -> dict[str, object]:
    """What a client can tell of an answer, the multipart boundary aside."""
    headers = {name: response.headers.get(name) for name in COMPARED}
    body: object = response.content
    if (headers["Content-Type"] or "").startswith("multipart/byteranges"):
        body = parts(response)
        headers["Content-Type"] = "multipart/byteranges"
        headers["Content-Length"] = None
    elif headers["Content-Length"] is not None and response.request.method != "HEAD":
        assert int(headers["Content-Length"]) == len(response.content)
    return {"status": response.status_code, "headers": headers, "body": body}


def assert_alike(
    target: Target, stored: StoredFile, headers: dict[str, str], method: str = "GET"
) -> dict:
    checked = answer(target.checked(stored, headers, method))
    signed = answer(target.signed(stored, headers, method))
    assert signed == checked
    return signed


@pytest.mark.parametrize("case", [name for name, _ in RANGE_CASES])
def test_a_range_is_answered_as_the_checked_download(target: Target, case: str):
    headers = dict(RANGE_CASES)[case]
    assert_alike(target, target.files.data, headers)


@pytest.mark.parametrize(
    "case", [name for name, _ in if_range_cases(SimpleNamespace(etag='"x"', last_modified=0))]
)
def test_if_range_and_preconditions_with_ranges_are_answered_alike(target: Target, case: str):
    headers = dict(if_range_cases(target.files.data))[case]
    assert_alike(target, target.files.data, headers)


@pytest.mark.parametrize("case", [name for name, _ in EMPTY_FILE_CASES])
def test_ranges_of_an_empty_file_are_answered_alike(target: Target, case: str):
    assert_alike(target, target.files.named["empty.txt"], dict(EMPTY_FILE_CASES)[case])


@pytest.mark.parametrize("case", ["unsorted-pair", "overlapping", "tab-around-commas"])
def test_head_ignores_ranges_alike(target: Target, case: str):
    headers = dict(RANGE_CASES)[case]
    assert_alike(target, target.files.data, headers, "HEAD")
    assert_alike(target, target.files.data, {**headers, "If-Match": "*"}, "HEAD")


def test_merged_ranges_are_sorted_parts_of_the_file(target: Target):
    # The table compares the two answers; this says what that answer is.
    signed = answer(target.signed(target.files.data, {"Range": "bytes=500-600,0-100,50-150"}))
    assert signed["status"] == 206
    assert (
        [(part["content-range"], body) for part, body in signed["body"]]
        == [  # type: ignore[union-attr]
            (f"bytes 0-150/{SIZE}", BODY[0:151]),
            (f"bytes 500-600/{SIZE}", BODY[500:601]),
        ]
    )
