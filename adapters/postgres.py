"""The Postgres backend: psycopg 3 and a ``psycopg_pool`` connection pool.

The tables are Auth.js's ``@auth/pg-adapter`` tables, with exactly Auth.js's
columns, plus auth-store's keys and tables of its own (``migrations/postgres/``;
what auth-store adds to a user, account or session lives in a side table, see
``postgres_statements``), so a Next.js app on Auth.js and Python services can
share one database; opening a database whose tables Auth.js created upgrades
them in place once (see ``postgres_authjs``).

Every connection is in autocommit mode with ``TimeZone`` UTC and, with the
``schema`` option, ``search_path`` set to that schema alone. Calls borrow
connections through a lane of idle ones in front of the pool
(``postgres_lane``: no pool bookkeeping per call). A read is one
prepared statement on a pooled connection (``get_session_and_user`` is one
join: one round trip); so is a write that is one statement (an INSERT, or an
UPDATE/DELETE ... RETURNING), atomic on its own in autocommit mode, and a
write of several statements is one transaction. The pool checks a
connection before lending it and replaces dead ones, and a read whose
connection dies under it is retried once on another (a write is not: it may
have happened), so a dropped connection (a server restart,
``pg_terminate_backend``) costs a caller at most one ``StorageError``; every
wait is bounded by a timeout.
"""

from __future__ import annotations

import os
import re
import select
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import errors as pg_errors
from psycopg import pq, sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool, PoolClosed, PoolTimeout

from auth_store.async_adapter import AsyncAdapter
from auth_store.capabilities import (
    NativeBackup,
    NativeBackupUnavailableError,
    ProgressCallback,
    backup_name,
)
from auth_store.connect import parse_options
from auth_store.errors import ConfigurationError, StorageError, ValidationError
from auth_store.validation import normalize_email

from .flavors import AUTHJS, BETTER_AUTH, check_flavor
from .postgres_lane import Lane
from .postgres_statements import PostgresStatements
from .sql import (
    CONSTRAINT_KEYS,
    Dialect,
    Executor,
    Fault,
    Migration,
    SQLAdapter,
    no_store_error,
)
from .sql.migrations import SchemaMigration

__all__ = [
    "DRIVER_ERRORS",
    "PostgresAdapter",
    "PostgresDialect",
    "libpq_tool_target",
    "lost_connection",
    "parse_url",
    "pg_backup_name",
    "spoken_to",
]

Connection = psycopg.Connection[Any]

#: auth-store's URL options and their types; every other query parameter goes to libpq.
OPTIONS: dict[str, type] = {
    "schema": str,
    "pool_min": int,
    "pool_max": int,
    "pool_timeout": float,
    "connect_timeout": int,
    "max_idle": float,
    "max_lifetime": float,
    "statement_timeout": int,
    "pool_check": str,
    "prepare": bool,
    "migrate": bool,
    "flavor": str,
}
POOL_CHECKS = ("auto", "always")
_LIBPQ_KEYWORDS = frozenset(
    option.keyword.decode() for option in pq.Conninfo.get_defaults() if option.keyword
)
_SCHEMA_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
# First key of the advisory lock migrations hold (the second is the schema's hash).
_MIGRATION_LOCK = 0x61757468  # "auth"
#: What the driver raises: its own errors (the pool's timeouts among them), and
# UnicodeEncodeError for text it can't encode (a lone surrogate).
DRIVER_ERRORS = (psycopg.Error, UnicodeEncodeError)
_BUSY = (
    pg_errors.LockNotAvailable,
    pg_errors.QueryCanceled,
    pg_errors.DeadlockDetected,
    pg_errors.SerializationFailure,
)
_INVALID = (psycopg.DataError, pg_errors.IntegrityError, pg_errors.ProgramLimitExceeded)


def _describe(exc: BaseException) -> str:
    """A description of a driver error that is safe to show (no bound values)."""
    name = type(exc).__name__
    state = getattr(exc, "sqlstate", None)
    if state is None:
        # Client-side and connection errors: libpq's text names hosts, never values,
        # and says what went wrong better than the class name does.
        text = str(exc).strip()
        return text.splitlines()[0] if text else name
    if state.startswith("22"):
        # Data exceptions may quote the offending value.
        return f"{name} ({state})"
    primary = getattr(getattr(exc, "diag", None), "message_primary", None) or ""
    return f"{name} ({state}): {primary}"


class PostgresDialect(Dialect):
    """Postgres: ``%s`` placeholders, native timestamptz, jsonb and booleans."""

    name = "postgres"
    placeholder = "%s"
    returning = True
    email_key = "lower(email)"
    migrations_table = (
        "CREATE TABLE IF NOT EXISTS auth_store_migrations ("
        " version integer PRIMARY KEY,"
        " name text NOT NULL,"
        " checksum text NOT NULL,"
        " applied_at timestamptz NOT NULL)"
    )

    dump_json = staticmethod(Jsonb)  # type: ignore[assignment]

    def load_datetime(self, value: Any) -> datetime:
        # Connections run with TimeZone UTC, so this is the common case.
        if value.tzinfo is UTC:
            return value  # type: ignore[no-any-return]
        return super().load_datetime(value).astimezone(UTC)

    def load_email(self, value: Any) -> str:
        # Rows the Next.js app writes keep the e-mail as the provider gave it
        # ("Ada@Example.com"); the adapter returns it normalised, as every backend
        # does, and leaves the row alone. Most e-mails are already normal.
        if not isinstance(value, str):
            raise TypeError("stored e-mail is not text")
        if value.isascii() and value == value.lower() and value == value.strip():
            return value
        try:
            return normalize_email(value)
        except ValidationError:
            return value  # not an address: shown as stored

    def classify(self, exc: BaseException) -> Fault:
        if isinstance(exc, UnicodeEncodeError):
            return Fault("invalid", detail="text must be valid Unicode (no lone surrogates)")
        detail = _describe(exc)
        if isinstance(exc, pg_errors.UniqueViolation):
            return Fault("unique", key=CONSTRAINT_KEYS.get(exc.diag.constraint_name or ""))
        if isinstance(exc, pg_errors.ForeignKeyViolation):
            return Fault("foreign_key", detail=detail)
        if isinstance(exc, PoolTimeout):
            return Fault("other", detail=f"no connection free in the pool in time ({detail})")
        if isinstance(exc, PoolClosed):
            return Fault("other", detail="this Postgres store is closed")
        if isinstance(exc, _BUSY):
            return Fault("busy", detail=detail)
        if isinstance(exc, _INVALID):
            return Fault("invalid", detail=detail)
        return Fault("other", detail=detail)


def lost_connection(conn: Connection, exc: BaseException) -> bool:
    """Whether ``exc`` means the connection is gone (not that the statement failed)."""
    if conn.closed or conn.broken:
        return True
    # 08: connection exceptions; 57P01-03: the server is shutting down or dropped
    # this backend (57014, a cancelled statement, leaves the connection usable).
    state = getattr(exc, "sqlstate", None) or ""
    return state.startswith(("08", "57P"))


def _readable(fd: int) -> bool:
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(0))
    return bool(select.select([fd], [], [], 0)[0])  # pragma: no cover - Windows


def check_if_spoken_to(conn: Connection) -> None:
    """The pool's ``auto`` check: free, unless the server wrote to the idle connection.

    An idle connection receives nothing unless the server is dropping it: the
    FATAL it sends before closing (``pg_terminate_backend``, a shutdown) makes
    the socket readable. Only then is the round trip of
    ``ConnectionPool.check_connection`` paid, which reads it and fails.
    """
    if spoken_to(conn):
        if conn.closed or conn.broken:
            raise psycopg.OperationalError("the connection is closed")
        ConnectionPool.check_connection(conn)


def spoken_to(conn: Connection | psycopg.AsyncConnection[Any]) -> bool:
    """Whether the ``auto`` check must look closer: the connection is closed, or was written to."""
    return conn.closed or conn.broken or _readable(conn.fileno())


def _where(conninfo: str) -> str:
    """``user@host:port/dbname`` of a conninfo, without its password."""
    try:
        params = conninfo_to_dict(conninfo)
    except psycopg.Error:
        return "(unparsable connection string)"
    user = f"{params['user']}@" if params.get("user") else ""
    host = params.get("host") or params.get("hostaddr") or "local socket"
    port = f":{params['port']}" if params.get("port") else ""
    return f"{user}{host}{port}/{params.get('dbname') or ''}"


def parse_url(url: str) -> tuple[str, dict[str, object]]:
    """A Postgres URL as a libpq conninfo (auth-store's options removed) and those options."""
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed [ of an IPv6 address
        raise ConfigurationError("the Postgres URL cannot be parsed") from None
    if parts.scheme.lower() not in {"postgresql", "postgres"}:
        raise ConfigurationError("Postgres URLs start with postgresql:// or postgres://")
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    ours = [(k, v) for k, v in pairs if k in OPTIONS]
    libpq = [(k, v) for k, v in pairs if k not in OPTIONS]
    unknown = sorted({k for k, _ in libpq} - _LIBPQ_KEYWORDS)
    if unknown:
        raise ConfigurationError(
            f"unknown Postgres URL option(s) {', '.join(unknown)}: neither auth-store's"
            f" ({', '.join(sorted(OPTIONS))}) nor a libpq connection keyword"
        )
    options = parse_options(urlencode(ours), OPTIONS)
    return urlunsplit(("postgresql", parts.netloc, parts.path, urlencode(libpq), "")), options


def pg_backup_name(conninfo: str, schema: str | None) -> str:
    """The name of a store's backups: database (and schema), a hash of where it is.

    Host, port, database and schema make the location; the user and the
    password do not (they name who connects, not another store).
    """
    where = _where(conninfo)
    dbname = where.rsplit("/", 1)[-1] or "postgres"
    readable = f"{dbname}.{schema}" if schema else dbname
    return backup_name(readable, f"{where.rpartition('@')[2]}?schema={schema or ''}")


def libpq_tool_target(conninfo: str) -> tuple[str, dict[str, str]]:
    """What ``pg_dump``/``pg_restore`` get: ``--dbname`` without the password, and an
    environment holding it (a command line is visible to every user through ``ps``)."""
    params = conninfo_to_dict(conninfo)
    password = params.pop("password", None)
    env = {} if password is None else {"PGPASSWORD": str(password)}
    return make_conninfo("", **params), env


class PostgresAdapter(SQLAdapter):
    """A store in one Postgres database (or one schema of it), shared by any number of processes.

    ``conninfo`` is a libpq connection string or URL. ``schema`` puts every
    table in that schema (created when missing) instead of the connection's
    default search path. The pool keeps ``pool_min`` to ``pool_max``
    connections; a call waits at most ``pool_timeout`` seconds for one, and
    opening one waits at most ``connect_timeout`` seconds. Idle connections
    are closed after ``max_idle`` seconds and every connection is replaced
    after ``max_lifetime``. ``pool_check`` is how a connection is checked
    before it is lent: ``auto`` (a round trip only when the server wrote to
    the idle connection, as it does before dropping it) or ``always`` (an
    empty query every time). ``statement_timeout`` (milliseconds, 0: the
    server's setting) bounds every statement. ``prepare=False`` turns
    prepared statements off (for PgBouncer in transaction mode).
    ``migrate=False`` opens without applying pending migrations.
    ``create=False`` opens only an existing store (``NoStoreError`` otherwise,
    nothing created).
    """

    backend = "postgres"
    #: The dialect class; a schema flavor swaps it (``postgres_better_auth``).
    dialect_class: type[PostgresDialect] = PostgresDialect

    def __init__(
        self,
        conninfo: str,
        *,
        schema: str | None = None,
        pool_min: int = 1,
        pool_max: int = 10,
        pool_timeout: float = 10.0,
        connect_timeout: int = 5,
        max_idle: float = 600.0,
        max_lifetime: float = 3600.0,
        statement_timeout: int = 0,
        pool_check: str = "auto",
        prepare: bool = True,
        migrate: bool = True,
        create: bool = True,
    ) -> None:
        dialect = self.dialect_class()
        super().__init__(dialect, PostgresStatements(dialect))
        if schema is not None and (not _SCHEMA_RE.fullmatch(schema) or schema.startswith("pg_")):
            raise ConfigurationError(
                "schema must be 1-63 letters, digits or underscores, not starting with a"
                " digit or 'pg_'"
            )
        if not 0 <= pool_min <= pool_max or pool_max < 1:
            raise ConfigurationError("pool sizes need 0 <= pool_min <= pool_max and pool_max >= 1")
        for name, value in (
            ("pool_timeout", pool_timeout),
            ("connect_timeout", connect_timeout),
            ("max_idle", max_idle),
            ("max_lifetime", max_lifetime),
        ):
            if not value > 0:
                raise ConfigurationError(f"{name} must be positive")
        if statement_timeout < 0:
            raise ConfigurationError("statement_timeout must not be negative")
        if pool_check not in POOL_CHECKS:
            raise ConfigurationError(f"pool_check must be one of {', '.join(POOL_CHECKS)}")
        try:
            conninfo_to_dict(conninfo)
        except psycopg.Error:
            # libpq's parse errors quote the text they stumbled on, which can
            # be the password (a bad %-escape in it): name the problem only.
            raise ConfigurationError(
                "the Postgres connection string cannot be parsed (check the %-escapes"
                " of the user name and password, and the host and port)"
            ) from None
        self.schema = schema
        self.where = _where(conninfo)
        self._conninfo = conninfo  # has the password: never shown, logged or put in argv
        self._prepare: bool = prepare
        self._check_one: Callable[[Connection], None] = (
            ConnectionPool.check_connection if pool_check == "always" else check_if_spoken_to
        )
        setup: list[sql.Composable] = [sql.SQL("SET TimeZone TO 'UTC'")]
        if schema is not None:
            setup.append(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        if statement_timeout:
            setup.append(sql.SQL("SET statement_timeout TO {}").format(statement_timeout))
        self._setup = sql.SQL("; ").join(setup)
        kwargs: dict[str, Any] = {
            "autocommit": True,
            "connect_timeout": connect_timeout,
            "prepare_threshold": 5 if prepare else None,
            "fallback_application_name": "auth-store",
        }
        # Opened first so a wrong host or password fails now, with libpq's reason.
        try:
            bootstrap = self._connect(conninfo, kwargs)
        except psycopg.Error as exc:
            raise StorageError(
                f"cannot connect to Postgres at {self.where}: {_describe(exc)}"
            ) from exc
        self._bootstrap: Connection | None = bootstrap
        self._pool = self._new_pool(
            conninfo,
            kwargs=kwargs,
            min_size=pool_min,
            max_size=pool_max,
            timeout=pool_timeout,
            max_idle=max_idle,
            max_lifetime=max_lifetime,
            reconnect_timeout=max(pool_timeout, 30.0),
            name="auth-store",
        )
        self._lane: Lane[Connection] = Lane(
            self._pool,
            check=self._check_one,
            quiet_is_fine=pool_check == "auto",
            on_dead=self._pool.check,
        )
        try:
            self._configure(bootstrap)
            if not create and not self._has_migrations_table():
                in_schema = f" (schema {schema})" if schema else ""
                tables = bootstrap.execute(
                    "SELECT EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = current_schema())"
                ).fetchone()
                raise no_store_error(
                    f"postgresql://{self.where}{in_schema}", other_tables=bool(tables and tables[0])
                )
            if migrate:
                self._open_schema(apply=True)
            elif self._has_migrations_table():
                self._open_schema(apply=False)  # only checks the applied files
            # Wait for the first connection: a call made before it is ready would
            # make the pool open a second one, and lend the two in turn.
            self._pool.open(wait=True, timeout=pool_timeout)
        except DRIVER_ERRORS as exc:
            self._pool.close()
            raise self._error(exc) from exc
        except BaseException:
            self._pool.close()
            raise
        finally:
            self._bootstrap = None
            bootstrap.close()

    @classmethod
    def from_url(cls, url: str) -> Self:
        """``postgresql://user:password@host:port/dbname?options`` (also ``postgres://``).

        auth-store's options are those of ``__init__`` (``schema``, ``pool_min``,
        ``pool_max``, ``pool_timeout``, ``connect_timeout``, ``max_idle``,
        ``max_lifetime``, ``statement_timeout``, ``pool_check``, ``prepare``,
        ``migrate``, and ``flavor``: ``authjs``, the default, or ``better-auth``
        for Better Auth's tables); any other query parameter must be a libpq
        keyword (``sslmode``, ``application_name``, ...) and is passed to libpq.
        """
        return cls._from_url(url, create=True)

    @classmethod
    def open_existing(cls, url: str) -> Self:
        """``from_url`` for a store that exists, ``NoStoreError`` otherwise (``OpensExisting``).

        A store exists where the database (or the ``schema``) holds
        auth-store's migrations table; nothing is created, not even the schema.
        """
        return cls._from_url(url, create=False)

    @classmethod
    def _from_url(cls, url: str, *, create: bool) -> Self:
        klass, arguments = cls.class_for_url(url)
        return cast(Self, klass(create=create, **arguments))  # type: ignore[arg-type]

    @classmethod
    async def connect_async(cls, url: str, *, create: bool = True) -> AsyncAdapter:
        """The native async twin (``SupportsNativeAsync``): psycopg's async pool, no threads.

        ``create=False`` opens only an existing store, as ``open_existing``.
        """
        try:
            from .postgres_async import AsyncPostgresAdapter
        except ModuleNotFoundError as exc:
            if exc.name != "greenlet":
                raise
            raise ConfigurationError(
                "the async Postgres store needs the greenlet package:"
                " pip install 'auth-store[postgres]'"
            ) from exc
        return await AsyncPostgresAdapter.open(url, create=create)

    @classmethod
    def class_for_url(cls, url: str) -> tuple[type[PostgresAdapter], dict[str, object]]:
        """The adapter class (by ``flavor``) and the ``__init__`` arguments a URL names."""
        conninfo, options = parse_url(url)
        if check_flavor(options.pop("flavor", AUTHJS)) == BETTER_AUTH:
            from .postgres_better_auth import BetterAuthPostgresAdapter

            return BetterAuthPostgresAdapter, {"conninfo": conninfo, **options}
        return cls, {"conninfo": conninfo, **options}

    # -- connections ----------------------------------------------------------------

    def _connect(self, conninfo: str, kwargs: dict[str, Any]) -> Connection:
        """One connection outside the pool (opening: migrations run on it)."""
        return psycopg.connect(conninfo, **kwargs)

    def _new_pool(self, conninfo: str, **options: Any) -> ConnectionPool[Connection]:
        """The pool (not open yet); ``options`` are ``ConnectionPool``'s."""
        return ConnectionPool(
            conninfo,
            configure=self._configure,
            check=self._check_before_lending,
            open=False,
            **options,
        )

    def _configure(self, conn: Connection) -> None:
        conn.execute(self._setup)

    def _check_before_lending(self, conn: Connection) -> None:
        """The pool's check: a dead connection is replaced, not lent to a caller."""
        try:
            self._check_one(conn)
        except Exception:
            # What killed it (a restart, an operator) most likely killed its idle
            # siblings too: drop them all now, or the pool would try them one by
            # one with a growing back-off (1 s, 2 s, ...) while the caller waits.
            self._pool.check()
            raise

    def close(self) -> None:
        """Close the pool and its connections. Idempotent; later calls raise ``StorageError``."""
        self._lane.close()
        self._pool.close()

    def _read(self, statement: str, params: Sequence[Any], *, one: bool, attempts: int = 2) -> Any:
        # The per-request path: no context managers, one cursor kept per connection.
        lane = self._lane
        prepare = self._prepare or None
        for attempt in range(1, attempts + 1):
            try:
                lent = lane.take()
            except DRIVER_ERRORS as exc:
                raise self._error(exc) from exc
            conn = lent.conn
            try:
                cursor = lent.cursor
                if cursor is None:
                    cursor = lent.cursor = conn.cursor()
                cursor.execute(statement, params, prepare=prepare)
                return cursor.fetchone() if one else cursor.fetchall()
            except DRIVER_ERRORS as exc:
                # A read whose connection died under it changed nothing: it is
                # retried once on another connection, and the caller sees no error.
                if attempt == attempts or not lost_connection(conn, exc):
                    raise self._error(exc) from exc
                conn.close()  # so the pool discards it
            finally:
                lane.give_back(lent)
            self._drop_dead()
        raise AssertionError("unreachable")  # pragma: no cover

    # -- hooks of SQLAdapter ----------------------------------------------------------

    def _fetchone(self, sql: str, params: Sequence[Any]) -> Any:
        return self._read(sql, params, one=True)

    def _fetchall(self, sql: str, params: Sequence[Any]) -> list[Any]:
        rows: list[Any] = self._read(sql, params, one=False)
        return rows

    def _write_one(self, statement: str, params: Sequence[Any]) -> tuple[int, Any]:
        # _read's path without the retry: autocommit makes the statement its own
        # transaction, so BEGIN and COMMIT cost no round trips.
        lane = self._lane
        try:
            lent = lane.take()
        except DRIVER_ERRORS as exc:
            raise self._error(exc) from exc
        conn = lent.conn
        lost = False
        try:
            cursor = lent.cursor
            if cursor is None:
                cursor = lent.cursor = conn.cursor()
            cursor.execute(statement, params, prepare=self._prepare or None)
            row = None if cursor.description is None else cursor.fetchone()
            return cursor.rowcount, row
        except DRIVER_ERRORS as exc:
            lost = lost_connection(conn, exc)
            if lost:
                conn.close()  # so the pool discards it
            raise self._error(exc) from exc
        finally:
            lane.give_back(lent)
            if lost:
                self._drop_dead()

    def _after_import(self) -> None:
        # Measured: a server process that ran a bulk import answers the prepared
        # per-request lookups about 30 µs slower afterwards (psycopg's wait; the
        # same plan, generic, on both sides). Preparing the statements anew cures
        # it, replanning (DISCARD PLANS) does not. So the connections an import
        # used are replaced: one reconnect, instead of a slower store until
        # max_lifetime.
        self._lane.flush()
        self._pool.drain()

    @contextmanager
    def _lease(self) -> Iterator[Connection]:
        """A connection for a block: the lane's, given back after (a dead one discarded)."""
        lent = self._lane.take()
        try:
            yield lent.conn
        finally:
            self._lane.give_back(lent)

    def _drop_dead(self) -> None:
        """After a connection was found dead: drop the others the same event killed."""
        self._lane.flush()
        self._pool.check()

    @contextmanager
    def _transaction(self) -> Iterator[Executor]:
        conn: Connection | None = None
        try:
            with self._lease() as conn, conn.transaction():
                yield conn.cursor()
        except DRIVER_ERRORS as exc:
            if conn is not None and lost_connection(conn, exc):
                self._drop_dead()
            raise self._error(exc) from exc

    @contextmanager
    def _snapshot(self) -> Iterator[Callable[[str], Iterator[Any]]]:
        open_queries: list[Iterator[Any]] = []
        try:
            with self._lease() as conn, conn.transaction():
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")

                def stream(statement: str) -> Iterator[Any]:
                    # A server-side cursor: rows arrive in batches, memory stays flat.
                    with conn.cursor(name=f"auth_store_export_{len(open_queries)}") as cursor:
                        cursor.itersize = 500
                        cursor.execute(statement)
                        yield from cursor

                def query(statement: str) -> Iterator[Any]:
                    rows = stream(statement)
                    open_queries.append(rows)
                    return rows

                try:
                    yield query
                finally:
                    # Close abandoned cursors while the connection is still ours.
                    for rows in open_queries:
                        rows.close()  # type: ignore[attr-defined]
        except DRIVER_ERRORS as exc:
            raise self._error(exc) from exc

    @contextmanager
    def _migration_transaction(self) -> Iterator[Executor]:
        if self._bootstrap is not None:
            with self._locked_migration(self._bootstrap) as cursor:
                yield cursor
            return
        try:
            with self._lease() as conn, self._locked_migration(conn) as cursor:
                yield cursor
        except DRIVER_ERRORS as exc:
            raise self._error(exc) from exc

    @contextmanager
    def _locked_migration(self, conn: Connection) -> Iterator[Executor]:
        """A transaction holding this schema's migration lock, the schema created."""
        try:
            with conn.transaction():
                cursor = conn.cursor()
                # Openers of one schema queue here: one applies, the others see it applied.
                cursor.execute(
                    "SELECT pg_advisory_xact_lock(%s,"
                    " hashtext(coalesce(%s::text, current_schema())))",
                    (_MIGRATION_LOCK, self.schema),
                )
                if self.schema is not None:
                    exists = cursor.execute(
                        "SELECT 1 FROM pg_namespace WHERE nspname = %s", (self.schema,)
                    ).fetchone()
                    if exists is None:
                        cursor.execute(
                            sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(self.schema))
                        )
                yield cursor
        except DRIVER_ERRORS as exc:
            raise self._error(exc) from exc

    def _before_migrations(self, ex: Executor, pending: list[Migration]) -> None:
        if any(m.version == 1 for m in pending):
            from .postgres_authjs import check_upgrade

            check_upgrade(ex, self.schema)

    # -- schema -------------------------------------------------------------------

    def _has_migrations_table(self) -> bool:
        conn = self._bootstrap
        query = "SELECT to_regclass('auth_store_migrations') IS NOT NULL"
        if conn is not None:
            try:
                row = conn.execute(query).fetchone()
            except DRIVER_ERRORS as exc:
                raise self._error(exc) from exc
        else:
            row = self._fetchone(query, ())
        return bool(row and row[0])

    def schema_status(self) -> list[SchemaMigration]:
        if not self._has_migrations_table():
            return [SchemaMigration(m.version, m.name, None) for m in self._migrations]
        return super().schema_status()

    def schema_version(self) -> int:
        return super().schema_version() if self._has_migrations_table() else 0

    # -- backups (SupportsBackup, SupportsRestoreInPlace) -----------------------------

    def backup_name(self) -> str:
        """The database (and schema) name, and a hash of host, port, database and schema."""
        return pg_backup_name(self._conninfo, self.schema)

    def backup(self, dest: Path, *, progress: ProgressCallback | None = None) -> NativeBackup:
        """``pg_dump --format=custom`` of this store's schema.

        ``NativeBackupUnavailableError`` when ``pg_dump`` is not on PATH or fails.
        """
        if shutil.which("pg_dump") is None:
            raise NativeBackupUnavailableError("pg_dump is not on PATH")
        command = ["pg_dump", "--format=custom", "--no-owner", f"--file={dest}"]
        if self.schema:
            command.append(f"--schema={self.schema}")
        try:
            self._run_libpq_tool(command)
        except StorageError as exc:
            raise NativeBackupUnavailableError(str(exc)) from exc
        return NativeBackup(Path(dest), method="pg_dump", suffix="pgdump")

    @classmethod
    def recognizes_backup(cls, head: bytes) -> bool:
        """A ``pg_dump --format=custom`` file."""
        return head.startswith(b"PGDMP")

    def restore_backup(self, path: Path) -> str:
        """``pg_restore`` a ``pg_dump`` backup into this (empty) database.

        It goes into the schema it was taken from. Pooled connections are
        replaced afterwards: their prepared statements name the old tables.
        """
        if shutil.which("pg_restore") is None:
            raise ConfigurationError("restoring a .pgdump needs pg_restore on PATH")
        flags = ["--clean", "--if-exists", "--no-owner", "--single-transaction"]
        self._run_libpq_tool(["pg_restore", *flags, str(path)])
        self._lane.flush()
        self._pool.drain()
        return "pg_restore"

    def _run_libpq_tool(self, command: list[str]) -> None:
        """Run ``pg_dump``/``pg_restore`` against this database; the password goes in its env."""
        target, env = libpq_tool_target(self._conninfo)
        done = subprocess.run(
            [*command, f"--dbname={target}"],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise StorageError(f"{command[0]} failed: {done.stderr.strip()[:500]}")

    # -- reporting ----------------------------------------------------------------

    def _health_details(self) -> dict[str, Any]:
        try:
            with self._lease() as conn:
                start = time.perf_counter()
                conn.execute("SELECT 1").fetchone()
                round_trip = time.perf_counter() - start
                schema = conn.execute("SELECT current_schema()").fetchone()
                version = conn.info.parameter_status("server_version")
        except DRIVER_ERRORS as exc:
            raise self._error(exc) from exc
        stats = self._pool.get_stats()
        return {
            "database": self.where,
            "schema": schema[0] if schema else None,
            "server_version": version,
            "round_trip_ms": round(round_trip * 1000, 3),
            "pool": {
                "min": stats.get("pool_min"),
                "max": stats.get("pool_max"),
                "size": stats.get("pool_size"),
                # The lane's idle connections are lent, for the pool.
                "available": stats.get("pool_available", 0) + self._lane.idle,
                "waiting": stats.get("requests_waiting", 0),
            },
        }

    def __repr__(self) -> str:
        schema = f", schema={self.schema!r}" if self.schema else ""
        return f"PostgresAdapter({self.where!r}{schema})"
