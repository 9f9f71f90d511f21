"""Content-Disposition for user-supplied names (RFC 6266 / RFC 8187)."""

import pytest

from downloads.http.disposition import content_disposition, safe_filename, visible_text


@pytest.mark.parametrize(
    ("filename", "inline", "expected"),
    [
        pytest.param("report.pdf", False, 'attachment; filename="report.pdf"', id="plain-ascii"),
        pytest.param("photo.jpg", True, 'inline; filename="photo.jpg"', id="inline"),
        pytest.param(
            "résumé 2024.pdf",
            False,
            'attachment; filename="resume 2024.pdf"; '
            "filename*=UTF-8''r%C3%A9sum%C3%A9%202024.pdf",
            id="accents-folded",
        ),
        pytest.param(
            "re\u0301sume\u0301.pdf",
            False,
            "attachment; filename=\"resume.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf",
            id="decomposed-input-sent-as-nfc",
        ),
        pytest.param(
            'a "b"; c.txt',
            False,
            "attachment; filename=\"a _b__ c.txt\"; filename*=UTF-8''a%20%22b%22%3B%20c.txt",
            id="quotes-and-semicolon",
        ),
        pytest.param(
            "報告書.pdf",
            False,
            "attachment; filename=\"___.pdf\"; filename*=UTF-8''%E5%A0%B1%E5%91%8A%E6%9B%B8.pdf",
            id="cjk",
        ),
        pytest.param(
            "\U0001f600.png",
            True,
            "inline; filename=\"_.png\"; filename*=UTF-8''%F0%9F%98%80.png",
            id="emoji",
        ),
        pytest.param(
            "100% done.txt",
            False,
            "attachment; filename=\"100_ done.txt\"; filename*=UTF-8''100%25%20done.txt",
            id="percent",
        ),
        pytest.param(
            "evil\r\nSet-Cookie: x=1.txt",
            False,
            'attachment; filename="evilSet-Cookie: x=1.txt"',
            id="crlf-removed",
        ),
        pytest.param("a\tb\x00c\x7f.txt", False, 'attachment; filename="abc.txt"', id="controls"),
        pytest.param(
            "evil\u202egpj.exe",
            False,
            'attachment; filename="evilgpj.exe"',
            id="bidi-override-removed",
        ),
        pytest.param(
            "../../etc/passwd", False, 'attachment; filename="_.._etc_passwd"', id="path-traversal"
        ),
        pytest.param(
            "C:\\Users\\x.txt", False, 'attachment; filename="C:_Users_x.txt"', id="backslashes"
        ),
        pytest.param(".htaccess", False, 'attachment; filename="htaccess"', id="leading-dot"),
        pytest.param("", False, 'attachment; filename="download"', id="empty"),
        pytest.param(" ... ", False, 'attachment; filename="download"', id="only-dots"),
        pytest.param("\r\n", False, 'attachment; filename="download"', id="only-controls"),
    ],
)
def test_content_disposition(filename: str, inline: bool, expected: str) -> None:
    assert content_disposition(filename, inline=inline) == expected


@pytest.mark.parametrize(
    "filename",
    [
        pytest.param("a\rb\nc\x00d\x1be\x85f\u2028g\u2029h", id="every-line-breaker"),
        pytest.param("\ud800lone-surrogate.txt", id="lone-surrogate"),
        pytest.param("ﬁle\uff0fname\uff3c.txt", id="compatibility-forms"),
        pytest.param('"\\%;' * 20, id="only-specials"),
    ],
)
def test_header_is_always_printable_ascii(filename: str) -> None:
    header = content_disposition(filename, inline=False)
    assert header.isascii()
    assert all(" " <= char <= "~" for char in header)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param("résumé.pdf", "résumé.pdf", id="unicode-kept"),
        pytest.param("a/b\\c.txt", "a_b_c.txt", id="separators"),
        pytest.param("x\r\ny.txt", "xy.txt", id="crlf"),
        pytest.param("..\u202e.txt", "txt", id="dots-then-bidi"),
        pytest.param("", "download", id="empty"),
    ],
)
def test_safe_filename(name: str, expected: str) -> None:
    assert safe_filename(name) == expected


# Format characters (Unicode category Cf): invisible, or reordering what follows. Each would make
# a name look like another; every one of them is dropped, wherever it stands.
INVISIBLE = [
    pytest.param("\u200b", id="zero-width-space"),
    pytest.param("\ufeff", id="bom-zero-width-no-break-space"),
    pytest.param("\u2060", id="word-joiner"),
    pytest.param("\u00ad", id="soft-hyphen"),
    pytest.param("\u180e", id="mongolian-vowel-separator"),
    pytest.param("\u200c", id="zero-width-non-joiner"),
    pytest.param("\u200d", id="zero-width-joiner"),
    pytest.param("\u2061", id="function-application"),
    pytest.param("\u2064", id="invisible-plus"),
    pytest.param("\u206a", id="inhibit-symmetric-swapping"),
    pytest.param("\ufff9", id="interlinear-annotation"),
    pytest.param("\U000e0041", id="tag-latin-a"),
    pytest.param("\U0001d173", id="musical-begin-beam"),
    pytest.param("\u0600", id="arabic-number-sign"),
    pytest.param("\u061c", id="arabic-letter-mark"),
    pytest.param("\u200e", id="left-to-right-mark"),
    pytest.param("\u202e", id="right-to-left-override"),
    pytest.param("\u2067", id="right-to-left-isolate"),
]


@pytest.mark.parametrize("char", INVISIBLE)
def test_format_characters_are_in_category_cf(char: str) -> None:
    import unicodedata

    assert unicodedata.category(char) == "Cf"


@pytest.mark.parametrize("char", INVISIBLE)
@pytest.mark.parametrize(
    ("template", "expected"),
    [
        pytest.param("{c}report.pdf", "report.pdf", id="leading"),
        pytest.param("rep{c}ort.pdf", "report.pdf", id="inside"),
        pytest.param("report{c}.pdf", "report.pdf", id="before-extension"),
        pytest.param("report.pdf{c}", "report.pdf", id="trailing"),
        pytest.param("{c}{c}{c}", "download", id="only-invisible"),
        pytest.param("{c}.htaccess", "htaccess", id="hiding-a-leading-dot"),
    ],
)
def test_format_characters_leave_every_name(char: str, template: str, expected: str) -> None:
    name = template.format(c=char)
    assert safe_filename(name) == expected
    assert content_disposition(name, inline=False) == f'attachment; filename="{expected}"'


def test_dropping_an_invisible_character_lets_the_rest_compose() -> None:
    assert visible_text("e\u200b\u0301") == "\u00e9"
    assert safe_filename("re\u200b\u0301sume\u0301.pdf") == "r\u00e9sum\u00e9.pdf"


def test_visible_characters_that_look_empty_are_kept() -> None:
    # Spaces are separators (Zs), not format characters: "a b.txt" keeps its space.
    assert safe_filename("a\u00a0b\u3000c.txt") == "a\u00a0b\u3000c.txt"
