"""Ready-made ``RawStorage`` readers for the built-in backends.

Each reads storage behind the adapter's back: the memory adapter's dicts, the
tables of a SQLite file or Postgres schema, the record files of a file store.
``raw_storage_for(adapter, url)`` picks one from the URL's scheme.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from auth_store.adapter import Adapter
from auth_store.adapters.postgres_statements import SIDE_TABLES
from auth_store.models import COLLECTIONS, Model
from auth_store.records import to_dict

from ._base import RawStorage

__all__ = [
    "BETTER_AUTH_QUERIES",
    "BetterAuthPostgresRaw",
    "BetterAuthSQLiteRaw",
    "FileRaw",
    "MemoryRaw",
    "PostgresRaw",
    "SQLiteRaw",
    "file_root",
    "raw_storage_for",
    "sqlite_path",
]

#: Names a backend may give each collection's table or directory, most likely first.
TABLE_NAMES: dict[str, tuple[str, ...]] = {
    "users": ("users", "user"),
    "accounts": ("accounts", "account"),
    "sessions": ("sessions", "session"),
    "verification_tokens": ("verification_token", "verification_tokens"),
    "authenticators": ("authenticators", "authenticator"),
    "credentials": ("credentials", "credential"),
}


def _check_collection(collection: str) -> None:
    if collection not in COLLECTIONS:
        raise AssertionError(f"unknown collection {collection!r}")


def _pick(collection: str, present: set[str]) -> str | None:
    _check_collection(collection)
    for name in TABLE_NAMES[collection]:
        if name in present:
            return name
    return None


def _text(value: Any) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


class MemoryRaw:
    """Reads a ``MemoryAdapter``'s dicts directly."""

    def __init__(self, adapter: Adapter) -> None:
        self._adapter = adapter

    def _models(self, collection: str) -> list[Model]:
        _check_collection(collection)
        attribute = {
            "users": "_users",
            "accounts": "_accounts",
            "sessions": "_sessions",
            "verification_tokens": "_tokens",
            "authenticators": "_authenticators",
            "credentials": "_credentials",
        }[collection]
        store: dict[Any, Model] = getattr(self._adapter, attribute)
        return list(store.values())

    def records(self, collection: str) -> list[dict[str, Any]]:
        return [to_dict(model) for model in self._models(collection)]

    def dump(self) -> bytes:
        everything = {name: self.records(name) for name in COLLECTIONS}
        return json.dumps(everything, ensure_ascii=False, default=str).encode()


def sqlite_path(url: str) -> Path:
    """The database file a ``sqlite:///`` URL names (three slashes relative, four absolute)."""
    path = urlsplit(url).path
    return Path(path[1:] if path.startswith("/") else path)


@dataclass
class SQLiteRaw:
    """Reads the tables of a SQLite database file through a read-only connection."""

    path: Path

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
        db.row_factory = sqlite3.Row
        return db

    def records(self, collection: str) -> list[dict[str, Any]]:
        db = self._connect()
        try:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
            table = _pick(collection, tables)
            if table is None:
                raise AssertionError(f"no table for {collection} in {self.path}: {sorted(tables)}")
            rows = db.execute(f'SELECT * FROM "{table}"').fetchall()  # noqa: S608 - fixed names
            return [dict(row) for row in rows]
        finally:
            db.close()

    def dump(self) -> bytes:
        parts = [Path(f"{self.path}{suffix}") for suffix in ("", "-wal", "-journal")]
        return b"".join(part.read_bytes() for part in parts if part.exists())


def file_root(url: str) -> Path:
    """The directory a ``file:`` URL names (``file:///abs/dir`` or ``file:relative/dir``)."""
    parts = urlsplit(url)
    return Path(parts.netloc + parts.path) if parts.netloc else Path(parts.path)


@dataclass
class FileRaw:
    """Reads a file store's record files (``<root>/<collection>/<id>.json``)."""

    root: Path

    def records(self, collection: str) -> list[dict[str, Any]]:
        present = (
            {p.name for p in self.root.iterdir() if p.is_dir()} if self.root.exists() else set()
        )
        directory = _pick(collection, present | {collection})
        folder = self.root / (directory or collection)
        if not folder.exists():
            return []
        found: list[dict[str, Any]] = []
        for path in sorted(folder.glob("*.json")):
            loaded = json.loads(path.read_text("utf-8"))
            found.append(loaded if isinstance(loaded, dict) else {"value": loaded})
        return found

    def dump(self) -> bytes:
        if not self.root.exists():
            return b""
        return b"".join(p.read_bytes() for p in sorted(self.root.rglob("*")) if p.is_file())


@dataclass
class PostgresRaw:
    """Reads the tables of one Postgres schema (``schema`` None: the search path).

    A record of ``users``, ``accounts`` or ``sessions`` is its row joined with
    the side table auth-store keeps beside Auth.js's table, if there is one
    (a ``FULL JOIN``: a side row left without its row shows up too).
    """

    url: str
    schema: str | None = None

    def _name(self, table: str) -> Any:
        from psycopg import sql

        return sql.Identifier(self.schema, table) if self.schema else sql.Identifier(table)

    def _rows(self, table: str, side: str | None = None) -> list[dict[str, Any]]:
        import psycopg
        from psycopg import sql
        from psycopg.rows import dict_row

        query = sql.SQL("SELECT * FROM {}").format(self._name(table))
        if side is not None:
            query = sql.SQL("SELECT * FROM {} FULL JOIN {} USING (id)").format(
                self._name(table), self._name(side)
            )
        with psycopg.connect(_conninfo(self.url), row_factory=dict_row) as db:
            return list(db.execute(query).fetchall())

    def _tables(self) -> set[str]:
        import psycopg

        query = (
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = COALESCE(%s, current_schema())"
        )
        with psycopg.connect(_conninfo(self.url)) as db:
            return {row[0] for row in db.execute(query, (self.schema,)).fetchall()}

    def records(self, collection: str) -> list[dict[str, Any]]:
        tables = self._tables()
        table = _pick(collection, tables)
        if table is None:
            raise AssertionError(f"no table for {collection} in schema {self.schema}: {tables}")
        side = SIDE_TABLES.get(table)
        return self._rows(table, side if side in tables else None)

    def dump(self) -> bytes:
        texts = [
            _text(value)
            for table in sorted(self._tables())
            for row in self._rows(table)
            for value in row.values()
        ]
        return "\n".join(texts).encode()


def _conninfo(url: str) -> str:
    """A store URL without its query (auth-store options are not libpq options)."""
    parts = urlsplit(url)
    scheme = "postgresql" if parts.scheme == "postgres" else parts.scheme
    return urlunsplit((scheme, parts.netloc, parts.path, "", ""))


#: Where each collection lives in the ``better-auth`` flavor: Better Auth's
#: table joined with auth-store's side table, or auth-store's own table.
#: Passwords are credential accounts (``providerId = 'credential'``).
BETTER_AUTH_QUERIES: dict[str, tuple[str, ...]] = {
    "users": ('SELECT * FROM "user" LEFT JOIN auth_store_users USING (id)',),
    "accounts": (
        'SELECT * FROM "account" LEFT JOIN auth_store_accounts USING (id)'
        " WHERE \"providerId\" <> 'credential'",
    ),
    "sessions": ('SELECT * FROM "session" LEFT JOIN auth_store_sessions USING (id)',),
    "verification_tokens": ('SELECT * FROM "verification"',),
    "authenticators": ("SELECT * FROM auth_store_authenticators",),
    "credentials": (
        "SELECT * FROM auth_store_credentials",
        'SELECT * FROM "account" LEFT JOIN auth_store_accounts USING (id)'
        " WHERE \"providerId\" = 'credential'",
    ),
}


@dataclass
class BetterAuthSQLiteRaw(SQLiteRaw):
    """Reads a SQLite file in the ``better-auth`` flavor (``BETTER_AUTH_QUERIES``)."""

    def records(self, collection: str) -> list[dict[str, Any]]:
        _check_collection(collection)
        db = self._connect()
        try:
            return [dict(r) for sql in BETTER_AUTH_QUERIES[collection] for r in db.execute(sql)]
        finally:
            db.close()


@dataclass
class BetterAuthPostgresRaw(PostgresRaw):
    """Reads a Postgres schema in the ``better-auth`` flavor (``BETTER_AUTH_QUERIES``)."""

    def records(self, collection: str) -> list[dict[str, Any]]:
        import psycopg
        from psycopg import sql
        from psycopg.rows import dict_row

        _check_collection(collection)
        with psycopg.connect(_conninfo(self.url), row_factory=dict_row) as db:
            if self.schema:
                db.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self.schema)))
            return [
                dict(row)
                for query in BETTER_AUTH_QUERIES[collection]
                for row in db.execute(query).fetchall()
            ]


def _flavor(url: str) -> str | None:
    return dict(parse_qsl(urlsplit(url).query)).get("flavor")


def raw_storage_for(adapter: Adapter, url: str) -> RawStorage:
    """The raw reader for a built-in backend, chosen by the URL's scheme (and flavor)."""
    scheme = urlsplit(url).scheme.lower()
    better_auth = _flavor(url) == "better-auth"
    if scheme == "memory":
        return MemoryRaw(adapter)
    if scheme == "sqlite":
        path = sqlite_path(url)
        return BetterAuthSQLiteRaw(path) if better_auth else SQLiteRaw(path)
    if scheme == "file":
        return FileRaw(file_root(url))
    if scheme in {"postgresql", "postgres"}:
        schema = dict(parse_qsl(urlsplit(url).query)).get("schema")
        return BetterAuthPostgresRaw(url, schema) if better_auth else PostgresRaw(url, schema)
    raise AssertionError(
        f"no raw storage reader for {scheme!r} URLs: subclass AdapterConformance and override raw()"
    )
