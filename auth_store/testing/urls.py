"""Fresh stores derived from a URL, for ``pytest --pyargs auth_store.testing --auth-store-url``.

``derive_url(base, tmp_path)`` names a new, empty store of the same kind as
``base`` without ever naming ``base`` itself (see ``test_url``'s docstring).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest

from .raw import file_root, sqlite_path

__all__ = ["SCHEMA_PREFIX", "derive_url"]

SCHEMA_PREFIX = "auth_store_conformance_"


def _fresh_path_url(base: str, path: Path) -> str:
    """``base`` with its path replaced by the absolute ``path`` (query options kept)."""
    parts = urlsplit(base)
    slashes = "///" if parts.scheme.lower() == "sqlite" else "//"
    query = f"?{parts.query}" if parts.query else ""
    return f"{parts.scheme}:{slashes}{path.resolve().as_posix()}{query}"


def _postgres_conninfo(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(("postgresql", parts.netloc, parts.path, "", ""))


def _postgres_schema(url: str) -> tuple[str, Callable[[], None]]:
    """Create a new schema in the URL's database; return its URL and a dropper."""
    import psycopg
    from psycopg import sql

    schema = f"{SCHEMA_PREFIX}{uuid.uuid4().hex[:12]}"
    conninfo = _postgres_conninfo(url)
    with psycopg.connect(conninfo, autocommit=True) as db:
        db.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))

    def drop() -> None:
        with psycopg.connect(conninfo, autocommit=True) as db:
            db.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))

    parts = urlsplit(url)
    options = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "schema"]
    query = urlencode([*options, ("schema", schema)])
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, "")), drop


def derive_url(base: str, tmp_path: Path) -> tuple[str, Callable[[], None] | None]:
    """A URL naming a fresh store like ``base`` under ``tmp_path``, and its cleanup."""
    scheme = urlsplit(base).scheme.lower()
    if scheme == "memory":
        return base, None
    if scheme == "sqlite":
        return _fresh_path_url(base, tmp_path / (sqlite_path(base).name or "auth.db")), None
    if scheme == "file":
        return _fresh_path_url(base, tmp_path / (file_root(base).name or "store")), None
    if scheme in {"postgresql", "postgres"}:
        return _postgres_schema(base)
    pytest.fail(
        f"the conformance URL runner cannot make fresh stores for {scheme!r} URLs; "
        "subclass auth_store.testing.AdapterConformance instead (docs/writing-an-adapter.md)",
        pytrace=False,
    )
