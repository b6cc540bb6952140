"""Postgres: the adapter against raw prepared psycopg statements, in a database of its own.

The suite creates (and finally drops) a database (``auth_store_bench``) on the
server named by ``--postgres-url``, ``AUTH_STORE_TEST_POSTGRES_URL`` or
``postgresql://postgres@127.0.0.1:5432/test``. The adapter is opened with
``auth_store.connect`` and default options; the raw baseline is one
autocommit psycopg connection running the same statements with
``prepare=True`` on a reused cursor: one round trip each, no pool.

On Postgres, auth-store keeps what it adds to Auth.js's rows in side tables
(``User.extra`` in ``auth_store_users``, the session details in
``auth_store_sessions``), so the baseline's lookups join them too: both sides
fetch the same values in one statement. Every session of the population has
the details the session layer records (a side row), as in a real store.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

import auth_store
from auth_store.errors import ConfigurationError

from . import dataset, ops, raw_sql
from .core import TIMES, Entry, Group, Row, Target, Unavailable
from .timing import Case

__all__ = ["PostgresSuite"]

IMPL = "postgres"
RAW = "raw psycopg (prepared)"
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
JOIN_TARGET = Target(f"≤ 1.2{TIMES} raw prepared psycopg join", max_ratio=1.2)

# The raw statements on Postgres's layout: Auth.js's tables and auth-store's side
# tables, joined in the same statement (raw_sql's are for the one-table layout).
_USER = 'u.id, u.name, u.email, u."emailVerified", u.image, ux.extra'
_USER_SIDE = " LEFT JOIN auth_store_users ux ON ux.id = u.id"
SESSION_AND_USER = (
    'SELECT s.id, s."sessionToken", s."userId", s.expires, sx."createdAt", sx."updatedAt",'
    f' sx."ipAddress", sx."userAgent", {_USER}'
    ' FROM sessions s JOIN users u ON u.id = s."userId"'
    " LEFT JOIN auth_store_sessions sx ON sx.id = s.id"
    f'{_USER_SIDE} WHERE s."sessionToken" = ?'
)
USER_BY_LOWER_EMAIL = f"SELECT {_USER} FROM users u{_USER_SIDE} WHERE lower(u.email) = ?"
USER_BY_ID = f"SELECT {_USER} FROM users u{_USER_SIDE} WHERE u.id = ?"
USER_BY_ACCOUNT = (
    f'SELECT {_USER} FROM accounts a JOIN users u ON u.id = a."userId"{_USER_SIDE}'
    ' WHERE a.provider = ? AND a."providerAccountId" = ?'
)


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


class PostgresSuite:
    """A fresh ``auth_store_bench`` database, the adapter on it and a raw connection."""

    name = "postgres"

    def __init__(self, budgets: ops.Budgets, url: str | None, database: str) -> None:
        self.budgets = budgets
        self.database = database
        server = url or os.environ.get("AUTH_STORE_TEST_POSTGRES_URL") or DEFAULT_URL
        try:
            self.admin = psycopg.connect(server, autocommit=True, connect_timeout=5)
        except psycopg.Error as exc:
            raise Unavailable(f"no Postgres server reachable: {type(exc).__name__}") from exc
        self._drop()
        self.admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
        self.url = _with_database(server, database)
        try:
            self.store = auth_store.connect(self.url)
        except ConfigurationError as exc:
            self._drop()
            raise Unavailable(str(exc)) from exc
        self.raw = psycopg.connect(self.url, autocommit=True)
        self.cursor = self.raw.cursor()
        version = self.admin.execute("SHOW server_version").fetchone()
        self.versions = {"Postgres": str(version[0]) if version else "unknown"}
        self.notes = [
            f"postgres: a database of its own ({database}) on the local server over TCP; "
            "the adapter with default options; raw psycopg runs the same statements with "
            "prepare=True on one autocommit connection (one round trip each).",
        ]
        self._size = 0

    def _drop(self) -> None:
        drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
        self.admin.execute(drop.format(sql.Identifier(self.database)))

    def sizes(self, requested: Sequence[int]) -> list[int]:
        return list(requested)

    def grow(self, size: int) -> None:
        if size > self._size:
            self.store.import_records(dataset.with_details(dataset.people(self._size, size)))
            self.raw.execute("ANALYZE")
            self._size = size
        if self.store.counts()["users"] < size:
            raise AssertionError("the Postgres store does not hold the expected users")

    def _fetch(self, sql: str, keys: list[tuple[Any, ...]]) -> Case:
        cursor = self.cursor
        execute = cursor.execute
        fetchone = cursor.fetchone
        params = ops.cycle(keys)
        statement = raw_sql.psycopg_style(sql)

        def call() -> object:
            execute(statement, params(), prepare=True)
            return ops.found(fetchone())

        return Case(RAW, call)

    def _raw_lookups(self, sample: list[int]) -> dict[str, Case]:
        return {
            "get_session_and_user": self._fetch(
                SESSION_AND_USER, [(dataset.session_token(i),) for i in sample]
            ),
            "get_user_by_email": self._fetch(
                USER_BY_LOWER_EMAIL, [(dataset.email(i),) for i in sample]
            ),
            "get_user_by_account": self._fetch(
                USER_BY_ACCOUNT,
                [(dataset.PROVIDER, dataset.provider_account_id(i)) for i in sample],
            ),
            "get_user": self._fetch(USER_BY_ID, [(dataset.user_id(i),) for i in sample]),
        }

    def _raw_create_session(self, tag: str, sample: list[int]) -> Case:
        execute = self.cursor.execute
        users = ops.cycle([dataset.user_id(i) for i in sample])
        counter = itertools.count()
        statement = raw_sql.psycopg_style(raw_sql.SESSION_INSERT)

        def call() -> object:
            params = (str(uuid.uuid4()), f"{tag}-{next(counter)}", users(), dataset.EXPIRES)
            return execute(statement, params, prepare=True)

        return Case(RAW, call)

    def _raw_use_token(self, tag: str, count: int) -> Case:
        tokens = dataset.verification_tokens(tag, count)
        for vt in tokens:
            self.store.create_verification_token(vt)
        keys = iter([(vt.identifier, vt.token) for vt in tokens])
        cursor = self.cursor
        statement = raw_sql.psycopg_style(raw_sql.TOKEN_USE)

        def call() -> object:
            cursor.execute(statement, next(keys), prepare=True)
            return ops.found(cursor.fetchone())

        return Case(RAW, call)

    def groups(self, size: int) -> Iterator[Group]:
        sample = dataset.sample(size)
        mine = ops.adapter_lookups(self.store, IMPL, sample)
        # The same users in another order: run in turns, each side would otherwise
        # read rows the other has just brought into the caches (a join of four
        # tables touches enough pages for that to favour whichever runs second).
        half = len(sample) // 2
        raw = self._raw_lookups(sample[half:] + sample[:half])
        for operation in ops.LOOKUPS:
            target = JOIN_TARGET if operation == "get_session_and_user" else None
            entries = (Entry(mine[operation], RAW, target), Entry(raw[operation]))
            yield Group(operation, size, entries, self.budgets.lookup)
        write = self.budgets.write
        count = write.warmup + write.max_n
        yield Group(
            "create_session",
            size,
            (
                Entry(ops.create_session(self.store, IMPL, f"pg-{size}", sample), RAW),
                Entry(self._raw_create_session(f"raw-{size}", sample)),
            ),
            write,
        )
        yield Group(
            "use_verification_token",
            size,
            (
                Entry(ops.use_verification_token(self.store, IMPL, f"pg-{size}", count), RAW),
                Entry(self._raw_use_token(f"raw-{size}", count)),
            ),
            write,
        )

    def derived(self, rows: Sequence[Row]) -> list[Row]:
        return []

    def close(self) -> None:
        self.raw.close()
        self.store.close()
        self._drop()
        self.admin.close()
