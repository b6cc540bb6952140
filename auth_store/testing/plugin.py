"""pytest plugin (registered through the ``pytest11`` entry point): ``--auth-store-url``.

With ``--auth-store-url=URL``, ``pytest --pyargs auth_store.testing`` runs the
whole conformance suite (``auth_store/testing/test_url.py``) against fresh
stores derived from URL. Without it that module is not collected at all, so
no other test run is affected.
"""

from __future__ import annotations

from pathlib import Path

import pytest

__all__ = ["OPTION", "configured_url", "redact"]

OPTION = "--auth-store-url"

_URL_MODULE = Path(__file__).with_name("test_url.py")
_state: dict[str, str | None] = {"url": None}


def configured_url() -> str | None:
    """The ``--auth-store-url`` of the running pytest session, if any."""
    return _state["url"]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("auth-store")
    group.addoption(
        OPTION,
        default=None,
        metavar="URL",
        help=(
            "run auth_store.testing's conformance suite against fresh stores derived from URL "
            "(pytest --pyargs auth_store.testing --auth-store-url=URL)"
        ),
    )


def pytest_configure(config: pytest.Config) -> None:
    url = config.getoption(OPTION)
    _state["url"] = url if isinstance(url, str) and url else None


def pytest_unconfigure(config: pytest.Config) -> None:
    _state["url"] = None


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if collection_path == _URL_MODULE and configured_url() is None:
        return True
    return None


def pytest_report_header(config: pytest.Config) -> str | None:
    url = configured_url()
    if url is None:
        return None
    return f"auth-store conformance suite: fresh stores derived from {redact(url)}"


def redact(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for headers and messages)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    netloc = f"{parts.username}:***@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
