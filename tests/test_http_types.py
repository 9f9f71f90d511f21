"""Inline safety and upload content-type sniffing."""

import pytest

from downloads.http.types import SNIFF_BYTES, is_safe_inline, sniff_content_type

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
UTF8_TEXT = "text/plain; charset=utf-8"
HTML = "text/html; charset=utf-8"


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        pytest.param("image/png", True, id="png"),
        pytest.param("IMAGE/PNG", True, id="upper-case"),
        pytest.param("image/jpeg; foo=bar", True, id="jpeg-with-parameter"),
        pytest.param("application/pdf", True, id="pdf"),
        pytest.param("audio/mpeg", True, id="audio"),
        pytest.param("video/mp4", True, id="video"),
        pytest.param("text/plain", True, id="text-plain"),
        pytest.param("text/plain; charset=utf-8", True, id="text-plain-charset"),
        pytest.param("image/svg+xml", False, id="svg"),
        pytest.param("image/svg+xml; charset=utf-8", False, id="svg-charset"),
        pytest.param("image/vnd.foo+xml", False, id="any-xml-image"),
        pytest.param("text/html", False, id="html"),
        pytest.param("text/html; charset=utf-8", False, id="html-charset"),
        pytest.param("application/xhtml+xml", False, id="xhtml"),
        pytest.param("text/xml", False, id="text-xml"),
        pytest.param("application/xml", False, id="application-xml"),
        pytest.param("text/javascript", False, id="javascript"),
        pytest.param("application/javascript", False, id="application-javascript"),
        pytest.param("text/css", False, id="css"),
        pytest.param("text/csv", False, id="csv"),
        pytest.param("application/octet-stream", False, id="octet-stream"),
        pytest.param("application/zip", False, id="zip"),
        pytest.param("", False, id="empty"),
        pytest.param("image", False, id="no-subtype"),
        pytest.param("image/", False, id="empty-subtype"),
        pytest.param("image/*", False, id="wildcard"),
        pytest.param("text/plain-html", False, id="lookalike-subtype"),
        pytest.param("image/png html", False, id="junk-after-type"),
    ],
)
def test_is_safe_inline(content_type: str, expected: bool) -> None:
    assert is_safe_inline(content_type) is expected


PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
ZIP = b"PK\x03\x04\x14\x00\x00\x00\x08\x00"
BMP = b"BM" + b"\x36\x00\x0c\x00" + b"\x00" * 4 + b"\x36\x00\x00\x00" + b"\x28\x00\x00\x00"
TAR = b"a.txt".ljust(257, b"\x00") + b"ustar\x0000"
HTML_PAGE = b"<!DOCTYPE html><html><script>alert(1)</script>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


@pytest.mark.parametrize(
    ("name", "head", "expected"),
    [
        # signatures decide, whatever the name says
        pytest.param("a.pdf", b"%PDF-1.7\n", "application/pdf", id="pdf"),
        pytest.param("a.bin", b"%PDF-1.4\n", "application/pdf", id="pdf-any-name"),
        pytest.param("a.png", PNG, "image/png", id="png"),
        pytest.param("a.jpg", PNG, "image/png", id="png-named-jpg"),
        pytest.param("a.txt", PNG, "image/png", id="png-named-txt"),
        pytest.param("a", b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg", id="jpeg"),
        pytest.param("a", b"GIF87a\x01\x00", "image/gif", id="gif87a"),
        pytest.param("a", b"GIF89a\x01\x00", "image/gif", id="gif89a"),
        pytest.param("a", b"RIFF\x24\x00\x00\x00WEBPVP8 ", "image/webp", id="webp"),
        pytest.param("a", b"RIFF\x24\x00\x00\x00WAVEfmt ", "audio/wav", id="wav"),
        pytest.param("a", BMP, "image/bmp", id="bmp"),
        pytest.param("a", b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00", "video/mp4", id="mp4"),
        pytest.param(
            "a", b"\x00\x00\x00\x14ftypqt  \x00\x00\x02\x00", "video/quicktime", id="quicktime"
        ),
        pytest.param("a", b"\x00\x00\x00\x20ftypM4A \x00\x00\x02\x00", "audio/mp4", id="m4a"),
        pytest.param("a.m4a", b"\x00\x00\x00\x18ftypmp42", "audio/mp4", id="mp4-named-m4a"),
        pytest.param("a", b"\x00\x00\x00\x1cftypavif", "image/avif", id="avif"),
        pytest.param(
            "a", b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm", "video/webm", id="webm"
        ),
        pytest.param(
            "a", b"\x1a\x45\xdf\xa3\xa3\x42\x82\x88matroska", "video/x-matroska", id="matroska"
        ),
        pytest.param("a", b"OggS\x00\x02" + b"\x00" * 22 + b"\x01vorbis", "audio/ogg", id="ogg"),
        pytest.param(
            "a.ogv", b"OggS\x00\x02" + b"\x00" * 22 + b"\x80theora", "video/ogg", id="ogg-theora"
        ),
        pytest.param("a", b"ID3\x04\x00\x00\x00\x00\x00\x00", "audio/mpeg", id="mp3-id3"),
        pytest.param("a", b"\xff\xfb\x90\x64\x00", "audio/mpeg", id="mp3-frame"),
        pytest.param("a", b"fLaC\x00\x00\x00\x22", "audio/flac", id="flac"),
        pytest.param("a.zip", ZIP, "application/zip", id="zip"),
        pytest.param("a", ZIP, "application/zip", id="zip-no-name"),
        pytest.param("a.png", ZIP, "application/zip", id="zip-named-png"),
        pytest.param("Report.DOCX", ZIP, DOCX, id="zip-named-docx"),
        pytest.param("sheet.xlsx", ZIP, XLSX, id="zip-named-xlsx"),
        pytest.param("book.epub", ZIP, "application/epub+zip", id="zip-named-epub"),
        pytest.param("a.tar.gz", b"\x1f\x8b\x08\x00", "application/gzip", id="gzip"),
        pytest.param("a", b"7z\xbc\xaf\x27\x1c\x00\x04", "application/x-7z-compressed", id="7z"),
        pytest.param("a", b"\xfd7zXZ\x00\x00", "application/x-xz", id="xz"),
        pytest.param("a", b"BZh91AY&SY", "application/x-bzip2", id="bzip2"),
        pytest.param("a", TAR, "application/x-tar", id="tar"),
        pytest.param(
            "a.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/msword", id="ole-named-doc"
        ),
        # look-alikes that are really text
        pytest.param("cars.txt", b"BMW and Audi\n", UTF8_TEXT, id="text-starting-bm"),
        pytest.param("notes.txt", b"ID3 tags explained", UTF8_TEXT, id="text-starting-id3"),
        # by name
        pytest.param("a.txt", "héllo".encode(), UTF8_TEXT, id="txt-utf8"),
        pytest.param("a.txt", "aé".encode()[:-1], UTF8_TEXT, id="txt-cut-mid-character"),
        pytest.param("a.txt", b"caf\xe9 au lait", "text/plain", id="txt-not-utf8"),
        pytest.param("a.txt", b"\xff\xfeh\x00i\x00", "text/plain; charset=utf-16", id="txt-utf16"),
        pytest.param("a.txt", b"", UTF8_TEXT, id="txt-empty"),
        pytest.param("NOTES.TXT", b"hi", UTF8_TEXT, id="upper-case-extension"),
        pytest.param("dir\\sub/a.txt", b"hi", UTF8_TEXT, id="path-in-name"),
        pytest.param("a.csv", b"a,b\n1,2\n", "text/csv; charset=utf-8", id="csv"),
        pytest.param("a.md", b"# Title\n", "text/markdown; charset=utf-8", id="markdown"),
        pytest.param("a.json", b'{"a": 1}', "application/json", id="json"),
        pytest.param("a.html", HTML_PAGE, HTML, id="html"),
        pytest.param("a.htm", HTML_PAGE, HTML, id="htm"),
        pytest.param("a.svg", SVG, "image/svg+xml", id="svg"),
        pytest.param("a.xml", b"<?xml version='1.0'?><a/>", "application/xml", id="xml"),
        pytest.param("a.png", b"", "image/png", id="png-name-empty-file"),
        pytest.param("a.jpg", b"", "image/jpeg", id="jpg-name"),
        pytest.param("a.mp4", b"\x00\x01\x02junk", "video/mp4", id="mp4-name-unknown-bytes"),
        pytest.param("a.webm", b"", "video/webm", id="webm-name"),
        pytest.param("a.zip", b"", "application/zip", id="zip-name"),
        pytest.param("a.docx", b"", DOCX, id="docx-name"),
        pytest.param("a.xlsx", b"", XLSX, id="xlsx-name"),
        pytest.param("a.sh", b"", "application/x-sh", id="python-builtin-table"),
        # markup under a name that cannot hold markup: the markup type wins
        pytest.param("cat.png", HTML_PAGE, HTML, id="html-named-png"),
        pytest.param("cat.jpg", b"\xef\xbb\xbf \n<html>", HTML, id="html-bom-space-named-jpg"),
        pytest.param("doc.pdf", b"<!-- x --><HTML>", HTML, id="commented-html-named-pdf"),
        pytest.param("cat.png", SVG, "image/svg+xml", id="svg-named-png"),
        pytest.param("a.pdf", b"<?xml version='1.0'?><svg>", "image/svg+xml", id="svg-prolog-pdf"),
        pytest.param("a.gif", b"<?xml version='1.0'?><a/>", "application/xml", id="xml-named-gif"),
        pytest.param("a.mp4", b"<a href=x>", HTML, id="html-named-mp4"),
        pytest.param("page", HTML_PAGE, HTML, id="html-no-extension"),
        # markup under a name that can hold it: the name wins
        pytest.param("a.txt", HTML_PAGE, UTF8_TEXT, id="html-named-txt"),
        pytest.param("a.svg", HTML_PAGE, "image/svg+xml", id="html-named-svg"),
        pytest.param("a.png", b"<<< not markup", "image/png", id="angle-brackets-not-markup"),
        # nothing known
        pytest.param("README", b"Read me first.\n", UTF8_TEXT, id="text-no-extension"),
        pytest.param("blob", b"\x00\x01\x02\x03", "application/octet-stream", id="binary"),
        pytest.param("blob", b"", "application/octet-stream", id="empty-no-extension"),
        pytest.param("a.qqq", b"\x00\x01", "application/octet-stream", id="unknown-extension"),
        pytest.param("a.svgz", b"", "application/octet-stream", id="encoded-extension"),
        pytest.param("", b"", "application/octet-stream", id="no-name"),
    ],
)
def test_sniff_content_type(name: str, head: bytes, expected: str) -> None:
    assert sniff_content_type(name, head) == expected


def test_only_the_sniff_window_is_read() -> None:
    head = b"a" * SNIFF_BYTES + b"\xff\xfe invalid UTF-8 past the window"
    assert sniff_content_type("a.txt", head) == UTF8_TEXT
