"""Postgres for the project's tests: the test server, and a fresh schema per use.

The server is ``AUTH_STORE_TEST_POSTGRES_URL``, which ``tests/conftest.py``
sets for the session (see ``tests/pg_server.py``: the given server, the local
one on 5432, or a throwaway one started for the session). A Postgres test
never skips: when no server can be had it fails, saying why.

A fresh store is a new schema ``auth_store_conformance_<random>`` on that
server, named to the backend with the ``schema`` URL option and dropped with
everything in it afterwards: the same mechanism as the conformance suite's
one-line runner (``auth_store.testing.urls``). Use the ``postgres_url``
fixture (import it into a test module) or ``fresh_postgres_url()``::

    from tests.pg import postgres_url  # noqa: F401  (a fixture)

    def test_something(postgres_url: str) -> None:
        with auth_store.connect(postgres_url) as store: ...
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
import pytest

from auth_store.testing.plugin import redact
from auth_store.testing.urls import derive_url

__all__ = [
    "DEFAULT_URL",
    "PG_ENV",
    "admin_connection",
    "conninfo",
    "fresh_postgres_url",
    "postgres_url",
    "require_postgres",
    "schema_of",
]

from tests import pg_server
from tests.pg_server import DEFAULT_URL, PG_ENV


def conninfo(url: str) -> str:
    """A store URL as libpq takes it: auth-store's options dropped."""
    parts = urlsplit(url)
    return urlunsplit(("postgresql", parts.netloc, parts.path, "", ""))


def schema_of(url: str) -> str:
    """The ``schema`` option of a store URL."""
    return dict(parse_qsl(urlsplit(url).query))["schema"]


@functools.cache
def _unreachable(url: str) -> str | None:
    """Why the server can't be reached, or ``None`` (asked once per test session)."""
    return pg_server.reachable(conninfo(url))


def require_postgres() -> str:
    """The test server's URL; the test fails (never skips) when there is none."""
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.fail(f"no Postgres server for the tests: {pg_server.problem}", pytrace=False)
    problem = _unreachable(url)
    if problem is not None:
        message = f"Postgres at {redact(url)} ({PG_ENV}) is unreachable: {problem}"
        pytest.fail(message, pytrace=False)
    return url


@contextmanager
def fresh_postgres_url(**options: object) -> Iterator[str]:
    """The URL of a new, empty schema on the test server, dropped afterwards.

    ``options`` are added to the URL's query (``pool_max=2``, ``application_name=...``).
    """
    base = require_postgres()
    if options:
        parts = urlsplit(base)
        query = parse_qsl(parts.query) + [(k, str(v)) for k, v in options.items()]
        base = urlunsplit(parts._replace(query=urlencode(query)))
    url, drop = derive_url(base, Path())
    assert drop is not None
    try:
        yield url
    finally:
        drop()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """The URL of a fresh, empty schema on the test server (dropped after the test)."""
    with fresh_postgres_url() as url:
        yield url


@contextmanager
def admin_connection(url: str) -> Iterator[psycopg.Connection[tuple[Any, ...]]]:
    """An autocommit connection to the test server, outside any store."""
    with psycopg.connect(conninfo(url), autocommit=True, connect_timeout=5) as conn:
        yield conn
