"""The async twin of the storage contract: every ``Adapter`` method as a coroutine.

``store = await auth_store.connect_async(url)`` returns one. The names,
arguments, return values, errors and semantics are ``Adapter``'s (see
``auth_store.adapter`` for the contract; the conformance suite checks the
twin with ``--auth-store-async``). Two differences only, where a coroutine
cannot be what the sync method is: ``export()`` is an async iterator
(``async for record in store.export()``), and ``import_records`` also takes
an async iterable.

Postgres is native (psycopg's ``AsyncConnectionPool``, no thread in the
way); SQLite, the file store, memory and backends of other packages run
their sync adapter on a few worker threads (``auth_store.async_twin``).
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from datetime import datetime
from types import TracebackType
from typing import Any, Self

from .models import Account, Authenticator, Credential, Model, Session, User, VerificationToken

__all__ = ["AsyncAdapter"]


class AsyncAdapter(abc.ABC):
    """Abstract base class of the async twin of every backend (see ``Adapter``)."""

    #: Short backend name reported by ``health()`` ("memory", "sqlite", ...).
    backend: str = "abstract"

    # -- users --------------------------------------------------------------

    @abc.abstractmethod
    async def create_user(self, user: User) -> User:
        """As ``Adapter.create_user``."""

    @abc.abstractmethod
    async def get_user(self, id: str) -> User | None:
        """As ``Adapter.get_user``."""

    @abc.abstractmethod
    async def get_user_by_email(self, email: str) -> User | None:
        """As ``Adapter.get_user_by_email``."""

    @abc.abstractmethod
    async def get_user_by_account(self, provider: str, provider_account_id: str) -> User | None:
        """As ``Adapter.get_user_by_account``."""

    @abc.abstractmethod
    async def update_user(self, id: str, **changes: Any) -> User:
        """As ``Adapter.update_user``."""

    @abc.abstractmethod
    async def delete_user(self, id: str) -> User | None:
        """As ``Adapter.delete_user``."""

    # -- accounts -----------------------------------------------------------

    @abc.abstractmethod
    async def link_account(self, account: Account) -> Account:
        """As ``Adapter.link_account``."""

    @abc.abstractmethod
    async def unlink_account(self, provider: str, provider_account_id: str) -> Account | None:
        """As ``Adapter.unlink_account``."""

    @abc.abstractmethod
    async def get_account(self, provider: str, provider_account_id: str) -> Account | None:
        """As ``Adapter.get_account``."""

    @abc.abstractmethod
    async def update_account(
        self, provider: str, provider_account_id: str, **changes: Any
    ) -> Account | None:
        """As ``Adapter.update_account``."""

    @abc.abstractmethod
    async def list_accounts(self, user_id: str) -> list[Account]:
        """As ``Adapter.list_accounts``."""

    # -- sessions -----------------------------------------------------------

    @abc.abstractmethod
    async def create_session(self, session: Session) -> Session:
        """As ``Adapter.create_session``."""

    @abc.abstractmethod
    async def get_session_and_user(self, session_token: str) -> tuple[Session, User] | None:
        """As ``Adapter.get_session_and_user`` (one read; the per-request path)."""

    @abc.abstractmethod
    async def update_session(self, session_token: str, **changes: Any) -> Session | None:
        """As ``Adapter.update_session``."""

    @abc.abstractmethod
    async def delete_session(self, session_token: str) -> Session | None:
        """As ``Adapter.delete_session``."""

    @abc.abstractmethod
    async def list_sessions(self, user_id: str) -> list[Session]:
        """As ``Adapter.list_sessions``."""

    @abc.abstractmethod
    async def delete_sessions(self, user_id: str) -> int:
        """As ``Adapter.delete_sessions``."""

    # -- verification tokens ------------------------------------------------

    @abc.abstractmethod
    async def create_verification_token(self, vt: VerificationToken) -> VerificationToken:
        """As ``Adapter.create_verification_token``."""

    @abc.abstractmethod
    async def use_verification_token(self, identifier: str, token: str) -> VerificationToken | None:
        """As ``Adapter.use_verification_token``: of N concurrent tasks exactly one gets it."""

    # -- WebAuthn authenticators --------------------------------------------

    @abc.abstractmethod
    async def create_authenticator(self, a: Authenticator) -> Authenticator:
        """As ``Adapter.create_authenticator``."""

    @abc.abstractmethod
    async def get_authenticator(self, credential_id: str) -> Authenticator | None:
        """As ``Adapter.get_authenticator``."""

    @abc.abstractmethod
    async def list_authenticators_by_user_id(self, user_id: str) -> list[Authenticator]:
        """As ``Adapter.list_authenticators_by_user_id``."""

    @abc.abstractmethod
    async def update_authenticator_counter(self, credential_id: str, counter: int) -> Authenticator:
        """As ``Adapter.update_authenticator_counter``."""

    @abc.abstractmethod
    async def delete_authenticator(self, credential_id: str) -> Authenticator | None:
        """As ``Adapter.delete_authenticator``."""

    # -- credentials (storage of secrets) -----------------------------------

    @abc.abstractmethod
    async def create_credential(self, c: Credential) -> Credential:
        """As ``Adapter.create_credential``."""

    @abc.abstractmethod
    async def get_credential(self, id: str) -> Credential | None:
        """As ``Adapter.get_credential``."""

    @abc.abstractmethod
    async def list_credentials(self, user_id: str, type: str | None = None) -> list[Credential]:
        """As ``Adapter.list_credentials``."""

    @abc.abstractmethod
    async def update_credential(
        self, id: str, data: dict[str, Any], *, expected_version: int
    ) -> Credential | None:
        """As ``Adapter.update_credential``: compare-and-set, one winner among N tasks."""

    @abc.abstractmethod
    async def delete_credential(self, id: str) -> Credential | None:
        """As ``Adapter.delete_credential``."""

    # -- housekeeping -------------------------------------------------------

    @abc.abstractmethod
    async def purge_expired(self, now: datetime | None = None) -> dict[str, int]:
        """As ``Adapter.purge_expired``."""

    @abc.abstractmethod
    def export(self) -> AsyncIterator[Model]:
        """Every record, as ``Adapter.export`` yields them: ``async for r in store.export()``."""

    @abc.abstractmethod
    async def import_records(
        self, records: Iterable[Model] | AsyncIterable[Model]
    ) -> dict[str, int]:
        """As ``Adapter.import_records``; ``records`` may also be an async iterable."""

    @abc.abstractmethod
    async def counts(self) -> dict[str, int]:
        """As ``Adapter.counts``."""

    @abc.abstractmethod
    async def health(self) -> dict[str, Any]:
        """As ``Adapter.health``."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release connections and threads. Idempotent; later calls raise ``StorageError``.

        Calls in flight finish first (or fail with ``StorageError``); none hangs.
        """

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
