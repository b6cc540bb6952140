"""What a "your sessions" page shows for a ``User-Agent``: browser and operating system.

``describe_device("Mozilla/5.0 (X11; Linux x86_64) ... Chrome/126.0.0.0 Safari/537.36")``
is ``"Chrome 126 on Linux"``. A short, readable guess from well-known tokens,
not a full user-agent database: the header is whatever the client sent, so
the result is a label to recognise one's own devices by, never evidence.
Unknown agents read ``"Unknown browser"``, unknown systems are left out.
"""

from __future__ import annotations

import re

__all__ = ["describe_device"]

# Order matters: Edge and Opera also say "Chrome", Chrome also says "Safari".
_BROWSERS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("Edge", re.compile(r"\bEdg(?:e|A|iOS)?/(\d+)")),
    ("Opera", re.compile(r"\b(?:OPR|Opera)/(\d+)")),
    ("Samsung Internet", re.compile(r"\bSamsungBrowser/(\d+)")),
    ("Firefox", re.compile(r"\b(?:Firefox|FxiOS)/(\d+)")),
    ("Chrome", re.compile(r"\b(?:Chrome|CriOS|HeadlessChrome)/(\d+)")),
    ("Safari", re.compile(r"\bVersion/(\d+)(?:\.\d+)*(?: Mobile/\S+)? Safari/")),
    ("curl", re.compile(r"^curl/(\d+)")),
    ("Python", re.compile(r"^python-(?:requests|httpx|urllib\d?)/(\d+)")),
)

_SYSTEMS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("iPadOS", re.compile(r"\biPad\b")),
    ("iOS", re.compile(r"\b(?:iPhone|iPod)\b")),
    ("Android", re.compile(r"\bAndroid\b")),
    ("ChromeOS", re.compile(r"\bCrOS\b")),
    ("Windows", re.compile(r"\bWindows\b")),
    ("macOS", re.compile(r"\bMac OS X\b|\bMacintosh\b")),
    ("Linux", re.compile(r"\bLinux\b|\bX11\b")),
)


def describe_device(user_agent: str | None) -> str:
    """``"<browser> <major version> on <system>"`` from a ``User-Agent``, as far as known."""
    if not user_agent:
        return "Unknown device"
    browser = "Unknown browser"
    for name, pattern in _BROWSERS:
        found = pattern.search(user_agent)
        if found:
            browser = f"{name} {found.group(1)}"
            break
    for name, pattern in _SYSTEMS:
        if pattern.search(user_agent):
            return f"{browser} on {name}"
    return browser
