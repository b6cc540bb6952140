"""SQLite: the adapter against raw ``sqlite3`` and fastapi-users, on one database file.

The adapter is opened as an app opens it (``auth_store.connect("sqlite:///...")``,
default options: WAL, ``synchronous=FULL``). The raw baseline is a plain
autocommit ``sqlite3`` connection to the same file with the same pragmas,
running the same statements and doing nothing else. fastapi-users' table
lives in the same file and holds the same users.
"""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import auth_store
from auth_store.errors import ConfigurationError
from auth_store.models import User

from . import dataset, ops, raw_sql
from .core import TIMES, Entry, Group, Row, Target, Unavailable
from .fastapi_users_rival import IMPL as RIVAL
from .fastapi_users_rival import FastAPIUsersRival
from .timing import AsyncCase, Case

__all__ = ["SQLiteSuite"]

IMPL = "sqlite"
RAW = "raw sqlite3"
JOIN_TARGET = Target(f"≤ 1.5{TIMES} raw sqlite3 join", max_ratio=1.5)
RIVAL_TARGET = Target(f"≥ 3{TIMES} auth-store sqlite", min_ratio=3.0)
#: How FastAPI calls a sync store from an async app: each call on its thread pool.
POOLED = f"{IMPL} via FastAPI's thread pool"


class SQLiteSuite:
    """One SQLite file holding auth-store's tables and fastapi-users' ``user`` table."""

    name = "sqlite"

    def __init__(self, work: Path, budgets: ops.Budgets, runner: asyncio.Runner) -> None:
        work.mkdir(parents=True, exist_ok=True)
        self.budgets = budgets
        self.path = work / "auth.db"
        try:
            self.store = auth_store.connect(f"sqlite:///{self.path}")
        except ConfigurationError as exc:
            raise Unavailable(str(exc)) from exc
        self.raw = sqlite3.connect(self.path, isolation_level=None)
        self.raw.execute("PRAGMA foreign_keys = ON")
        self.raw.execute("PRAGMA synchronous = FULL")
        self.rival = FastAPIUsersRival(self.path, runner)
        self._size = 0
        self.notes = [
            "sqlite: the adapter with its default options (WAL, synchronous=FULL, one "
            "BEGIN IMMEDIATE transaction per write); raw sqlite3 runs the same statements "
            "on an autocommit connection to the same file with the same pragmas, looking up "
            "the same users in another order. Sessions carry the details SessionManager "
            "records (created/updated times, IP address, user agent).",
            "fastapi-users: SQLAlchemyUserDatabase on an AsyncSession over aiosqlite, "
            "awaited on one event loop, one long-lived session per measurement. Its "
            "get_by_email compares lower(email), which no index serves: a table scan.",
        ]
        self.versions: dict[str, str] = {}

    def sizes(self, requested: Sequence[int]) -> list[int]:
        return list(requested)

    def grow(self, size: int) -> None:
        if size > self._size:
            self.store.import_records(dataset.with_details(dataset.people(self._size, size)))
            self.rival.grow(size)
            self.raw.execute("ANALYZE")
            self._size = size
        if self.store.counts()["users"] < size:
            raise AssertionError("the SQLite store does not hold the expected users")

    def _raw_lookups(self, sample: list[int]) -> dict[str, Case]:
        execute = self.raw.execute
        tokens = ops.cycle([(dataset.session_token(i),) for i in sample])
        emails = ops.cycle([(dataset.email(i),) for i in sample])
        accounts = ops.cycle([(dataset.PROVIDER, dataset.provider_account_id(i)) for i in sample])
        ids = ops.cycle([(dataset.user_id(i),) for i in sample])
        join, by_email = raw_sql.SESSION_AND_USER, raw_sql.USER_BY_EMAIL
        by_account, by_id = raw_sql.USER_BY_ACCOUNT, raw_sql.USER_BY_ID
        return {
            "get_session_and_user": Case(
                RAW, lambda: ops.found(execute(join, tokens()).fetchone())
            ),
            "get_user_by_email": Case(
                RAW, lambda: ops.found(execute(by_email, emails()).fetchone())
            ),
            "get_user_by_account": Case(
                RAW, lambda: ops.found(execute(by_account, accounts()).fetchone())
            ),
            "get_user": Case(RAW, lambda: ops.found(execute(by_id, ids()).fetchone())),
        }

    def _pooled(self, operation: str, sample: list[int]) -> AsyncCase:
        """The adapter's lookup awaited through ``run_in_threadpool``, as a FastAPI
        endpoint or dependency calls a sync function (SQLite's async twin, from
        ``connect_async``, runs the sync adapter on worker threads the same way)."""
        from starlette.concurrency import run_in_threadpool

        call: Callable[[str], User | None] = self.store.get_user
        keys = [dataset.user_id(i) for i in sample]
        if operation == "get_user_by_email":
            call, keys = self.store.get_user_by_email, [dataset.email(i) for i in sample]
        key = ops.cycle(keys)

        async def pooled() -> object:
            return ops.found(await run_in_threadpool(call, key()))

        return AsyncCase(POOLED, pooled)

    def _raw_create_session(self, tag: str, sample: list[int]) -> Case:
        conn = self.raw
        users = ops.cycle([dataset.user_id(i) for i in sample])
        counter = itertools.count()
        expires = dataset.EXPIRES.isoformat(timespec="microseconds")

        def call() -> object:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                raw_sql.SESSION_INSERT,
                (str(uuid.uuid4()), f"{tag}-{next(counter)}", users(), expires),
            )
            conn.execute("COMMIT")
            return None

        return Case(RAW, call)

    def _raw_use_token(self, tag: str, count: int) -> Case:
        conn = self.raw
        tokens = dataset.verification_tokens(tag, count)
        for vt in tokens:
            self.store.create_verification_token(vt)
        keys = iter([(vt.identifier, vt.token) for vt in tokens])

        def call() -> object:
            conn.execute("BEGIN IMMEDIATE")
            row = conn.execute(raw_sql.TOKEN_USE, next(keys)).fetchone()
            conn.execute("COMMIT")
            return ops.found(row)

        return Case(RAW, call)

    def groups(self, size: int) -> Iterator[Group]:
        sample = dataset.sample(size)
        mine = ops.adapter_lookups(self.store, IMPL, sample)
        # The same users in another order: run in turns, the side running second
        # would otherwise read the rows the other has just brought into the CPU's
        # and the OS's caches (worth 0.1-0.2x of the join's ratio at 10k users).
        half = len(sample) // 2
        raw = self._raw_lookups(sample[half:] + sample[:half])
        lookup = self.budgets.lookup
        rivals = {"get_user_by_email": self.rival.get_by_email, "get_user": self.rival.get}
        for operation in ops.LOOKUPS:
            target = JOIN_TARGET if operation == "get_session_and_user" else None
            entries = [Entry(mine[operation], RAW, target), Entry(raw[operation])]
            if operation in rivals:
                entries.append(Entry(rivals[operation](sample), IMPL, RIVAL_TARGET))
                entries.append(Entry(self._pooled(operation, sample), RIVAL))
            yield Group(operation, size, tuple(entries), lookup)

        write = self.budgets.write
        count = write.warmup + write.max_n
        yield Group(
            "create_session",
            size,
            (
                Entry(ops.create_session(self.store, IMPL, f"sqlite-{size}", sample), RAW),
                Entry(self._raw_create_session(f"raw-{size}", sample)),
            ),
            write,
        )
        yield Group(
            "use_verification_token",
            size,
            (
                Entry(ops.use_verification_token(self.store, IMPL, f"sqlite-{size}", count), RAW),
                Entry(self._raw_use_token(f"raw-{size}", count)),
            ),
            write,
        )

    def derived(self, rows: Sequence[Row]) -> list[Row]:
        return []

    def close(self) -> None:
        self.rival.close()
        self.raw.close()
        self.store.close()
