"""Reading a session's client: the device from a User-Agent, the address behind proxies."""

from __future__ import annotations

import pytest

from auth_store.devices import describe_device
from auth_store.errors import ConfigurationError
from auth_store.integrations.common import client_address, parse_proxies


@pytest.mark.parametrize(
    ("user_agent", "device"),
    [
        (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/126.0.0.0 Safari/537.36",
            "Chrome 126 on Linux",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/125.0.0.0 Safari/537.36 Edg/125.0.2535.67",
            "Edge 125 on Windows",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
            "Safari 17 on iOS",
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.5 Safari/605.1.15",
            "Safari 17 on macOS",
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/126.0.6478.71 Mobile Safari/537.36",
            "Chrome 126 on Android",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; rv:128.0) Gecko/20100101 Firefox/128.0",
            "Firefox 128 on Windows",
        ),
        ("curl/8.5.0", "curl 8"),
        ("something odd", "Unknown browser"),
        (None, "Unknown device"),
    ],
)
def test_describe_device(user_agent: str | None, device: str) -> None:
    assert describe_device(user_agent) == device


TRUSTED = parse_proxies("10.0.0.0/8, 2001:db8::1")


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "address"),
    [
        ("203.0.113.9", None, (), "203.0.113.9"),
        ("203.0.113.9", "198.51.100.7", (), "203.0.113.9"),  # no trusted proxy: ignored
        ("203.0.113.9", "198.51.100.7", TRUSTED, "203.0.113.9"),  # peer is no proxy of ours
        ("10.0.0.2", "198.51.100.7", TRUSTED, "198.51.100.7"),
        ("10.0.0.2", "192.0.2.1, 198.51.100.7", TRUSTED, "198.51.100.7"),  # left part made up
        ("10.0.0.2", "198.51.100.7, 10.1.2.3", TRUSTED, "198.51.100.7"),  # two proxies
        ("10.0.0.2", "not-an-ip", TRUSTED, "10.0.0.2"),
        ("2001:db8::1", "::ffff:192.0.2.5", TRUSTED, "192.0.2.5"),
        ("testclient", "198.51.100.7", TRUSTED, None),
    ],
)
def test_client_address(
    peer: str, forwarded: str | None, trusted: tuple[object, ...], address: str | None
) -> None:
    assert client_address(peer, forwarded, trusted) == address  # type: ignore[arg-type]


def test_a_bad_proxy_setting_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        parse_proxies(["10.0.0.0/8", "proxy.example.com"])
