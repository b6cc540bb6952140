"""The storage contract every backend implements: the Auth.js adapter, in Python.

Semantics every implementation shares (``auth_store.testing`` checks each):

1. A miss returns ``None`` (or ``[]``); deleting what is missing returns ``None``.
   ``update_user`` and ``update_authenticator_counter`` on a missing record
   raise ``NotFoundError``.
2. E-mails are stored and looked up normalised (``auth_store.validation``);
   e-mail, (provider, provider_account_id), session token and credential id
   are unique: a duplicate is a ``ConflictError``.
3. Datetimes are timezone-aware UTC in and out, microseconds kept; a naive
   datetime is a ``ValidationError``.
4. Ids are generated when absent and kept when given; an invalid id is a
   ``ValidationError``.
5. ``delete_user`` removes the user's accounts, sessions, authenticators and
   credentials in the same step.
6. ``use_verification_token`` and ``update_credential`` are atomic: with N
   concurrent callers exactly one succeeds.
7. ``get_session_and_user`` is one read and returns what is stored, expired or not.
8. Only ``AuthStoreError`` subclasses escape; driver errors become ``StorageError``.
9. Safe for several threads, and for several processes where the storage is shared.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Iterator
from datetime import datetime
from types import TracebackType
from typing import Any, ClassVar, Self

from .errors import ConfigurationError
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
from .records import collection_of
from .validation import check_imported

__all__ = ["Adapter"]


class Adapter(abc.ABC):
    """Abstract base class of every auth-store backend."""

    #: Short backend name reported by ``health()`` ("memory", "sqlite", ...).
    backend: str = "abstract"

    #: Whether the storage runs one write at a time whatever the callers do
    #: (SQLite's ``BEGIN IMMEDIATE``, the file store's lock). The async twin
    #: on worker threads then queues writes on the event loop rather than
    #: letting them wait on threads, so reads keep the threads.
    serial_writes: ClassVar[bool] = False

    @classmethod
    def from_url(cls, url: str) -> Self:
        """Open the store a URL names (what ``auth_store.connect(url)`` calls).

        Each backend parses its own URLs and options here; a backend that
        cannot be opened from a URL keeps this default, which refuses.
        """
        raise ConfigurationError(f"the {cls.backend} backend cannot be opened from a URL")

    # -- users --------------------------------------------------------------

    @abc.abstractmethod
    def create_user(self, user: User) -> User:
        """Store a new user and return it as stored (id generated, e-mail normalised).

        Raises ``ConflictError`` if the normalised e-mail or the id is taken.
        """

    @abc.abstractmethod
    def get_user(self, id: str) -> User | None:
        """The user with this id, or ``None``."""

    @abc.abstractmethod
    def get_user_by_email(self, email: str) -> User | None:
        """The user whose normalised e-mail equals ``email`` normalised, or ``None``."""

    @abc.abstractmethod
    def get_user_by_account(self, provider: str, provider_account_id: str) -> User | None:
        """The user linked to this provider account, or ``None``."""

    @abc.abstractmethod
    def update_user(self, id: str, **changes: Any) -> User:
        """Apply ``changes`` (any field but ``id``) and return the updated user.

        Raises ``NotFoundError`` if there is no such user and ``ConflictError``
        if a changed e-mail is taken.
        """

    @abc.abstractmethod
    def delete_user(self, id: str) -> User | None:
        """Delete a user with its accounts, sessions, authenticators and credentials.

        Returns the deleted user, or ``None`` if there was none.
        """

    # -- accounts -----------------------------------------------------------

    @abc.abstractmethod
    def link_account(self, account: Account) -> Account:
        """Store an account for an existing user and return it as stored.

        Raises ``ConflictError`` if (provider, provider_account_id) is taken and
        ``NotFoundError`` if the user does not exist.
        """

    @abc.abstractmethod
    def unlink_account(self, provider: str, provider_account_id: str) -> Account | None:
        """Delete an account and return it, or ``None`` if there was none."""

    @abc.abstractmethod
    def get_account(self, provider: str, provider_account_id: str) -> Account | None:
        """The account with this provider key, or ``None``."""

    @abc.abstractmethod
    def update_account(
        self, provider: str, provider_account_id: str, **changes: Any
    ) -> Account | None:
        """Apply ``changes`` to an account in one atomic write; return it, or ``None`` if missing.

        Only the provider's token fields (``access_token``, ``refresh_token``,
        ``expires_at``, ``token_type``, ``scope``, ``id_token``,
        ``session_state``) and ``extra`` may change (``ValidationError``
        otherwise); the id, the key and the user stay. A concurrent reader
        sees the account before or after the whole change, never half of it.
        """

    @abc.abstractmethod
    def list_accounts(self, user_id: str) -> list[Account]:
        """Every account linked to a user, by (provider, provider_account_id); ``[]`` if none."""

    # -- sessions -----------------------------------------------------------

    @abc.abstractmethod
    def create_session(self, session: Session) -> Session:
        """Store a session for an existing user.

        Raises ``ConflictError`` if the token is taken and ``NotFoundError`` if
        the user does not exist.
        """

    @abc.abstractmethod
    def get_session_and_user(self, session_token: str) -> tuple[Session, User] | None:
        """The session and its user in one read, expired or not; ``None`` on a miss."""

    @abc.abstractmethod
    def update_session(self, session_token: str, **changes: Any) -> Session | None:
        """Change a session's ``expires``, ``user_id``, ``created_at``, ``updated_at``,
        ``ip_address`` or ``user_agent``; ``None`` if it is missing.

        Moving it to a missing user is a ``NotFoundError``.
        """

    @abc.abstractmethod
    def delete_session(self, session_token: str) -> Session | None:
        """Delete a session and return it, or ``None`` if there was none."""

    @abc.abstractmethod
    def list_sessions(self, user_id: str) -> list[Session]:
        """Every session of a user (expired ones included), oldest expiry first."""

    @abc.abstractmethod
    def delete_sessions(self, user_id: str) -> int:
        """Delete every session of a user; return how many were deleted."""

    # -- verification tokens ------------------------------------------------

    @abc.abstractmethod
    def create_verification_token(self, vt: VerificationToken) -> VerificationToken:
        """Store a verification token; (identifier, token) must be new (``ConflictError``)."""

    @abc.abstractmethod
    def use_verification_token(self, identifier: str, token: str) -> VerificationToken | None:
        """Delete and return the token in one atomic step, even if expired.

        With N concurrent callers exactly one gets the token; the others get ``None``.
        """

    # -- WebAuthn authenticators --------------------------------------------

    @abc.abstractmethod
    def create_authenticator(self, a: Authenticator) -> Authenticator:
        """Store an authenticator; its ``credential_id`` must be new (``ConflictError``)."""

    @abc.abstractmethod
    def get_authenticator(self, credential_id: str) -> Authenticator | None:
        """The authenticator with this credential id, or ``None``."""

    @abc.abstractmethod
    def list_authenticators_by_user_id(self, user_id: str) -> list[Authenticator]:
        """Every authenticator of a user (``[]`` for an unknown user)."""

    @abc.abstractmethod
    def update_authenticator_counter(self, credential_id: str, counter: int) -> Authenticator:
        """Set the signature counter; ``NotFoundError`` if there is no such authenticator."""

    @abc.abstractmethod
    def delete_authenticator(self, credential_id: str) -> Authenticator | None:
        """Delete an authenticator and return it, or ``None`` if there was none.

        (Auth.js's adapter has no such method; removing a lost passkey needs it.)
        """

    # -- credentials (storage of secrets) -----------------------------------

    @abc.abstractmethod
    def create_credential(self, c: Credential) -> Credential:
        """Store a credential (id, ``created_at``, ``updated_at`` filled in when absent)."""

    @abc.abstractmethod
    def get_credential(self, id: str) -> Credential | None:
        """The credential with this id, or ``None``."""

    @abc.abstractmethod
    def list_credentials(self, user_id: str, type: str | None = None) -> list[Credential]:
        """A user's credentials, optionally of one ``type``, oldest first."""

    @abc.abstractmethod
    def update_credential(
        self, id: str, data: dict[str, Any], *, expected_version: int
    ) -> Credential | None:
        """Compare-and-set: replace ``data`` if the stored version is ``expected_version``.

        On success the version grows by one, ``updated_at`` is now, and the new
        credential is returned. A stale version or a missing credential changes
        nothing and returns ``None``. With N concurrent callers exactly one wins.
        """

    @abc.abstractmethod
    def delete_credential(self, id: str) -> Credential | None:
        """Delete a credential and return it, or ``None`` if there was none."""

    # -- housekeeping -------------------------------------------------------

    @abc.abstractmethod
    def purge_expired(self, now: datetime | None = None) -> dict[str, int]:
        """Delete sessions and verification tokens that expired before ``now``.

        Returns the number deleted per collection (``sessions``, ``verification_tokens``).
        """

    @abc.abstractmethod
    def export(self) -> Iterator[Model]:
        """Every record, collection by collection in dependency order (users first)."""

    def import_records(self, records: Iterable[Model]) -> dict[str, int]:
        """Store records exactly as given (ids and timestamps kept).

        Records must come in dependency order (users before what points at them).
        Returns the number imported per collection. A record that exists is a
        ``ConflictError``. This default creates one record at a time through
        the contract; backends with a faster bulk path override it.
        """
        imported = dict.fromkeys(COLLECTIONS, 0)
        for record in records:
            if isinstance(record, User):
                self.create_user(record)
            elif isinstance(record, Account):
                self.link_account(record)
            elif isinstance(record, Session):
                self.create_session(record)
            elif isinstance(record, VerificationToken):
                self.create_verification_token(record)
            elif isinstance(record, Authenticator):
                self.create_authenticator(record)
            elif isinstance(record, Credential):
                check_imported(record)
                self.create_credential(record)
            imported[collection_of(record)] += 1
        return imported

    @abc.abstractmethod
    def counts(self) -> dict[str, int]:
        """The number of records per collection."""

    @abc.abstractmethod
    def health(self) -> dict[str, Any]:
        """A health report: at least ``backend`` and ``ok``."""

    def close(self) -> None:  # noqa: B027 - closing is optional for stores holding nothing
        """Release connections, locks and file handles. Idempotent."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
