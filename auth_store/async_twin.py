"""The async twin of a sync ``Adapter``: its methods as coroutines, its logic unchanged.

``AsyncTwin`` implements every method of ``AsyncAdapter`` once, by handing
the sync adapter's method to one of two hooks: ``_read(fn, *args)`` and
``_write(fn, *args)``. How those run the call is the subclass's business:

``ThreadedAsyncAdapter``
    on a small pool of worker threads (SQLite, the file store, memory, and
    any backend of another package): the event loop never blocks, and where
    the storage takes one writer at a time anyway (``Adapter.serial_writes``)
    writes queue on the loop, not on threads, so reads keep their threads.
``auth_store.adapters.postgres_async.AsyncPostgresAdapter``
    on the event loop itself, in a greenlet whose driver calls are awaited
    natively (``auth_store.greenlet_bridge``).

Either way there is one implementation of the contract (the sync one) and
nothing to keep in step by hand.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Callable,
    Generator,
    Iterable,
    Iterator,
)
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from itertools import islice
from typing import Any, ParamSpec, TypeVar

from .adapter import Adapter
from .async_adapter import AsyncAdapter
from .errors import StorageError
from .models import (
    COLLECTIONS,
    Account,
    Authenticator,
    Credential,
    Model,
    Session,
    User,
    VerificationToken,
)

__all__ = ["DEFAULT_THREADS", "AsyncTwin", "ThreadedAsyncAdapter"]

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

#: Worker threads of a ``ThreadedAsyncAdapter`` unless told otherwise.
DEFAULT_THREADS = 8
#: Records an ``export`` step reads, and an ``import_records`` step writes, at once.
BATCH = 500


def _take(records: Iterator[T]) -> list[T]:
    return list(islice(records, BATCH))


class AsyncTwin(AsyncAdapter):
    """Every ``AsyncAdapter`` method, as the sync adapter ``sync`` run through two hooks."""

    def __init__(self, sync: Adapter) -> None:
        self.sync = sync
        self.backend = sync.backend

    @abc.abstractmethod
    async def _read(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run ``fn(*args, **kwargs)``, a call that only reads, without blocking the loop."""

    @abc.abstractmethod
    async def _write(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run ``fn(*args, **kwargs)``, a call that writes, without blocking the loop."""

    # -- users --------------------------------------------------------------

    async def create_user(self, user: User) -> User:
        return await self._write(self.sync.create_user, user)

    async def get_user(self, id: str) -> User | None:
        return await self._read(self.sync.get_user, id)

    async def get_user_by_email(self, email: str) -> User | None:
        return await self._read(self.sync.get_user_by_email, email)

    async def get_user_by_account(self, provider: str, provider_account_id: str) -> User | None:
        return await self._read(self.sync.get_user_by_account, provider, provider_account_id)

    async def update_user(self, id: str, **changes: Any) -> User:
        return await self._write(self.sync.update_user, id, **changes)

    async def delete_user(self, id: str) -> User | None:
        return await self._write(self.sync.delete_user, id)

    # -- accounts -----------------------------------------------------------

    async def link_account(self, account: Account) -> Account:
        return await self._write(self.sync.link_account, account)

    async def unlink_account(self, provider: str, provider_account_id: str) -> Account | None:
        return await self._write(self.sync.unlink_account, provider, provider_account_id)

    async def get_account(self, provider: str, provider_account_id: str) -> Account | None:
        return await self._read(self.sync.get_account, provider, provider_account_id)

    async def update_account(
        self, provider: str, provider_account_id: str, **changes: Any
    ) -> Account | None:
        return await self._write(self.sync.update_account, provider, provider_account_id, **changes)

    async def list_accounts(self, user_id: str) -> list[Account]:
        return await self._read(self.sync.list_accounts, user_id)

    # -- sessions -----------------------------------------------------------

    async def create_session(self, session: Session) -> Session:
        return await self._write(self.sync.create_session, session)

    async def get_session_and_user(self, session_token: str) -> tuple[Session, User] | None:
        return await self._read(self.sync.get_session_and_user, session_token)

    async def update_session(self, session_token: str, **changes: Any) -> Session | None:
        return await self._write(self.sync.update_session, session_token, **changes)

    async def delete_session(self, session_token: str) -> Session | None:
        return await self._write(self.sync.delete_session, session_token)

    async def list_sessions(self, user_id: str) -> list[Session]:
        return await self._read(self.sync.list_sessions, user_id)

    async def delete_sessions(self, user_id: str) -> int:
        return await self._write(self.sync.delete_sessions, user_id)

    # -- verification tokens ------------------------------------------------

    async def create_verification_token(self, vt: VerificationToken) -> VerificationToken:
        return await self._write(self.sync.create_verification_token, vt)

    async def use_verification_token(self, identifier: str, token: str) -> VerificationToken | None:
        return await self._write(self.sync.use_verification_token, identifier, token)

    # -- WebAuthn authenticators --------------------------------------------

    async def create_authenticator(self, a: Authenticator) -> Authenticator:
        return await self._write(self.sync.create_authenticator, a)

    async def get_authenticator(self, credential_id: str) -> Authenticator | None:
        return await self._read(self.sync.get_authenticator, credential_id)

    async def list_authenticators_by_user_id(self, user_id: str) -> list[Authenticator]:
        return await self._read(self.sync.list_authenticators_by_user_id, user_id)

    async def update_authenticator_counter(self, credential_id: str, counter: int) -> Authenticator:
        return await self._write(self.sync.update_authenticator_counter, credential_id, counter)

    async def delete_authenticator(self, credential_id: str) -> Authenticator | None:
        return await self._write(self.sync.delete_authenticator, credential_id)

    # -- credentials --------------------------------------------------------

    async def create_credential(self, c: Credential) -> Credential:
        return await self._write(self.sync.create_credential, c)

    async def get_credential(self, id: str) -> Credential | None:
        return await self._read(self.sync.get_credential, id)

    async def list_credentials(self, user_id: str, type: str | None = None) -> list[Credential]:
        return await self._read(self.sync.list_credentials, user_id, type)

    async def update_credential(
        self, id: str, data: dict[str, Any], *, expected_version: int
    ) -> Credential | None:
        return await self._write(
            self.sync.update_credential, id, data, expected_version=expected_version
        )

    async def delete_credential(self, id: str) -> Credential | None:
        return await self._write(self.sync.delete_credential, id)

    # -- housekeeping -------------------------------------------------------

    async def purge_expired(self, now: datetime | None = None) -> dict[str, int]:
        return await self._write(self.sync.purge_expired, now)

    def export(self) -> AsyncIterator[Model]:
        return self._stream(self.sync.export)

    async def _stream(self, open_records: Callable[[], Iterator[T]]) -> AsyncIterator[T]:
        """The records of a sync iterator, read a batch at a time by ``_read``."""
        records = open_records()
        try:
            while batch := await self._read(_take, records):
                for record in batch:
                    yield record
        finally:
            # Ends the sync iterator's snapshot (its transaction, its cursor).
            if isinstance(records, Generator):
                await self._read(records.close)

    async def import_records(
        self, records: Iterable[Model] | AsyncIterable[Model]
    ) -> dict[str, int]:
        if not isinstance(records, AsyncIterable):
            return await self._write(self.sync.import_records, records)
        counts = dict.fromkeys(COLLECTIONS, 0)
        batch: list[Model] = []

        async def flush() -> None:
            for name, n in (await self._write(self.sync.import_records, batch)).items():
                counts[name] += n
            batch.clear()

        async for record in records:
            batch.append(record)
            if len(batch) >= BATCH:
                await flush()
        if batch:
            await flush()
        return counts

    async def counts(self) -> dict[str, int]:
        return await self._read(self.sync.counts)

    async def health(self) -> dict[str, Any]:
        return await self._read(self.sync.health)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.sync!r})"


class ThreadedAsyncAdapter(AsyncTwin):
    """A sync adapter on at most ``threads`` worker threads of its own.

    Writes go one at a time when ``sync.serial_writes`` says the storage
    serialises them anyway (SQLite's ``BEGIN IMMEDIATE``, the file store's
    lock): they wait on the loop, so every thread stays free for reads. A
    cancelled call stops waiting at once; the sync call it started finishes
    on its thread (the storage never sees half of it). ``close()`` refuses
    new calls, lets those in flight finish, then closes the sync adapter.
    """

    def __init__(self, sync: Adapter, *, threads: int = DEFAULT_THREADS) -> None:
        super().__init__(sync)
        if threads < 1:
            raise ValueError("threads must be at least 1")
        self._executor = ThreadPoolExecutor(threads, f"auth-store-{sync.backend}")
        self._writes = asyncio.Lock() if sync.serial_writes else None
        self._in_flight = 0
        self._idle: asyncio.Event | None = None
        self._closed = False

    def _job(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> asyncio.Future[R]:
        if self._closed:
            raise StorageError(f"this {self.backend} store is closed")
        loop = asyncio.get_running_loop()
        self._in_flight += 1

        def run() -> R:
            try:
                return fn(*args, **kwargs)
            finally:
                # Counted when the thread is done, not when the caller stops waiting.
                loop.call_soon_threadsafe(self._done)

        return loop.run_in_executor(self._executor, run)

    def _done(self) -> None:
        self._in_flight -= 1
        if self._in_flight == 0 and self._idle is not None:
            self._idle.set()

    async def _read(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        return await self._job(fn, *args, **kwargs)

    async def _write(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        if self._writes is None:
            return await self._job(fn, *args, **kwargs)
        async with self._writes:
            return await self._job(fn, *args, **kwargs)

    async def _stream(self, open_records: Callable[[], Iterator[T]]) -> AsyncIterator[T]:
        # One thread for the whole iteration: a backend's snapshot may belong to
        # the thread that opened it (SQLite's is that thread's connection).
        if self._closed:
            raise StorageError(f"this {self.backend} store is closed")
        loop = asyncio.get_running_loop()
        lane = ThreadPoolExecutor(1, thread_name_prefix=f"auth-store-{self.backend}-export")
        try:
            records = await loop.run_in_executor(lane, open_records)
            try:
                while batch := await loop.run_in_executor(lane, _take, records):
                    for record in batch:
                        yield record
            finally:
                if isinstance(records, Generator):
                    await loop.run_in_executor(lane, records.close)
        finally:
            lane.shutdown(wait=False)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._in_flight:
            self._idle = asyncio.Event()
            await self._idle.wait()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self.sync.close)
        self._executor.shutdown(wait=False)
