"""Postgres in Better Auth's layout: ``postgresql://.../app?flavor=better-auth``.

The same backend as ``postgres`` (psycopg 3, a pool, prepared statements,
recovery from dropped connections, ``schema``) on Better Auth's tables, so a
Better Auth app using the ``pg`` driver on the same database (and schema:
its ``search_path``) and this package share users, accounts, passwords,
sessions and verification values (see ``sql.better_auth``).
"""

from __future__ import annotations

from psycopg import errors as pg_errors

from .better_auth_checks import check_adopt, postgres_columns
from .postgres import PostgresAdapter, PostgresDialect
from .sql import Executor, Fault, Migration
from .sql.better_auth import BetterAuthMethods

__all__ = ["BetterAuthPostgresAdapter", "BetterAuthPostgresDialect"]

#: Constraint (or unique index) name -> the contract's unique key.
_KEYS = {
    "user_pkey": "users(id)",
    "user_email_key": "users(email)",
    "account_pkey": "accounts(id)",
    "auth_store_account_provider_key": "accounts(provider,providerAccountId)",
    "session_pkey": "sessions(id)",
    "session_token_key": "sessions(sessionToken)",
    "verification_pkey": "verification_token(identifier,token)",
    "auth_store_authenticators_pkey": "authenticators(credentialID)",
    "auth_store_credentials_pkey": "credentials(id)",
}


class BetterAuthPostgresDialect(PostgresDialect):
    """Postgres with the flavor's migrations and Better Auth's constraint names."""

    migrations_folder = "postgres_better_auth"

    def classify(self, exc: BaseException) -> Fault:
        if isinstance(exc, pg_errors.UniqueViolation):
            name = exc.diag.constraint_name or ""
            return Fault("unique", key=_KEYS.get(name), detail=f"{type(exc).__name__}: {name}")
        return super().classify(exc)


class BetterAuthPostgresAdapter(BetterAuthMethods, PostgresAdapter):
    """A store in a Postgres database (or schema) laid out as Better Auth lays it out."""

    dialect_class = BetterAuthPostgresDialect

    def _before_migrations(self, ex: Executor, pending: list[Migration]) -> None:
        if any(m.version == 1 for m in pending):
            where = f'schema "{self.schema}"' if self.schema else "the current schema"
            check_adopt(ex, postgres_columns, where)

    def _catalog_sql(self) -> tuple[str, str]:
        return (
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
            "SELECT column_name, data_type, is_nullable = 'NO' AND column_default IS NULL"
            " AND is_identity = 'NO' FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = {table}"
            " ORDER BY ordinal_position",
        )

    def __repr__(self) -> str:
        schema = f", schema={self.schema!r}" if self.schema else ""
        return f"BetterAuthPostgresAdapter({self.where!r}{schema})"
