"""SQLite in Better Auth's layout: ``sqlite:///app.db?flavor=better-auth``.

The same backend as ``sqlite`` (WAL, one connection per thread, ``BEGIN
IMMEDIATE`` writes, versioned migrations) on Better Auth's tables, so a
Better Auth app using ``better-sqlite3`` on the same file and this package
share users, accounts, passwords, sessions and verification values (see
``sql.better_auth``). Values are stored as Better Auth stores them on SQLite:
datetimes as ISO 8601 text in UTC ending in ``Z`` (auth-store writes
microseconds, Better Auth milliseconds; both read either), booleans as 0/1.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from auth_store.errors import ValidationError
from auth_store.validation import normalize_email

from .better_auth_checks import check_adopt, sqlite_columns
from .sql import Executor, Fault, Migration
from .sql.better_auth import BetterAuthMethods
from .sqlite import SQLiteAdapter, SQLiteDialect

__all__ = ["BetterAuthSQLiteAdapter", "BetterAuthSQLiteDialect"]

#: Better Auth's table and column, as SQLite names a violated key -> the contract's key.
_KEYS = {
    "user(id)": "users(id)",
    "user(email)": "users(email)",
    "account(id)": "accounts(id)",
    "account(providerId,accountId)": "accounts(provider,providerAccountId)",
    "session(id)": "sessions(id)",
    "session(token)": "sessions(sessionToken)",
    "verification(id)": "verification_token(identifier,token)",
    "auth_store_authenticators(credentialID)": "authenticators(credentialID)",
    "auth_store_credentials(id)": "credentials(id)",
}


def dump_datetime(value: datetime) -> str:
    """Better Auth's SQLite datetime text (``2026-01-02T03:04:05.000006Z``), with microseconds."""
    return value.astimezone(UTC).isoformat(timespec="microseconds")[:-6] + "Z"


def load_datetime(value: Any) -> datetime:
    """A datetime as Better Auth or auth-store stored it, aware UTC.

    ISO 8601 text with ``Z`` or an offset (text without a zone is read as
    UTC), or a number of milliseconds since the epoch.
    """
    if isinstance(value, str):
        found = datetime.fromisoformat(value)
        if found.tzinfo is UTC:
            return found
        return found.replace(tzinfo=UTC) if found.tzinfo is None else found.astimezone(UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, UTC)
    raise TypeError("stored datetime is neither text nor a number")


class BetterAuthSQLiteDialect(SQLiteDialect):
    """SQLite with Better Auth's datetime text and the flavor's migrations."""

    migrations_folder = "sqlite_better_auth"
    dump_datetime = staticmethod(dump_datetime)
    load_datetime = staticmethod(load_datetime)

    def load_email(self, value: Any) -> str:
        # Better Auth lower-cases what its user typed (no NFKC, no trim): normalise.
        if not isinstance(value, str):
            raise TypeError("stored e-mail is not text")
        if value.isascii() and value == value.lower() and value == value.strip():
            return value
        try:
            return normalize_email(value)
        except ValidationError:
            return value  # not an address: shown as stored

    def classify(self, exc: BaseException) -> Fault:
        fault = super().classify(exc)
        if fault.kind == "unique" and fault.key in _KEYS:
            return Fault("unique", key=_KEYS[fault.key], detail=fault.detail)
        return fault


class BetterAuthSQLiteAdapter(BetterAuthMethods, SQLiteAdapter):
    """A store in a SQLite file laid out as Better Auth lays it out (see the module doc)."""

    dialect_class = BetterAuthSQLiteDialect

    def _before_migrations(self, ex: Executor, pending: list[Migration]) -> None:
        if any(m.version == 1 for m in pending):
            check_adopt(ex, sqlite_columns, self.path)

    def _catalog_sql(self) -> tuple[str, str]:
        return (
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            'SELECT name, lower(type), "notnull" AND dflt_value IS NULL AND pk = 0'
            " FROM pragma_table_info({table})",
        )

    def __repr__(self) -> str:
        return f"BetterAuthSQLiteAdapter({self.path!r})"
