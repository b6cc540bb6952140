"""pytest plugin (registered through the ``pytest11`` entry point): ``--auth-store-url``."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("auth-store")
    group.addoption(
        "--auth-store-url",
        default=None,
        help="run auth_store.testing's conformance suite against the store at this URL",
    )
