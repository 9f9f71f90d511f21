"""The client's address: what the download log and login throttling both believe."""

import pytest
from django.test import RequestFactory

from downloads.clientip import client_ip, valid_ip


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("203.0.113.7:51234", "203.0.113.7"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("2001:db8::1", "2001:db8::1"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        (" 203.0.113.7 ", "203.0.113.7"),
        ("unknown", None),
        ("203.0.113.7, 198.51.100.1", None),
        ("", None),
        ("1" * 300, None),
    ],
)
def test_valid_ip(raw, expected):
    assert valid_ip(raw) == expected


def _request(forwarded=None, remote="127.0.0.1"):
    headers = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded is not None else {}
    return RequestFactory().get("/", REMOTE_ADDR=remote, **headers)


def test_without_trusted_proxies_the_header_is_ignored(settings):
    settings.DOWNLOADS_TRUSTED_PROXIES = 0
    assert client_ip(_request("198.51.100.9")) == "127.0.0.1"


def test_one_trusted_proxy_takes_the_last_entry(settings):
    settings.DOWNLOADS_TRUSTED_PROXIES = 1
    assert client_ip(_request("6.6.6.6, 198.51.100.9")) == "198.51.100.9"


def test_too_few_entries_fall_back_to_the_peer(settings):
    settings.DOWNLOADS_TRUSTED_PROXIES = 2
    assert client_ip(_request("198.51.100.9")) == "127.0.0.1"


def test_an_entry_that_is_no_address_is_not_believed(settings, caplog):
    settings.DOWNLOADS_TRUSTED_PROXIES = 1
    assert client_ip(_request("6.6.6.6, 198.51.100.9:8080")) == "198.51.100.9"
    assert client_ip(_request("<script>")) is None
    assert "not an IP address" in caplog.text
