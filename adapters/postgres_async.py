"""The native async twin of the Postgres backend: psycopg's ``AsyncConnectionPool``.

``await auth_store.connect_async("postgresql://...")`` returns an
``AsyncPostgresAdapter``. There is no second implementation of the
backend to keep in step: the twin runs the sync ``PostgresAdapter`` (and
the shared SQL layer under it: statements, row decoding, validation,
retries) on the event loop through ``auth_store.greenlet_bridge``, with
psycopg's async classes underneath. The few classes here present
``AsyncConnection``, ``AsyncCursor`` and ``AsyncConnectionPool`` with the
sync API the backend calls, each call awaited natively
(``await_only``), as SQLAlchemy's asyncio extension adapts async drivers.

So every statement, every round trip, every error translation and the
recovery from dropped connections are the sync backend's, by construction;
what is the twin's own is only what asyncio adds:

* No thread: a call waits on the loop, other tasks run meanwhile.
* The per-request lookups (``LOOKUPS``: a session and its user, a user by
  id, e-mail or account) skip the bridge when the lane has a quiet idle
  connection: the sync backend's plan (statement, parameters, decoder),
  executed on psycopg's async cursor directly. Anything else on that path
  (no idle connection, a driver error, a cancellation) is handed to the
  sync backend's own rules on the bridge: its read, its error translation,
  its retry on a lost connection. The bridge's greenlet switches cost about
  a sixth of a lookup on a local server; this is the path a request takes.
* Cancellation: a cancelled call's ``finally`` blocks run (the connection
  goes back to the pool); psycopg cancels a query in progress on the
  server first, so the connection comes back idle and is lent again.
* ``close()`` closes the pool: waiting calls fail with ``StorageError``,
  calls holding a connection finish and their connection is closed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ParamSpec, Self, TypeVar, cast

import psycopg
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from auth_store.async_twin import AsyncTwin
from auth_store.greenlet_bridge import await_only, run_sync, sync_context
from auth_store.models import Session, User

from .postgres import (
    DRIVER_ERRORS,
    Connection,
    PostgresAdapter,
    check_if_spoken_to,
    lost_connection,
    spoken_to,
)
from .postgres_better_auth import BetterAuthPostgresAdapter
from .sql import Lookup

__all__ = ["AsyncPostgresAdapter"]

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


class _AsyncConnection(psycopg.AsyncConnection[Any]):
    """psycopg's async connection, remembering its sync face and the lookups' cursor."""

    face: _Connection | None = None
    lookup_cursor: psycopg.AsyncCursor[Any] | None = None


def _face(conn: _AsyncConnection) -> _Connection:
    face = conn.face
    if face is None:
        face = conn.face = _Connection(conn)
    return face


class _Cursor:
    """The sync cursor API the backend uses, over an async cursor (inside ``run_sync``)."""

    __slots__ = ("_cursor", "itersize")

    def __init__(self, cursor: psycopg.AsyncCursor[Any]) -> None:
        self._cursor = cursor
        self.itersize = 100

    def execute(
        self, query: Any, params: Sequence[Any] | None = None, *, prepare: bool | None = None
    ) -> Self:
        if prepare is None:  # a server-side cursor takes no ``prepare``
            await_only(self._cursor.execute(query, params))
        else:
            await_only(self._cursor.execute(query, params, prepare=prepare))
        return self

    def executemany(self, query: Any, params_seq: Any) -> None:
        await_only(self._cursor.executemany(query, params_seq))

    def fetchone(self) -> Any:
        return await_only(self._cursor.fetchone())

    def fetchall(self) -> list[Any]:
        return await_only(self._cursor.fetchall())

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def description(self) -> Any:
        return self._cursor.description

    def __iter__(self) -> Iterator[Any]:
        while rows := await_only(self._cursor.fetchmany(self.itersize)):
            yield from rows

    def close(self) -> None:
        await_only(self._cursor.close())

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Connection:
    """The sync connection API the backend uses, over an async connection."""

    __slots__ = ("__weakref__", "_conn")

    def __init__(self, conn: _AsyncConnection) -> None:
        self._conn = conn

    @classmethod
    def connect(cls, conninfo: str, **kwargs: Any) -> _Connection:
        return _face(await_only(_AsyncConnection.connect(conninfo, **kwargs)))

    @property
    def closed(self) -> bool:
        return self._conn.closed

    @property
    def broken(self) -> bool:
        return self._conn.broken

    @property
    def autocommit(self) -> bool:
        return self._conn.autocommit

    @autocommit.setter
    def autocommit(self, value: bool) -> None:
        await_only(self._conn.set_autocommit(value))

    @property
    def info(self) -> Any:
        return self._conn.info

    @property
    def pgconn(self) -> Any:
        return self._conn.pgconn

    def fileno(self) -> int:
        return self._conn.fileno()

    def cursor(self, *, name: str = "") -> _Cursor:
        return _Cursor(self._conn.cursor(name=name) if name else self._conn.cursor())

    def execute(self, query: Any, params: Sequence[Any] | None = None) -> _Cursor:
        return self.cursor().execute(query, params)

    def transaction(self) -> Any:
        return sync_context(self._conn.transaction())

    def close(self) -> None:
        await_only(self._conn.close())


class _Pool:
    """The sync pool API the backend uses, over an ``AsyncConnectionPool``."""

    def __init__(self, pool: AsyncConnectionPool[_AsyncConnection]) -> None:
        self._pool = pool

    def getconn(self, timeout: float | None = None) -> _Connection:
        return _face(await_only(self._pool.getconn(timeout)))

    def putconn(self, conn: _Connection) -> None:
        await_only(self._pool.putconn(conn._conn))

    @contextmanager
    def connection(self, timeout: float | None = None) -> Iterator[_Connection]:
        with sync_context(self._pool.connection(timeout)) as conn:
            yield _face(conn)

    def open(self, wait: bool = False, timeout: float = 30.0) -> None:
        await_only(self._pool.open(wait, timeout))

    def check(self) -> None:
        await_only(self._pool.check())

    def drain(self) -> None:
        await_only(self._pool.drain())

    def close(self, timeout: float = 5.0) -> None:
        await_only(self._pool.close(timeout))

    def get_stats(self) -> dict[str, int]:
        return self._pool.get_stats()


class _OnTheLoop(PostgresAdapter):
    """``PostgresAdapter`` on psycopg's async classes; its methods run inside ``run_sync``."""

    def _connect(self, conninfo: str, kwargs: dict[str, Any]) -> Connection:
        return cast(Connection, _Connection.connect(conninfo, **kwargs))

    def _new_pool(self, conninfo: str, **options: Any) -> ConnectionPool[Connection]:
        # The pool calls these from its own tasks, on the loop.
        async def configure(conn: _AsyncConnection) -> None:
            await run_sync(self._configure, cast(Connection, _face(conn)))

        quiet_is_fine = self._check_one is check_if_spoken_to

        async def check(conn: _AsyncConnection) -> None:
            # The ``auto`` check's common case (a quiet connection) without a greenlet.
            if quiet_is_fine and not spoken_to(conn):
                return
            await run_sync(self._check_before_lending, cast(Connection, _face(conn)))

        pool = AsyncConnectionPool(
            conninfo,
            connection_class=_AsyncConnection,
            configure=configure,
            check=check,
            open=False,
            **options,
        )
        return cast(ConnectionPool[Connection], _Pool(pool))


class _BetterAuthOnTheLoop(_OnTheLoop, BetterAuthPostgresAdapter):
    """The ``better-auth`` flavor, on the loop."""


_ON_THE_LOOP: dict[type[PostgresAdapter], type[PostgresAdapter]] = {
    PostgresAdapter: _OnTheLoop,
    BetterAuthPostgresAdapter: _BetterAuthOnTheLoop,
}


class AsyncPostgresAdapter(AsyncTwin):
    """A Postgres store for asyncio: ``PostgresAdapter``'s behaviour on psycopg's async pool.

    Open it with ``await auth_store.connect_async(url)`` (the URL and its
    options are ``PostgresAdapter.from_url``'s, ``flavor=better-auth``
    included) or ``await AsyncPostgresAdapter.open(url)``.
    """

    sync: PostgresAdapter

    @classmethod
    async def open(cls, url: str, *, create: bool = True) -> Self:
        """Open the store ``url`` names; ``StorageError`` if the server can't be reached.

        ``create=False``: ``NoStoreError`` where there is no store (``open_existing``).
        """
        klass, arguments = PostgresAdapter.class_for_url(url)
        sync = await run_sync(_ON_THE_LOOP[klass], create=create, **arguments)
        return cls(sync)

    async def _read(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        return await run_sync(fn, *args, **kwargs)

    # -- the lookups, off the bridge (see the module) ---------------------------------

    async def get_user(self, id: str) -> User | None:
        return await self._look_up(self.sync._plan_get_user(id))

    async def get_user_by_email(self, email: str) -> User | None:
        return await self._look_up(self.sync._plan_get_user_by_email(email))

    async def get_user_by_account(self, provider: str, provider_account_id: str) -> User | None:
        plan = self.sync._plan_get_user_by_account(provider, provider_account_id)
        return await self._look_up(plan)

    async def get_session_and_user(self, session_token: str) -> tuple[Session, User] | None:
        return await self._look_up(self.sync._plan_get_session_and_user(session_token))

    async def _look_up(self, plan: Lookup[T]) -> T | None:
        statement, params, decode = plan
        row = await self._fetchone(statement, params)
        return None if row is None else decode(row)

    async def _fetchone(self, statement: str, params: Sequence[Any]) -> Any:
        """``PostgresAdapter._fetchone`` on the loop: a quiet idle connection of the lane,
        or the sync backend's read on the bridge."""
        sync = self.sync
        lane = sync._lane
        lent = lane.take_ready()
        if lent is None:
            return await run_sync(sync._read, statement, params, one=True)
        conn = cast(_Connection, lent.conn)._conn
        try:
            cursor = conn.lookup_cursor
            if cursor is None:
                cursor = conn.lookup_cursor = conn.cursor()
            await cursor.execute(statement, params, prepare=sync._prepare or None)
            row = await cursor.fetchone()
        except BaseException as exc:
            lost = isinstance(exc, DRIVER_ERRORS) and lost_connection(lent.conn, exc)
            if lost:
                await conn.close()  # so the pool discards it
            await run_sync(lane.give_back, lent)
            if not isinstance(exc, DRIVER_ERRORS):
                raise  # a cancellation: the connection went back (the pool resets it)
            if not lost:
                raise sync._error(exc) from exc
            await run_sync(sync._drop_dead)
            # The one retry of a read whose connection died, as the sync read does it.
            return await run_sync(sync._read, statement, params, one=True, attempts=1)
        to_pool = lane.keep(lent)
        if to_pool is not None:
            await run_sync(lane.to_pool, to_pool)
        return row

    async def _write(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        return await run_sync(fn, *args, **kwargs)

    async def close(self) -> None:
        await run_sync(self.sync.close)

    def __repr__(self) -> str:
        return f"AsyncPostgresAdapter({self.sync.where!r})"
