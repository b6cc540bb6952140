"""``BlockingAdapter``: an ``AsyncAdapter`` called from sync code, for the conformance suite.

With ``--auth-store-async`` the suite runs every case against the async twin
through this facade: each call is a task on one event loop running in a
background thread (shared by every facade in the process), so the thread
races of the suite are N concurrent tasks on one twin, and the process races
open the twin in each child (``connect``, the suite's ``process_opener``).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator, Coroutine, Iterable, Iterator
from datetime import datetime
from itertools import islice
from typing import Any, TypeVar

from auth_store.adapter import Adapter
from auth_store.async_adapter import AsyncAdapter
from auth_store.async_twin import BATCH, AsyncTwin
from auth_store.connect import connect_async
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

__all__ = ["BlockingAdapter", "connect", "inner_adapter"]

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


def _the_loop() -> asyncio.AbstractEventLoop:
    """The process's background loop, started on first use (a daemon thread)."""
    global _loop
    with _lock:
        if _loop is None:
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="auth-store-tasks", daemon=True).start()
            _loop = loop
        return _loop


def _run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run_coroutine_threadsafe(coro, _the_loop()).result()


def connect(url: str, *, create: bool = True) -> BlockingAdapter:
    """``await auth_store.connect_async(url, create=create)``, wrapped for sync callers."""
    return BlockingAdapter(_run(connect_async(url, create=create)))


def inner_adapter(adapter: Adapter) -> Adapter:
    """The sync adapter behind a facade over a twin of one (for raw readers), else ``adapter``."""
    if isinstance(adapter, BlockingAdapter) and isinstance(adapter.twin, AsyncTwin):
        return adapter.twin.sync
    return adapter


class BlockingAdapter(Adapter):
    """Every ``Adapter`` method as a blocking call of the twin's coroutine."""

    def __init__(self, twin: AsyncAdapter) -> None:
        self.twin = twin
        self.backend = twin.backend

    def create_user(self, user: User) -> User:
        return _run(self.twin.create_user(user))

    def get_user(self, id: str) -> User | None:
        return _run(self.twin.get_user(id))

    def get_user_by_email(self, email: str) -> User | None:
        return _run(self.twin.get_user_by_email(email))

    def get_user_by_account(self, provider: str, provider_account_id: str) -> User | None:
        return _run(self.twin.get_user_by_account(provider, provider_account_id))

    def update_user(self, id: str, **changes: Any) -> User:
        return _run(self.twin.update_user(id, **changes))

    def delete_user(self, id: str) -> User | None:
        return _run(self.twin.delete_user(id))

    def link_account(self, account: Account) -> Account:
        return _run(self.twin.link_account(account))

    def unlink_account(self, provider: str, provider_account_id: str) -> Account | None:
        return _run(self.twin.unlink_account(provider, provider_account_id))

    def get_account(self, provider: str, provider_account_id: str) -> Account | None:
        return _run(self.twin.get_account(provider, provider_account_id))

    def update_account(
        self, provider: str, provider_account_id: str, **changes: Any
    ) -> Account | None:
        return _run(self.twin.update_account(provider, provider_account_id, **changes))

    def list_accounts(self, user_id: str) -> list[Account]:
        return _run(self.twin.list_accounts(user_id))

    def create_session(self, session: Session) -> Session:
        return _run(self.twin.create_session(session))

    def get_session_and_user(self, session_token: str) -> tuple[Session, User] | None:
        return _run(self.twin.get_session_and_user(session_token))

    def update_session(self, session_token: str, **changes: Any) -> Session | None:
        return _run(self.twin.update_session(session_token, **changes))

    def delete_session(self, session_token: str) -> Session | None:
        return _run(self.twin.delete_session(session_token))

    def list_sessions(self, user_id: str) -> list[Session]:
        return _run(self.twin.list_sessions(user_id))

    def delete_sessions(self, user_id: str) -> int:
        return _run(self.twin.delete_sessions(user_id))

    def create_verification_token(self, vt: VerificationToken) -> VerificationToken:
        return _run(self.twin.create_verification_token(vt))

    def use_verification_token(self, identifier: str, token: str) -> VerificationToken | None:
        return _run(self.twin.use_verification_token(identifier, token))

    def create_authenticator(self, a: Authenticator) -> Authenticator:
        return _run(self.twin.create_authenticator(a))

    def get_authenticator(self, credential_id: str) -> Authenticator | None:
        return _run(self.twin.get_authenticator(credential_id))

    def list_authenticators_by_user_id(self, user_id: str) -> list[Authenticator]:
        return _run(self.twin.list_authenticators_by_user_id(user_id))

    def update_authenticator_counter(self, credential_id: str, counter: int) -> Authenticator:
        return _run(self.twin.update_authenticator_counter(credential_id, counter))

    def delete_authenticator(self, credential_id: str) -> Authenticator | None:
        return _run(self.twin.delete_authenticator(credential_id))

    def create_credential(self, c: Credential) -> Credential:
        return _run(self.twin.create_credential(c))

    def get_credential(self, id: str) -> Credential | None:
        return _run(self.twin.get_credential(id))

    def list_credentials(self, user_id: str, type: str | None = None) -> list[Credential]:
        return _run(self.twin.list_credentials(user_id, type))

    def update_credential(
        self, id: str, data: dict[str, Any], *, expected_version: int
    ) -> Credential | None:
        return _run(self.twin.update_credential(id, data, expected_version=expected_version))

    def delete_credential(self, id: str) -> Credential | None:
        return _run(self.twin.delete_credential(id))

    def purge_expired(self, now: datetime | None = None) -> dict[str, int]:
        return _run(self.twin.purge_expired(now))

    def export(self) -> Iterator[Model]:
        records = self.twin.export()

        async def step() -> tuple[bool, Model | None]:
            try:
                return True, await anext(records)
            except StopAsyncIteration:
                return False, None

        async def stop() -> None:
            if isinstance(records, AsyncGenerator):
                await records.aclose()

        try:
            while True:
                more, record = _run(step())
                if not more:
                    return
                assert record is not None
                yield record
        finally:
            _run(stop())

    def import_records(self, records: Iterable[Model]) -> dict[str, int]:
        # Read here, a batch at a time: ``records`` may be a generator over
        # another facade, which must not be iterated on the loop's thread.
        counts = dict.fromkeys(COLLECTIONS, 0)
        iterator = iter(records)
        while batch := list(islice(iterator, BATCH)):
            for name, n in _run(self.twin.import_records(batch)).items():
                counts[name] += n
        return counts

    def counts(self) -> dict[str, int]:
        return _run(self.twin.counts())

    def health(self) -> dict[str, Any]:
        return _run(self.twin.health())

    def close(self) -> None:
        _run(self.twin.close())

    def __repr__(self) -> str:
        return f"BlockingAdapter({self.twin!r})"
