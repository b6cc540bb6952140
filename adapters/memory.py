"""The in-process reference backend: dicts behind one lock.

Used by the services' unit tests and as the executable reading of the
contract. Nothing is shared between processes or kept after ``close()``.
Like the other backends it keeps indices - records by user, expiries in a
heap - so listing a user's sessions, deleting a user and purging cost what
they touch, not the size of the store.
"""

from __future__ import annotations

import copy
import heapq
import itertools
import threading
from collections.abc import Hashable, Iterator
from dataclasses import replace
from datetime import datetime
from typing import Any, Generic, Protocol, Self, TypeVar

from auth_store import clock
from auth_store import validation as v
from auth_store.adapter import Adapter
from auth_store.errors import ConflictError, NoStoreError, NotFoundError
from auth_store.models import (
    Account,
    Authenticator,
    Credential,
    Model,
    Session,
    User,
    VerificationToken,
)

__all__ = ["MemoryAdapter"]

T = TypeVar("T")


def _copy(obj: T) -> T:
    """A copy the caller may change freely: only the JSON dicts need a deep copy."""
    if obj is None:
        return obj
    clone = copy.copy(obj)
    for name in ("extra", "data"):
        value = getattr(clone, name, None)
        if value:
            setattr(clone, name, copy.deepcopy(value))
    return clone


class _Owned(Protocol):
    user_id: str


class _Expiring(Protocol):
    expires: datetime


K = TypeVar("K", bound=Hashable)
R = TypeVar("R", bound=_Owned)
E = TypeVar("E", bound=_Expiring)


class _ByUser(Generic[K, R]):
    """Records keyed by ``K``, with the keys of each user's records."""

    def __init__(self) -> None:
        self.records: dict[K, R] = {}
        self._keys: dict[str, set[K]] = {}

    def put(self, key: K, record: R) -> None:
        old = self.records.get(key)
        if old is not None and old.user_id != record.user_id:
            self._forget(old.user_id, key)
        self.records[key] = record
        self._keys.setdefault(record.user_id, set()).add(key)

    def pop(self, key: K) -> R | None:
        record = self.records.pop(key, None)
        if record is not None:
            self._forget(record.user_id, key)
        return record

    def _forget(self, user_id: str, key: K) -> None:
        keys = self._keys.get(user_id)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._keys[user_id]

    def owned(self, user_id: str) -> list[R]:
        return [self.records[k] for k in self._keys.get(user_id, ())]

    def pop_owned(self, user_id: str) -> list[R]:
        return [r for k in list(self._keys.get(user_id, ())) if (r := self.pop(k)) is not None]


class _Expiries(Generic[K]):
    """A heap of (expires, key): what is due comes first. Entries are checked against
    the record when popped (an update pushes a new entry and leaves the old one)."""

    def __init__(self) -> None:
        self._heap: list[tuple[datetime, int, K]] = []
        self._order = itertools.count()

    def push(self, expires: datetime, key: K) -> None:
        heapq.heappush(self._heap, (expires, next(self._order), key))

    def due(self, cutoff: datetime, records: dict[K, E]) -> list[K]:
        """Pop the entries before ``cutoff``; the keys whose record still expires then."""
        keys = []
        while self._heap and self._heap[0][0] < cutoff:
            expires, _, key = heapq.heappop(self._heap)
            record = records.get(key)
            if record is not None and record.expires == expires:
                keys.append(key)
        if len(self._heap) > 2 * len(records) + 1024:  # mostly stale: rebuild
            self._heap = [(r.expires, next(self._order), k) for k, r in records.items()]
            heapq.heapify(self._heap)
        return keys


class MemoryAdapter(Adapter):
    """A store held in this process's memory."""

    backend = "memory"

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._users: dict[str, User] = {}
        self._user_by_email: dict[str, str] = {}
        self._by_provider: _ByUser[tuple[str, str], Account] = _ByUser()
        self._accounts = self._by_provider.records
        self._account_ids: set[str | None] = set()
        self._by_token: _ByUser[str, Session] = _ByUser()
        self._sessions = self._by_token.records
        self._session_ids: set[str | None] = set()
        self._session_expiries: _Expiries[str] = _Expiries()
        self._tokens: dict[tuple[str, str], VerificationToken] = {}
        self._token_expiries: _Expiries[tuple[str, str]] = _Expiries()
        self._by_credential_id: _ByUser[str, Authenticator] = _ByUser()
        self._authenticators = self._by_credential_id.records
        self._by_id: _ByUser[str, Credential] = _ByUser()
        self._credentials = self._by_id.records

    @classmethod
    def from_url(cls, url: str) -> Self:
        """``memory://`` (takes no options)."""
        return cls()

    @classmethod
    def open_existing(cls, url: str) -> Self:
        """Always ``NoStoreError``: a memory store lives only in the process that made it."""
        raise NoStoreError(
            "no store at memory://: a memory store lives only in the process that made it"
        )

    # -- users --------------------------------------------------------------

    def create_user(self, user: User) -> User:
        user = v.prepare_user(user)
        with self._lock:
            if user.id in self._users:
                raise ConflictError("a user with this id exists")
            if user.email in self._user_by_email:
                raise ConflictError("a user with this e-mail exists")
            self._users[user.id] = user
            self._user_by_email[user.email] = user.id
            return _copy(user)

    def get_user(self, id: str) -> User | None:
        v.validate_id(id)
        with self._lock:
            return _copy(self._users.get(id))

    def get_user_by_email(self, email: str) -> User | None:
        email = v.normalize_email(email)
        with self._lock:
            user_id = self._user_by_email.get(email)
            return _copy(self._users[user_id]) if user_id else None

    def get_user_by_account(self, provider: str, provider_account_id: str) -> User | None:
        key = (
            v.check_text(provider, "provider"),
            v.check_text(provider_account_id, "provider_account_id"),
        )
        with self._lock:
            account = self._accounts.get(key)
            return _copy(self._users.get(account.user_id)) if account else None

    def update_user(self, id: str, **changes: Any) -> User:
        v.validate_id(id)
        changes = v.prepare_user_changes(changes)
        with self._lock:
            user = self._users.get(id)
            if user is None:
                raise NotFoundError("no user with this id")
            updated = replace(user, **changes)
            if updated.email != user.email:
                if updated.email in self._user_by_email:
                    raise ConflictError("a user with this e-mail exists")
                del self._user_by_email[user.email]
                self._user_by_email[updated.email] = id
            self._users[id] = updated
            return _copy(updated)

    def delete_user(self, id: str) -> User | None:
        v.validate_id(id)
        with self._lock:
            user = self._users.pop(id, None)
            if user is None:
                return None
            del self._user_by_email[user.email]
            self._account_ids.difference_update(a.id for a in self._by_provider.pop_owned(id))
            self._session_ids.difference_update(s.id for s in self._by_token.pop_owned(id))
            self._by_credential_id.pop_owned(id)
            self._by_id.pop_owned(id)
            return user

    # -- accounts -----------------------------------------------------------

    def link_account(self, account: Account) -> Account:
        account = v.prepare_account(account)
        key = (account.provider, account.provider_account_id)
        with self._lock:
            if account.user_id not in self._users:
                raise NotFoundError("no user with this id")
            if key in self._accounts:
                raise ConflictError("this provider account is already linked")
            if account.id in self._account_ids:
                raise ConflictError("an account with this id exists")
            self._by_provider.put(key, account)
            self._account_ids.add(account.id)
            return _copy(account)

    def unlink_account(self, provider: str, provider_account_id: str) -> Account | None:
        key = (
            v.check_text(provider, "provider"),
            v.check_text(provider_account_id, "provider_account_id"),
        )
        with self._lock:
            account = self._by_provider.pop(key)
            if account is not None:
                self._account_ids.discard(account.id)
            return account

    def get_account(self, provider: str, provider_account_id: str) -> Account | None:
        key = (
            v.check_text(provider, "provider"),
            v.check_text(provider_account_id, "provider_account_id"),
        )
        with self._lock:
            return _copy(self._accounts.get(key))

    def update_account(
        self, provider: str, provider_account_id: str, **changes: Any
    ) -> Account | None:
        key = (
            v.check_text(provider, "provider"),
            v.check_text(provider_account_id, "provider_account_id"),
        )
        changes = v.prepare_account_changes(changes)
        with self._lock:
            account = self._accounts.get(key)
            if account is None:
                return None
            updated = replace(account, **changes)
            self._by_provider.put(key, updated)
            return _copy(updated)

    def list_accounts(self, user_id: str) -> list[Account]:
        v.validate_id(user_id, "user_id")
        with self._lock:
            found = [_copy(a) for a in self._by_provider.owned(user_id)]
        return sorted(found, key=lambda a: (a.provider, a.provider_account_id))

    # -- sessions -----------------------------------------------------------

    def create_session(self, session: Session) -> Session:
        session = v.prepare_session(session)
        with self._lock:
            if session.user_id not in self._users:
                raise NotFoundError("no user with this id")
            if session.session_token in self._sessions:
                raise ConflictError("this session token exists")
            if session.id in self._session_ids:
                raise ConflictError("a session with this id exists")
            self._by_token.put(session.session_token, session)
            self._session_ids.add(session.id)
            self._session_expiries.push(session.expires, session.session_token)
            return _copy(session)

    def get_session_and_user(self, session_token: str) -> tuple[Session, User] | None:
        v.check_text(session_token, "session_token")
        with self._lock:
            session = self._sessions.get(session_token)
            if session is None:
                return None
            user = self._users[session.user_id]
            return _copy(session), _copy(user)

    def update_session(self, session_token: str, **changes: Any) -> Session | None:
        v.check_text(session_token, "session_token")
        changes = v.prepare_session_changes(changes)
        with self._lock:
            session = self._sessions.get(session_token)
            if session is None:
                return None
            if "user_id" in changes and changes["user_id"] not in self._users:
                raise NotFoundError("no user with this id")
            updated = replace(session, **changes)
            self._by_token.put(session_token, updated)
            if updated.expires != session.expires:
                self._session_expiries.push(updated.expires, session_token)
            return _copy(updated)

    def delete_session(self, session_token: str) -> Session | None:
        v.check_text(session_token, "session_token")
        with self._lock:
            return self._pop_session(session_token)

    def list_sessions(self, user_id: str) -> list[Session]:
        v.validate_id(user_id, "user_id")
        with self._lock:
            found = [_copy(s) for s in self._by_token.owned(user_id)]
        return sorted(found, key=lambda s: (s.expires, s.id))

    def delete_sessions(self, user_id: str) -> int:
        v.validate_id(user_id, "user_id")
        with self._lock:
            dropped = self._by_token.pop_owned(user_id)
            self._session_ids.difference_update(s.id for s in dropped)
            return len(dropped)

    def _pop_session(self, session_token: str) -> Session | None:
        session = self._by_token.pop(session_token)
        if session is not None:
            self._session_ids.discard(session.id)
        return session

    # -- verification tokens ------------------------------------------------

    def create_verification_token(self, vt: VerificationToken) -> VerificationToken:
        vt = v.prepare_verification_token(vt)
        with self._lock:
            if (vt.identifier, vt.token) in self._tokens:
                raise ConflictError("this verification token exists")
            self._tokens[(vt.identifier, vt.token)] = vt
            self._token_expiries.push(vt.expires, (vt.identifier, vt.token))
            return _copy(vt)

    def use_verification_token(self, identifier: str, token: str) -> VerificationToken | None:
        key = (v.check_text(identifier, "identifier"), v.check_text(token, "token"))
        with self._lock:
            return self._tokens.pop(key, None)

    # -- authenticators -----------------------------------------------------

    def create_authenticator(self, a: Authenticator) -> Authenticator:
        a = v.prepare_authenticator(a)
        with self._lock:
            if a.user_id not in self._users:
                raise NotFoundError("no user with this id")
            if a.credential_id in self._authenticators:
                raise ConflictError("this credential id exists")
            self._by_credential_id.put(a.credential_id, a)
            return _copy(a)

    def get_authenticator(self, credential_id: str) -> Authenticator | None:
        v.check_text(credential_id, "credential_id")
        with self._lock:
            return _copy(self._authenticators.get(credential_id))

    def list_authenticators_by_user_id(self, user_id: str) -> list[Authenticator]:
        v.validate_id(user_id, "user_id")
        with self._lock:
            return [_copy(a) for a in self._by_credential_id.owned(user_id)]

    def update_authenticator_counter(self, credential_id: str, counter: int) -> Authenticator:
        v.check_text(credential_id, "credential_id")
        counter = v.check_int(counter, "counter")
        with self._lock:
            found = self._authenticators.get(credential_id)
            if found is None:
                raise NotFoundError("no authenticator with this credential id")
            updated = replace(found, counter=counter)
            self._by_credential_id.put(credential_id, updated)
            return _copy(updated)

    def delete_authenticator(self, credential_id: str) -> Authenticator | None:
        v.check_text(credential_id, "credential_id")
        with self._lock:
            return self._by_credential_id.pop(credential_id)

    # -- credentials --------------------------------------------------------

    def create_credential(self, c: Credential) -> Credential:
        c = v.prepare_credential(c)
        with self._lock:
            if c.user_id not in self._users:
                raise NotFoundError("no user with this id")
            if c.id in self._credentials:
                raise ConflictError("a credential with this id exists")
            self._by_id.put(c.id, c)
            return _copy(c)

    def get_credential(self, id: str) -> Credential | None:
        v.validate_id(id)
        with self._lock:
            return _copy(self._credentials.get(id))

    def list_credentials(self, user_id: str, type: str | None = None) -> list[Credential]:
        v.validate_id(user_id, "user_id")
        if type is not None:
            v.check_text(type, "type")
        with self._lock:
            found = [_copy(c) for c in self._by_id.owned(user_id) if type is None or c.type == type]
        return sorted(found, key=lambda c: (c.created_at or clock.now(), c.id))

    def update_credential(
        self, id: str, data: dict[str, Any], *, expected_version: int
    ) -> Credential | None:
        v.validate_id(id)
        data, expected_version = v.prepare_credential_data(data, expected_version)
        with self._lock:
            found = self._credentials.get(id)
            if found is None or found.version != expected_version:
                return None
            updated = replace(found, data=data, version=found.version + 1, updated_at=clock.now())
            self._by_id.put(id, updated)
            return _copy(updated)

    def delete_credential(self, id: str) -> Credential | None:
        v.validate_id(id)
        with self._lock:
            return self._by_id.pop(id)

    # -- housekeeping -------------------------------------------------------

    def purge_expired(self, now: datetime | None = None) -> dict[str, int]:
        cutoff = v.check_now(now)
        with self._lock:
            sessions = self._session_expiries.due(cutoff, self._sessions)
            for token in sessions:
                self._pop_session(token)
            tokens = self._token_expiries.due(cutoff, self._tokens)
            for key in tokens:
                del self._tokens[key]
        return {"sessions": len(sessions), "verification_tokens": len(tokens)}

    def export(self) -> Iterator[Model]:
        with self._lock:
            snapshot: list[Model] = [
                *self._users.values(),
                *self._accounts.values(),
                *self._sessions.values(),
                *self._tokens.values(),
                *self._authenticators.values(),
                *self._credentials.values(),
            ]
            snapshot = [_copy(record) for record in snapshot]
        yield from snapshot

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {
                "users": len(self._users),
                "accounts": len(self._accounts),
                "sessions": len(self._sessions),
                "verification_tokens": len(self._tokens),
                "authenticators": len(self._authenticators),
                "credentials": len(self._credentials),
            }

    def health(self) -> dict[str, Any]:
        return {"backend": self.backend, "ok": True, "counts": self.counts()}
