"""``SQLAdapter``: every method of the contract, written once for SQL backends.

A backend subclasses it, passes its ``Dialect`` to ``__init__`` and implements
four I/O hooks; everything else (validation, statements, row mapping, error
translation, migrations, import/export) is here:

``_fetchone(sql, params)`` / ``_fetchall(sql, params)``
    Run one read statement and return its first row (or ``None``) / all rows.
    Driver errors must leave as ``self._error(exc)`` raised ``from exc``.
``_transaction()``
    A context manager around one write transaction, yielding an ``Executor``.
    It commits when the block ends, rolls back when it raises, serialises
    writers (SQLite: ``BEGIN IMMEDIATE``) and turns driver errors raised in
    the block into ``self._error(exc)``.
``_snapshot()``
    A context manager yielding ``query(sql) -> Iterator[row]`` that streams
    rows (bounded memory) from one consistent read snapshot, for ``export``.

The per-request lookups (``LOOKUPS``) are written as plans: ``_plan_<name>``
returns a ``Lookup`` (statement, parameters, decoder of its row), which
``_look_up`` runs on ``_fetchone``; an async twin runs the same plans on a
driver of its own (``adapters/postgres_async.py``), and a flavor changes a
lookup by changing its plan.

Optional: ``_write_one(sql, params)`` runs one write statement atomically and
returns ``(rowcount, first row or None)``; the default is a ``_transaction()``
around it, Postgres runs it alone on an autocommit connection (one round
trip). Methods that are one statement use it; ``_transaction()`` stays for
several statements and for ``Change`` without RETURNING. Also optional:
``_migration_transaction()`` (default ``_transaction()``; Postgres adds an
advisory lock), ``_before_migrations()`` and ``_health_details()``.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol, TypeAlias, TypeVar

from auth_store import clock
from auth_store import validation as v
from auth_store.adapter import Adapter
from auth_store.errors import (
    AuthStoreError,
    ConflictError,
    NoStoreError,
    NotFoundError,
    StorageError,
    ValidationError,
)
from auth_store.models import (
    COLLECTIONS,
    Account,
    Authenticator,
    Credential,
    Model,
    Session,
    User,
    VerificationToken,
)
from auth_store.records import collection_of

from .dialect import Dialect, Fault
from .migrations import Migration, SchemaMigration, check_applied, load_migrations
from .rows import Params, Row, RowCodec
from .statements import Change, Statements

__all__ = ["CONFLICTS", "CONSTRAINT_KEYS", "Cursor", "Executor", "SQLAdapter", "translate_error"]

#: Records per write transaction in ``import_records``.
IMPORT_CHUNK = 1000

#: Unique key (as ``Fault.key`` names it) -> the ConflictError message.
CONFLICTS = {
    "users(id)": "a user with this id exists",
    "users(email)": "a user with this e-mail exists",
    "accounts(id)": "an account with this id exists",
    "accounts(provider,providerAccountId)": "this provider account is already linked",
    "sessions(id)": "a session with this id exists",
    "sessions(sessionToken)": "this session token exists",
    "verification_token(identifier,token)": "this verification token exists",
    "authenticators(credentialID)": "this credential id exists",
    "credentials(id)": "a credential with this id exists",
}

#: Constraint name -> unique key, for drivers that report the violated
#: constraint by name (Postgres: ``diag.constraint_name``). Names are those the
#: migrations give (Postgres's default ``<table>_pkey`` for primary keys).
CONSTRAINT_KEYS = {
    "users_pkey": "users(id)",
    "users_email_key": "users(email)",
    "accounts_pkey": "accounts(id)",
    "accounts_provider_key": "accounts(provider,providerAccountId)",
    "sessions_pkey": "sessions(id)",
    "sessions_token_key": "sessions(sessionToken)",
    "verification_token_pkey": "verification_token(identifier,token)",
    "authenticators_pkey": "authenticators(credentialID)",
    "credentials_pkey": "credentials(id)",
}


class Cursor(Protocol):
    """The part of a DB-API cursor the shared layer uses."""

    @property
    def rowcount(self) -> int: ...

    @property
    def description(self) -> Any: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


T = TypeVar("T")

#: A lookup of at most one row: its statement, its parameters and the decoder of the row.
Lookup: TypeAlias = tuple[str, Sequence[Any], Callable[[Row], T]]
#: The lookups every request makes, each written as ``_plan_<name>`` (see the module).
LOOKUPS = ("get_user", "get_user_by_email", "get_user_by_account", "get_session_and_user")


class Executor(Protocol):
    """What ``_transaction()`` yields: runs statements inside the transaction."""

    def execute(self, sql: str, params: Sequence[Any] = ..., /) -> Cursor: ...

    def executemany(self, sql: str, params: Iterable[Sequence[Any]], /) -> object: ...


def translate_error(dialect: Dialect, exc: BaseException) -> AuthStoreError:
    """The ``AuthStoreError`` a driver error stands for (raise it ``from exc``)."""
    fault: Fault = dialect.classify(exc)
    if fault.kind == "unique":
        return ConflictError(CONFLICTS.get(fault.key or "", "a record with this key exists"))
    if fault.kind == "foreign_key":
        # Every foreign key a caller's value can break points at users(id) (the
        # side tables' keys point at rows the same statement has just written).
        return NotFoundError("no user with this id")
    if fault.kind == "invalid":
        return ValidationError(f"{dialect.name} cannot store this value: {fault.detail}")
    if fault.kind == "busy":
        return StorageError(f"{dialect.name}: the database stayed locked too long ({fault.detail})")
    return StorageError(f"{dialect.name} error: {fault.detail}")


def no_store_error(where: str, *, other_tables: bool) -> NoStoreError:
    """The error for a database without auth-store's migrations table (``OpensExisting``)."""
    if other_tables:
        return NoStoreError(
            f"no store at {where}: the database holds tables, but not auth-store's (if they"
            " are an Auth.js or Better Auth app's, `auth-store schema upgrade` adopts them)"
        )
    return NoStoreError(f"no store at {where}: the database holds no auth-store tables")


class SQLAdapter(Adapter, abc.ABC):
    """The contract on top of four I/O hooks (see the module docstring)."""

    def __init__(self, dialect: Dialect, statements: Statements | None = None) -> None:
        self.dialect = dialect
        # A backend whose tables another framework shares passes statements of
        # its own layout (Postgres: auth-store's fields in side tables).
        self._sql = statements or Statements(dialect)
        self._rows = RowCodec(dialect)
        self._migrations = load_migrations(dialect.migrations_folder or dialect.name)

    # -- hooks ----------------------------------------------------------------

    @abc.abstractmethod
    def _fetchone(self, sql: str, params: Sequence[Any]) -> Row | None:
        """Run a read; its first row or ``None``."""

    @abc.abstractmethod
    def _fetchall(self, sql: str, params: Sequence[Any]) -> list[Row]:
        """Run a read; all its rows."""

    @abc.abstractmethod
    def _transaction(self) -> AbstractContextManager[Executor]:
        """One serialised write transaction (commit on success, rollback on error)."""

    @abc.abstractmethod
    def _snapshot(self) -> AbstractContextManager[Callable[[str], Iterator[Row]]]:
        """A consistent read snapshot whose query function streams rows."""

    def _write_one(self, sql: str, params: Sequence[Any]) -> tuple[int, Row | None]:
        """Run one write statement atomically: its rowcount and first row (or ``None``).

        Errors leave as ``_transaction()``'s do. Never retried: a write whose
        connection dies may or may not have happened.
        """
        with self._transaction() as ex:
            cursor = ex.execute(sql, params)
            rows: list[Row] = [] if cursor.description is None else cursor.fetchall()
            # Read after the fetch: sqlite3 may count RETURNING rows as they are read.
            return cursor.rowcount, rows[0] if rows else None

    def _migration_transaction(self) -> AbstractContextManager[Executor]:
        """The transaction migrations run in (override to add a lock)."""
        return self._transaction()

    def _before_migrations(self, ex: Executor, pending: list[Migration]) -> None:
        """Checks run in the migration transaction before ``pending`` is applied.

        Raise to apply nothing (Postgres checks tables Auth.js created here).
        """

    def _health_details(self) -> dict[str, Any]:
        """Backend-specific fields for ``health()``."""
        return {}

    def _error(self, exc: BaseException) -> AuthStoreError:
        return translate_error(self.dialect, exc)

    def _change(self, ex: Executor, change: Change, params: Params, key: Params) -> Row | None:
        """Run a one-row UPDATE/DELETE and return the row it changed (see ``Change``)."""
        if change.returning is not None:
            rows: list[Row] = ex.execute(change.returning, params).fetchall()
            return rows[0] if rows else None
        if change.read_first:
            row: Row | None = ex.execute(change.select, key).fetchone()
            if row is not None:
                ex.execute(change.plain, params)
            return row
        if ex.execute(change.plain, params).rowcount < 1:
            return None
        found: Row | None = ex.execute(change.select, key).fetchone()
        return found

    def _change_one(self, change: Change, params: Params, key: Params) -> Row | None:
        """``_change`` on its own: one ``_write_one`` when the dialect has RETURNING."""
        if change.returning is not None:
            return self._write_one(change.returning, params)[1]
        with self._transaction() as ex:
            return self._change(ex, change, params, key)

    # -- schema -----------------------------------------------------------------

    def _applied(self, rows: list[Row]) -> dict[int, tuple[str, str, datetime]]:
        """Tracking-table rows as version -> (name, checksum, applied_at)."""
        try:
            return {
                int(version): (name, checksum, self.dialect.load_datetime(at))
                for version, name, checksum, at in rows
            }
        except (ValueError, TypeError) as exc:
            raise StorageError("unreadable row in auth_store_migrations") from exc

    def _open_schema(self, *, apply: bool) -> list[int]:
        """Create the tracking table, refuse a foreign schema, apply pending migrations.

        Everything happens in one transaction; returns the versions applied.
        """
        with self._migration_transaction() as ex:
            ex.execute(self.dialect.migrations_table)
            applied = self._applied(ex.execute(self._sql.migrations_applied).fetchall())
            check_applied(self._migrations, {n: entry[:2] for n, entry in applied.items()})
            pending: list[Migration] = [m for m in self._migrations if m.version not in applied]
            if not apply:
                return []
            if pending:
                self._before_migrations(ex, pending)
            stamp = self.dialect.dump_datetime(clock.now())
            for migration in pending:
                for statement in self.dialect.split_script(migration.sql):
                    ex.execute(statement)
                ex.execute(
                    self._sql.migration_record,
                    (migration.version, migration.name, migration.checksum, stamp),
                )
        return [m.version for m in pending]

    def upgrade_schema(self) -> list[int]:
        """Apply pending migrations in one transaction; the versions applied."""
        return self._open_schema(apply=True)

    def schema_status(self) -> list[SchemaMigration]:
        """Every shipped migration with when it was applied (``None``: pending)."""
        applied = self._applied(self._fetchall(self._sql.migrations_applied, ()))
        return [
            SchemaMigration(
                m.version, m.name, applied[m.version][2] if m.version in applied else None
            )
            for m in self._migrations
        ]

    def schema_version(self) -> int:
        """The highest applied migration version (0 for an empty database)."""
        row = self._fetchone(self._sql.schema_version, ())
        return int(row[0] or 0) if row else 0

    @property
    def latest_schema_version(self) -> int:
        """The highest migration version this package ships."""
        return self._migrations[-1].version if self._migrations else 0

    # -- lookups (LOOKUPS: a plan each, run by _look_up) ------------------------

    def _look_up(self, plan: Lookup[T]) -> T | None:
        statement, params, decode = plan
        row = self._fetchone(statement, params)
        return None if row is None else decode(row)

    def _plan_get_user(self, id: str) -> Lookup[User]:
        return self._sql.user_by_id, (v.validate_id(id),), self._rows.user

    def _plan_get_user_by_email(self, email: str) -> Lookup[User]:
        return self._sql.user_by_email, (v.normalize_email(email),), self._rows.user

    def _plan_get_user_by_account(self, provider: str, provider_account_id: str) -> Lookup[User]:
        key = (
            v.check_text(provider, "provider"),
            v.check_text(provider_account_id, "provider_account_id"),
        )
        return self._sql.user_by_account, key, self._rows.user

    def _plan_get_session_and_user(self, session_token: str) -> Lookup[tuple[Session, User]]:
        key = (v.check_text(session_token, "session_token"),)
        return self._sql.session_and_user, key, self._rows.session_and_user

    # -- users ------------------------------------------------------------------

    def create_user(self, user: User) -> User:
        user = v.prepare_user(user)
        self._write_one(self._sql.user_insert, self._rows.user_params(user))
        return user

    def get_user(self, id: str) -> User | None:
        return self._look_up(self._plan_get_user(id))

    def get_user_by_email(self, email: str) -> User | None:
        return self._look_up(self._plan_get_user_by_email(email))

    def get_user_by_account(self, provider: str, provider_account_id: str) -> User | None:
        return self._look_up(self._plan_get_user_by_account(provider, provider_account_id))

    def update_user(self, id: str, **changes: Any) -> User:
        v.validate_id(id)
        changes = v.prepare_user_changes(changes)
        params = (*self._rows.user_change_params(changes), id)
        row = self._change_one(self._sql.user_update, params, (id,))
        if row is None:
            raise NotFoundError("no user with this id")
        return self._rows.user(row)

    def delete_user(self, id: str) -> User | None:
        key = (v.validate_id(id),)
        # Accounts, sessions, authenticators and credentials go by ON DELETE CASCADE.
        row = self._change_one(self._sql.user_delete, key, key)
        return None if row is None else self._rows.user(row)

    # -- accounts -----------------------------------------------------------------

    def link_account(self, account: Account) -> Account:
        account = v.prepare_account(account)
        self._write_one(self._sql.account_insert, self._rows.account_params(account))
        return account

    def unlink_account(self, provider: str, provider_account_id: str) -> Account | None:
        key = (
            v.check_text(provider, "provider"),
            v.check_text(provider_account_id, "provider_account_id"),
        )
        row = self._change_one(self._sql.account_delete, key, key)
        return None if row is None else self._rows.account(row)

    def get_account(self, provider: str, provider_account_id: str) -> Account | None:
        key = (
            v.check_text(provider, "provider"),
            v.check_text(provider_account_id, "provider_account_id"),
        )
        row = self._fetchone(self._sql.account_by_key, key)
        return None if row is None else self._rows.account(row)

    def update_account(
        self, provider: str, provider_account_id: str, **changes: Any
    ) -> Account | None:
        key = (
            v.check_text(provider, "provider"),
            v.check_text(provider_account_id, "provider_account_id"),
        )
        changes = v.prepare_account_changes(changes)
        params = (*self._rows.account_change_params(changes), *key)
        row = self._change_one(self._sql.account_update, params, key)
        return None if row is None else self._rows.account(row)

    def list_accounts(self, user_id: str) -> list[Account]:
        key = (v.validate_id(user_id, "user_id"),)
        return [self._rows.account(row) for row in self._fetchall(self._sql.accounts_by_user, key)]

    # -- sessions -----------------------------------------------------------------

    def create_session(self, session: Session) -> Session:
        session = v.prepare_session(session)
        self._write_one(self._sql.session_insert, self._rows.session_params(session))
        return session

    def get_session_and_user(self, session_token: str) -> tuple[Session, User] | None:
        return self._look_up(self._plan_get_session_and_user(session_token))

    def update_session(self, session_token: str, **changes: Any) -> Session | None:
        key = (v.check_text(session_token, "session_token"),)
        changes = v.prepare_session_changes(changes)
        params = (*self._rows.session_change_params(changes), session_token)
        row = self._change_one(self._sql.session_update, params, key)
        return None if row is None else self._rows.session(row)

    def delete_session(self, session_token: str) -> Session | None:
        key = (v.check_text(session_token, "session_token"),)
        row = self._change_one(self._sql.session_delete, key, key)
        return None if row is None else self._rows.session(row)

    def list_sessions(self, user_id: str) -> list[Session]:
        rows = self._fetchall(self._sql.sessions_by_user, (v.validate_id(user_id, "user_id"),))
        return [self._rows.session(row) for row in rows]

    def delete_sessions(self, user_id: str) -> int:
        key = (v.validate_id(user_id, "user_id"),)
        return self._write_one(self._sql.sessions_delete_by_user, key)[0]

    # -- verification tokens ------------------------------------------------------

    def create_verification_token(self, vt: VerificationToken) -> VerificationToken:
        vt = v.prepare_verification_token(vt)
        self._write_one(self._sql.token_insert, self._rows.token_params(vt))
        return vt

    def use_verification_token(self, identifier: str, token: str) -> VerificationToken | None:
        key = (v.check_text(identifier, "identifier"), v.check_text(token, "token"))
        # One DELETE ... RETURNING: of N concurrent callers exactly one gets the row.
        row = self._change_one(self._sql.token_use, key, key)
        return None if row is None else self._rows.token(row)

    # -- authenticators -----------------------------------------------------------

    def create_authenticator(self, a: Authenticator) -> Authenticator:
        a = v.prepare_authenticator(a)
        self._write_one(self._sql.authenticator_insert, self._rows.authenticator_params(a))
        return a

    def get_authenticator(self, credential_id: str) -> Authenticator | None:
        key = (v.check_text(credential_id, "credential_id"),)
        row = self._fetchone(self._sql.authenticator_by_id, key)
        return None if row is None else self._rows.authenticator(row)

    def list_authenticators_by_user_id(self, user_id: str) -> list[Authenticator]:
        key = (v.validate_id(user_id, "user_id"),)
        return [
            self._rows.authenticator(r)
            for r in self._fetchall(self._sql.authenticators_by_user, key)
        ]

    def update_authenticator_counter(self, credential_id: str, counter: int) -> Authenticator:
        key = (v.check_text(credential_id, "credential_id"),)
        counter = v.check_int(counter, "counter")
        row = self._change_one(self._sql.authenticator_counter, (counter, *key), key)
        if row is None:
            raise NotFoundError("no authenticator with this credential id")
        return self._rows.authenticator(row)

    def delete_authenticator(self, credential_id: str) -> Authenticator | None:
        key = (v.check_text(credential_id, "credential_id"),)
        row = self._change_one(self._sql.authenticator_delete, key, key)
        return None if row is None else self._rows.authenticator(row)

    # -- credentials --------------------------------------------------------------

    def create_credential(self, c: Credential) -> Credential:
        c = v.prepare_credential(c)
        self._write_one(self._sql.credential_insert, self._rows.credential_params(c))
        return c

    def get_credential(self, id: str) -> Credential | None:
        row = self._fetchone(self._sql.credential_by_id, (v.validate_id(id),))
        return None if row is None else self._rows.credential(row)

    def list_credentials(self, user_id: str, type: str | None = None) -> list[Credential]:
        v.validate_id(user_id, "user_id")
        if type is None:
            rows = self._fetchall(self._sql.credentials_by_user, (user_id,))
        else:
            key = (user_id, v.check_text(type, "type"))
            rows = self._fetchall(self._sql.credentials_by_user_type, key)
        return [self._rows.credential(row) for row in rows]

    def update_credential(
        self, id: str, data: dict[str, Any], *, expected_version: int
    ) -> Credential | None:
        key = (v.validate_id(id),)
        data, expected_version = v.prepare_credential_data(data, expected_version)
        params = (
            self.dialect.dump_json(data),
            self.dialect.dump_datetime(clock.now()),
            id,
            expected_version,
        )
        row = self._change_one(self._sql.credential_update, params, key)
        return None if row is None else self._rows.credential(row)

    def delete_credential(self, id: str) -> Credential | None:
        key = (v.validate_id(id),)
        row = self._change_one(self._sql.credential_delete, key, key)
        return None if row is None else self._rows.credential(row)

    # -- housekeeping -------------------------------------------------------------

    def purge_expired(self, now: datetime | None = None) -> dict[str, int]:
        cutoff = (self.dialect.dump_datetime(v.check_now(now)),)
        with self._transaction() as ex:
            sessions: int = ex.execute(self._sql.sessions_purge, cutoff).rowcount
            tokens: int = ex.execute(self._sql.tokens_purge, cutoff).rowcount
        return {"sessions": sessions, "verification_tokens": tokens}

    def export(self) -> Iterator[Model]:
        with self._snapshot() as query:
            for collection, sql in self._sql.export.items():
                read = self._rows.readers[collection]
                for row in query(sql):
                    yield read(row)

    def import_records(self, records: Iterable[Model]) -> dict[str, int]:
        counts = dict.fromkeys(COLLECTIONS, 0)
        # Runs of (collection, rows): consecutive records of one collection go
        # through executemany; up to IMPORT_CHUNK records share a transaction.
        runs: list[tuple[str, list[Params]]] = []
        pending = 0
        for record in records:
            collection = collection_of(record)
            params = self._import_params(record)
            if not runs or runs[-1][0] != collection:
                runs.append((collection, []))
            runs[-1][1].append(params)
            counts[collection] += 1
            pending += 1
            if pending >= IMPORT_CHUNK:
                self._insert_runs(runs)
                runs, pending = [], 0
        self._insert_runs(runs)
        self._after_import()
        return counts

    def _after_import(self) -> None:
        """Runs after ``import_records`` has written everything (a backend's hook)."""

    def _import_params(self, record: Model) -> Params:
        rows = self._rows
        if isinstance(record, User):
            return rows.user_params(v.prepare_user(record))
        if isinstance(record, Account):
            return rows.account_params(v.prepare_account(record))
        if isinstance(record, Session):
            return rows.session_params(v.prepare_session(record))
        if isinstance(record, VerificationToken):
            return rows.token_params(v.prepare_verification_token(record))
        if isinstance(record, Authenticator):
            return rows.authenticator_params(v.prepare_authenticator(record))
        v.check_imported(record)
        return rows.credential_params(v.prepare_credential(record))

    def _insert_runs(self, runs: list[tuple[str, list[Params]]]) -> None:
        if not runs:
            return
        with self._transaction() as ex:
            for collection, rows in runs:
                ex.executemany(self._sql.insert[collection], rows)

    def counts(self) -> dict[str, int]:
        row = self._fetchone(self._sql.counts, ())
        assert row is not None  # an aggregate always returns one row
        return {collection: int(n) for collection, n in zip(COLLECTIONS, row, strict=True)}

    def health(self) -> dict[str, Any]:
        report: dict[str, Any] = {"backend": self.backend, "ok": True}
        try:
            report["schema_version"] = self.schema_version()
            report["latest_schema_version"] = self.latest_schema_version
            report.update(self._health_details())
        except AuthStoreError as exc:
            report.update(ok=False, error=str(exc))
        return report
