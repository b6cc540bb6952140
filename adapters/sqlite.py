"""The SQLite backend: stdlib ``sqlite3``, WAL, one connection per thread.

Reads run in autocommit mode on the calling thread's connection; every write
is one ``BEGIN IMMEDIATE`` transaction, so writers from any thread or process
queue on SQLite's write lock (up to ``busy_timeout``) and never interleave.
Foreign keys are on and cascade, the schema comes from versioned migration
files applied when the store is opened, and the file is created ``0600``.
"""

from __future__ import annotations

import json
import json.scanner
import os
import random
import shutil
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Self, TypeVar, cast
from urllib.parse import unquote, urlsplit

from auth_store.capabilities import NativeBackup, ProgressCallback, backup_name
from auth_store.connect import parse_options
from auth_store.errors import ConfigurationError, NoStoreError, StorageError
from auth_store.records import dump_datetime as _dump_datetime

from .flavors import AUTHJS, BETTER_AUTH, check_flavor
from .sql import Dialect, Fault, Lookup, SQLAdapter, no_store_error

__all__ = ["SQLiteAdapter", "SQLiteDialect"]

T = TypeVar("T")
Durability = Literal["full", "normal"]
# durability -> PRAGMA synchronous. In WAL mode NORMAL never corrupts the file
# but may lose the last transactions on power loss; FULL syncs every commit.
_SYNCHRONOUS = {"full": "PRAGMA synchronous = FULL", "normal": "PRAGMA synchronous = NORMAL"}
_BUSY = ("SQLITE_BUSY", "SQLITE_LOCKED")  # and their extended codes
# What the driver raises: its own errors, and UnicodeEncodeError for text it
# can't encode as UTF-8 (a lone surrogate), which the validation lets through.
_DRIVER_ERRORS = (sqlite3.Error, UnicodeEncodeError)


_SQLITE_MAGIC = b"SQLite format 3\x00"

# The decoder's scanner (C when available) is what json.loads and raw_decode
# end in; called directly it skips their Python wrappers: this runs on every
# user read. It raises StopIteration where they raise JSONDecodeError.
# (typeshed types the scanner's argument as a scanner; it takes the decoder.)
_scan_once = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[arg-type]


def _load_json(text: Any) -> dict[str, Any]:
    if text == "{}" or text is None:
        return {}
    try:
        value, end = _scan_once(text, 0)
    except (StopIteration, ValueError):
        value, end = json.loads(text), len(text)  # leading whitespace, or truly corrupt
    if end != len(text):
        value = json.loads(text)  # trailing whitespace, or truly corrupt
    if not isinstance(value, dict):
        raise TypeError("stored JSON is not an object")
    return value


def _dump_json(value: dict[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _first_migration(path: Path) -> str | None:
    """The name of the first migration applied to a database file (its layout), if any."""
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            row = db.execute("SELECT name FROM auth_store_migrations WHERE version = 1").fetchone()
        finally:
            db.close()
    except sqlite3.Error:
        return None
    return None if row is None else str(row[0])


def _parse_url(url: str) -> tuple[str, str]:
    """The path and the query of a ``sqlite:`` URL."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "sqlite" or parts.netloc:
        raise ConfigurationError(
            "SQLite URLs are sqlite:///relative/path.db or sqlite:////absolute/path.db"
        )
    return unquote(parts.path)[1:], parts.query


class SQLiteDialect(Dialect):
    """SQLite: ``?`` placeholders, datetimes as fixed-width ISO text, JSON as text, 0/1 bools."""

    name = "sqlite"
    placeholder = "?"
    returning = sqlite3.sqlite_version_info >= (3, 35, 0)

    # Plain functions, not methods: the row codec calls them on every read.
    dump_datetime = staticmethod(_dump_datetime)
    # The schema's CHECK constraints admit only fixed-width "+00:00" text, so
    # every stored datetime parses aware without a second look.
    load_datetime = staticmethod(datetime.fromisoformat)  # type: ignore[assignment]
    dump_json = staticmethod(_dump_json)
    load_json = staticmethod(_load_json)  # type: ignore[assignment]

    def dump_bool(self, value: bool) -> Any:
        return 1 if value else 0

    def split_script(self, script: str) -> list[str]:
        statements: list[str] = []
        buffer = ""
        for line in script.splitlines(keepends=True):
            buffer += line
            if sqlite3.complete_statement(buffer):
                statements.append(buffer.strip())
                buffer = ""
        leftover = "".join(
            line for line in buffer.splitlines() if not line.strip().startswith("--")
        )
        if leftover.strip():
            raise ConfigurationError("a migration ends with an unterminated statement")
        return statements

    def classify(self, exc: BaseException) -> Fault:
        if isinstance(exc, UnicodeEncodeError):
            return Fault("invalid", detail="text must be valid Unicode (no lone surrogates)")
        message = str(exc)
        if isinstance(exc, sqlite3.IntegrityError):
            if message.startswith("FOREIGN KEY"):
                return Fault("foreign_key", detail=message)
            prefix = "UNIQUE constraint failed: "
            if message.startswith(prefix):
                # "accounts.provider, accounts.providerAccountId" -> "accounts(provider,...)"
                parts = [p.strip().split(".", 1) for p in message[len(prefix) :].split(",")]
                if all(len(p) == 2 for p in parts):
                    key = f"{parts[0][0]}({','.join(p[1] for p in parts)})"
                    return Fault("unique", key=key, detail=message)
                return Fault("unique", detail=message)
        if str(getattr(exc, "sqlite_errorname", "")).startswith(_BUSY):
            return Fault("busy", detail=message)
        # SQLite's messages never include bound values, so they are safe to show,
        # and they name the problem ("file is not a database") better than the class.
        return Fault("other", detail=message or type(exc).__name__)


class _Owner:
    """Owns one thread's connection; closes it when the thread's locals die."""

    __slots__ = ("__weakref__", "conn")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn: sqlite3.Connection | None = conn

    def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            try:
                conn.close()
            except sqlite3.Error:  # already unusable: nothing left to release
                return

    def __del__(self) -> None:
        self.close()


# Adapters alive in this process; a forked child must not touch its parent's
# connections (SQLite forbids it), so it drops them without closing.
_LIVE: weakref.WeakSet[SQLiteAdapter] = weakref.WeakSet()
_ORPHANS: list[_Owner] = []


def _after_fork_in_child() -> None:
    for adapter in list(_LIVE):
        adapter._forget_connections()


os.register_at_fork(after_in_child=_after_fork_in_child)


class SQLiteAdapter(SQLAdapter):
    """A store in one SQLite database file, shared safely by threads and processes.

    ``busy_timeout`` is how long (milliseconds) a call waits for another
    writer's lock before failing with ``StorageError``. ``durability`` is
    ``full`` (sync every commit) or ``normal`` (WAL's faster mode that can
    lose the last commits on power loss, never corrupting the file).
    ``migrate=False`` opens without applying pending migrations.
    ``create=False`` opens only an existing store (``NoStoreError`` otherwise,
    nothing created).
    """

    backend = "sqlite"
    serial_writes = True
    #: The dialect class; a subclass may swap it (the tests run one without RETURNING).
    dialect_class: type[SQLiteDialect] = SQLiteDialect

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        busy_timeout: int = 5000,
        durability: Durability = "full",
        migrate: bool = True,
        create: bool = True,
    ) -> None:
        super().__init__(self.dialect_class())
        path = os.fspath(path)
        if not path or path == ":memory:" or path.startswith("file:"):
            raise ConfigurationError(
                "the SQLite backend needs a database file path (use memory:// for an"
                " in-process store)"
            )
        if isinstance(busy_timeout, bool) or not isinstance(busy_timeout, int):
            raise ConfigurationError("busy_timeout must be an int (milliseconds)")
        if busy_timeout < 0:
            raise ConfigurationError("busy_timeout must not be negative")
        if durability not in _SYNCHRONOUS:
            raise ConfigurationError(f"durability must be one of {sorted(_SYNCHRONOUS)}")
        self.path = os.path.abspath(path)
        self.busy_timeout = busy_timeout
        self.durability: Durability = durability
        self._closed = False
        self._lock = threading.Lock()
        self._local = threading.local()
        self._owners: weakref.WeakSet[_Owner] = weakref.WeakSet()
        _LIVE.add(self)
        try:
            if create:
                self._create_file()
            elif not os.path.isfile(self.path):
                raise NoStoreError(f"no store at {self.path}: no such file")
            conn = self._connection()
            if not create:
                tables = self._tables(conn)
                if "auth_store_migrations" not in tables:
                    raise no_store_error(self.path, other_tables=bool(tables))
            mode = self._switch_to_wal(conn)
            if str(mode).lower() != "wal":
                raise ConfigurationError(
                    f"SQLite could not switch {self.path} to WAL mode (got {mode!r})"
                )
            if conn.execute("PRAGMA foreign_keys").fetchone()[0] != 1:
                raise ConfigurationError("this SQLite build cannot enforce foreign keys")
            if not self._schema_is_current():
                self._open_schema(apply=migrate)
        except sqlite3.Error as exc:
            self.close()
            raise self._error(exc) from exc
        except BaseException:
            self.close()
            raise

    @classmethod
    def from_url(cls, url: str) -> Self:
        """``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db``.

        Options: ``busy_timeout`` (ms, default 5000), ``durability``
        (``full`` | ``normal``), ``migrate`` (default true), ``flavor``
        (``authjs``, the default, or ``better-auth``: Better Auth's tables).
        """
        return cls._from_url(url, create=True)

    @classmethod
    def open_existing(cls, url: str) -> Self:
        """``from_url`` for a store that exists, ``NoStoreError`` otherwise (``OpensExisting``).

        A store exists where the file is a database holding auth-store's
        migrations table (a store opened with ``migrate=false`` counts).
        """
        return cls._from_url(url, create=False)

    @classmethod
    def _from_url(cls, url: str, *, create: bool) -> Self:
        path, query = _parse_url(url)
        options = parse_options(
            query, {"busy_timeout": int, "durability": str, "migrate": bool, "flavor": str}
        )
        if check_flavor(options.pop("flavor", AUTHJS)) == BETTER_AUTH:
            from .sqlite_better_auth import BetterAuthSQLiteAdapter

            store = BetterAuthSQLiteAdapter(path, create=create, **options)  # type: ignore[arg-type]
            return cast(Self, store)
        return cls(path, create=create, **options)  # type: ignore[arg-type]

    @classmethod
    def path_from_url(cls, url: str) -> Path:
        """The database file a ``sqlite:`` URL names (``StoredAtPath``)."""
        return Path(_parse_url(url)[0])

    # -- backups (SupportsBackup, SupportsRestore) ---------------------------------

    def backup_name(self) -> str:
        """The file's name without its suffix, and a hash of its real path."""
        name = os.path.basename(self.path)
        for suffix in (".sqlite3", ".sqlite", ".db"):
            name = name.removesuffix(suffix)
        return backup_name(name, os.path.realpath(self.path))

    def backup(self, dest: Path, *, progress: ProgressCallback | None = None) -> NativeBackup:
        """A consistent copy through SQLite's online backup API, while others keep writing.

        The copy is one self-contained file (no WAL beside it) that passed
        ``PRAGMA quick_check``.
        """
        if self._closed:
            raise StorageError("this SQLite store is closed")

        def report(status: int, remaining: int, total: int) -> None:
            if progress is not None:
                progress("backup", total - remaining, total)

        try:
            source = self._connect()
            try:
                target = sqlite3.connect(dest)
                try:
                    # pages=-1: one step, so the copy is one consistent snapshot even
                    # while other processes write (WAL readers do not block writers).
                    source.backup(target, pages=-1, progress=report)
                    target.execute("PRAGMA journal_mode=DELETE")
                    result = target.execute("PRAGMA quick_check").fetchone()
                    if result is None or result[0] != "ok":
                        raise StorageError("the SQLite backup failed its integrity check")
                finally:
                    target.close()
            finally:
                source.close()
        except sqlite3.Error as exc:
            raise StorageError(f"SQLite backup failed: {exc}") from exc
        return NativeBackup(Path(dest), method="sqlite-backup-api", suffix="sqlite3")

    @classmethod
    def recognizes_backup(cls, head: bytes) -> bool:
        """A SQLite database file."""
        return head.startswith(_SQLITE_MAGIC)

    @classmethod
    def open_backup(cls, path: Path, workdir: Path) -> Self:
        """A copy of the backup in ``workdir``, opened in its layout (the backup stays as it is)."""
        copy = Path(workdir) / "backup.db"
        try:
            shutil.copyfile(path, copy)
        except OSError as exc:
            raise StorageError(f"cannot copy {path}: {exc.strerror}") from exc
        if _first_migration(copy) == "better_auth":
            from .sqlite_better_auth import BetterAuthSQLiteAdapter

            return cast(Self, BetterAuthSQLiteAdapter(copy))
        return cls(copy)

    def _schema_is_current(self) -> bool:
        """Whether every shipped migration is applied as shipped, read without the write lock.

        The usual open finds nothing to do; taking the write lock only to see
        that would queue every opening process behind busy writers (and fail
        after ``busy_timeout``). Anything else takes the locked path, which
        applies, creates or refuses.
        """
        try:
            rows = self._connection().execute(self._sql.migrations_applied).fetchall()
        except sqlite3.Error:
            return False  # no tracking table yet
        applied = self._applied(rows)
        return len(applied) == len(self._migrations) and all(
            m.version in applied and applied[m.version][1] == m.checksum for m in self._migrations
        )

    def _switch_to_wal(self, conn: sqlite3.Connection) -> Any:
        """Put the file in WAL mode (a no-op once it is); return the journal mode.

        On a new file still in rollback mode the switch needs an exclusive
        lock. When several processes open the file at once, SQLite answers
        SQLITE_BUSY at once to all but one, without waiting for the busy
        timeout (waiting while holding a shared lock could deadlock), so the
        switch is retried here, within ``busy_timeout``, until the winner is done.
        """
        deadline = time.monotonic() + self.busy_timeout / 1000
        pause = 0.001
        while True:
            try:
                return conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            except sqlite3.OperationalError as exc:
                busy = str(getattr(exc, "sqlite_errorname", "")).startswith(_BUSY)
                if not busy or time.monotonic() + pause > deadline:
                    raise
            time.sleep(random.uniform(pause / 2, pause))
            pause = min(pause * 2, 0.05)

    # -- connections --------------------------------------------------------------

    def _tables(self, conn: sqlite3.Connection) -> set[str]:
        """The names of the file's tables (a read: changes nothing)."""
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        return {str(row[0]) for row in rows}

    def _create_file(self) -> None:
        # The file holds password hashes and tokens: create it private. SQLite
        # gives the -wal and -shm files the same permissions.
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return
        except OSError as exc:
            reason = (exc.strerror or "failed").lower()
            raise StorageError(f"cannot create SQLite database {self.path}: {reason}") from exc
        os.close(fd)

    def _connection(self) -> sqlite3.Connection:
        try:
            conn: sqlite3.Connection = self._local.conn
            return conn
        except AttributeError:
            pass
        if self._closed:
            raise StorageError("this SQLite store is closed")
        conn = self._connect()
        owner = _Owner(conn)
        with self._lock:
            self._owners.add(owner)
        self._local.conn = conn
        self._local.owner = owner
        return conn

    def _connect(self) -> sqlite3.Connection:
        """A new connection, configured; the statements' text is cached per connection."""
        try:
            # check_same_thread=False only so close() can close every thread's
            # connection; each connection is used by the thread that opened it.
            conn = sqlite3.connect(
                self.path,
                timeout=self.busy_timeout / 1000,
                isolation_level=None,
                check_same_thread=False,
                cached_statements=256,
            )
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open SQLite database {self.path}: {exc}") from exc
        try:
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute(_SYNCHRONOUS[self.durability])
        except sqlite3.Error as exc:
            conn.close()
            raise self._error(exc) from exc
        return conn

    def _forget_connections(self) -> None:
        # Runs in a forked child, which has one thread: no locking (the parent's
        # lock may have been held at fork time, so it is replaced).
        self._lock = threading.Lock()
        _ORPHANS.extend(self._owners)
        self._owners = weakref.WeakSet()
        self._local = threading.local()

    def close(self) -> None:
        """Close every thread's connection. Idempotent; later calls raise ``StorageError``."""
        with self._lock:
            self._closed = True
            owners = list(self._owners)
            self._owners = weakref.WeakSet()
            self._local = threading.local()
        for owner in owners:
            owner.close()

    # -- hooks of SQLAdapter ------------------------------------------------------

    def _fetchone(self, sql: str, params: Sequence[Any]) -> Any:
        try:
            conn: sqlite3.Connection = self._local.conn
        except AttributeError:
            conn = self._connection()
        try:
            return conn.execute(sql, params).fetchone()
        except _DRIVER_ERRORS as exc:
            raise self._error(exc) from exc

    def _look_up(self, plan: Lookup[T]) -> T | None:
        # _fetchone inlined: the per-request lookups pay one call fewer.
        statement, params, decode = plan
        try:
            conn: sqlite3.Connection = self._local.conn
        except AttributeError:
            conn = self._connection()
        try:
            row = conn.execute(statement, params).fetchone()
        except _DRIVER_ERRORS as exc:
            raise self._error(exc) from exc
        return None if row is None else decode(row)

    def _fetchall(self, sql: str, params: Sequence[Any]) -> list[Any]:
        try:
            conn: sqlite3.Connection = self._local.conn
        except AttributeError:
            conn = self._connection()
        try:
            return conn.execute(sql, params).fetchall()
        except _DRIVER_ERRORS as exc:
            raise self._error(exc) from exc

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        conn = self._connection()
        try:
            if conn.in_transaction:  # left open by an interrupted call
                conn.execute("ROLLBACK")
            # IMMEDIATE takes the write lock now (waiting up to busy_timeout), so
            # a transaction never fails halfway on a lock another writer holds.
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    with suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                raise
        except _DRIVER_ERRORS as exc:
            raise self._error(exc) from exc

    @contextmanager
    def _snapshot(self) -> Iterator[Callable[[str], Iterator[Any]]]:
        # Its own connection: one read transaction gives every collection the
        # same snapshot, and the caller may write on this thread meanwhile.
        if self._closed:
            raise StorageError("this SQLite store is closed")
        conn = self._connect()

        def query(sql: str) -> Iterator[Any]:
            cursor = conn.execute(sql)
            while rows := cursor.fetchmany(500):
                yield from rows

        try:
            conn.execute("BEGIN")
            yield query
        except sqlite3.Error as exc:
            raise self._error(exc) from exc
        finally:
            conn.close()

    # -- reporting ------------------------------------------------------------------

    def _health_details(self) -> dict[str, Any]:
        conn = self._connection()
        try:
            journal_mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
            foreign_keys = conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        except sqlite3.Error as exc:
            raise self._error(exc) from exc
        return {
            "path": self.path,
            "sqlite_version": sqlite3.sqlite_version,
            "journal_mode": journal_mode,
            "foreign_keys": foreign_keys,
            "durability": self.durability,
            "busy_timeout": self.busy_timeout,
        }

    def __repr__(self) -> str:
        return f"SQLiteAdapter({self.path!r})"
