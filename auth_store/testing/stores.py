"""Fresh stores of every backend in this checkout, for tests of code built on ``Adapter``.

Services written once on top of the contract (passwords, TOTP, sessions, ...)
run their tests on each backend that exists::

    from auth_store.testing import stores

    @pytest.fixture(params=stores.backend_params())
    def store(request, tmp_path):
        with stores.fresh_store(request.param, tmp_path) as (adapter, url):
            yield adapter

A backend is present when its module is (``auth_store.adapters.sqlite``,
``...file``, ``...postgres``); Postgres also needs
``AUTH_STORE_TEST_POSTGRES_URL`` and then gets a schema of its own per test.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import auth_store
from auth_store.adapter import Adapter

from .raw import raw_storage_for
from .urls import derive_url

__all__ = ["POSTGRES_ENV", "backend_params", "base_urls", "fresh_store", "raw_bytes"]

POSTGRES_ENV = "AUTH_STORE_TEST_POSTGRES_URL"

#: Backends whose storage several processes can share.
SHARED = ("sqlite", "file", "postgres")


def _present(module: str) -> bool:
    try:
        spec = importlib.util.find_spec(f"auth_store.adapters.{module}")
    except ImportError:
        return False
    # A directory without __init__.py is a namespace package: not a backend yet.
    return spec is not None and spec.origin is not None


def base_urls() -> dict[str, str]:
    """Backend name -> a URL of that kind, for every backend present."""
    found = {"memory": "memory://"}
    if _present("sqlite"):
        found["sqlite"] = "sqlite:///auth.db"
    if _present("file"):
        found["file"] = "file:///store"
    postgres = os.environ.get(POSTGRES_ENV)
    if postgres and _present("postgres"):
        found["postgres"] = postgres
    return found


def backend_params(*, shared: bool = False) -> list[Any]:
    """``pytest.param`` per present backend (id = its name); ``shared``: multi-process ones."""
    import pytest

    return [
        pytest.param(url, id=name)
        for name, url in base_urls().items()
        if not shared or name in SHARED
    ]


@contextmanager
def fresh_store(base_url: str, tmp_path: Path) -> Iterator[tuple[Adapter, str]]:
    """A new, empty store like ``base_url`` (under ``tmp_path``), closed and removed after."""
    url, cleanup = derive_url(base_url, tmp_path)
    try:
        adapter = auth_store.connect(url)
        try:
            yield adapter, url
        finally:
            adapter.close()
    finally:
        if cleanup is not None:
            cleanup()


def raw_bytes(adapter: Adapter, url: str) -> bytes:
    """Every byte the store holds (files incl. SQLite's WAL, rows), read behind its back."""
    return raw_storage_for(adapter, url).dump()
