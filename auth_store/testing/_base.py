"""The hooks, fixtures and record factories every group of conformance cases shares."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, Protocol

import pytest

import auth_store
from auth_store import clock
from auth_store.adapter import Adapter
from auth_store.models import Account, Authenticator, Credential, Session, User, VerificationToken

__all__ = ["BAD_IDS", "Base", "RawStorage", "raw_values"]

#: Ids the contract refuses everywhere: path tricks, empty, NUL, too long.
BAD_IDS: tuple[str, ...] = ("../x", "a/b", ".", "..", "", "a\x00b", "a" * 200)


class RawStorage(Protocol):
    """A backdoor into what a store really wrote, for checks the API can't make."""

    def records(self, collection: str) -> list[dict[str, Any]]:
        """Every stored record of ``collection`` as raw as the storage keeps it.

        ``collection`` is one of ``auth_store.models.COLLECTIONS`` (``users``,
        ``accounts``, ``sessions``, ``verification_tokens``, ``authenticators``,
        ``credentials``). Keys and value types are the storage's own (column
        names, JSON fields); the suite only looks for values in them.
        """
        ...

    def dump(self) -> bytes:
        """Every byte the store holds (files, rows), for "no plaintext here" checks."""
        ...


def raw_values(record: dict[str, Any]) -> set[str]:
    """The values of a raw record as strings, JSON sub-objects flattened one level."""
    found: set[str] = set()
    for value in record.values():
        if isinstance(value, dict):
            found.update(str(inner) for inner in value.values())
        found.add(str(value))
    return found


class Base:
    """Hooks an adapter author overrides, the fixtures built on them, and factories."""

    #: Whether several processes can open the same URL and share one store.
    #: ``False`` (memory) leaves out every case that needs a second process.
    multiprocess: ClassVar[bool] = True

    #: Threads used by the thread races (the contract asks for at least 8).
    race_threads: ClassVar[int] = 8

    #: Processes used by the process races (the contract asks for at least 4).
    race_processes: ClassVar[int] = 4

    #: Seconds a race may take before it counts as a hang (and fails).
    race_timeout: ClassVar[float] = 120.0

    #: How a child process of a process race opens the store: ``"module:function"``,
    #: a function taking the URL. Must be importable in a freshly spawned interpreter.
    process_opener: ClassVar[str] = "auth_store:connect"

    # -- hooks ----------------------------------------------------------------

    def new_url(self, tmp_path: Path) -> str:
        """A URL naming a new, empty store that no other test uses.

        ``tmp_path`` is an empty directory private to this call: the suite
        passes a different one whenever it needs a second store.
        """
        raise NotImplementedError(f"{type(self).__name__} must override new_url(tmp_path)")

    def open(self, url: str) -> Adapter:
        """Open a store by URL (``auth_store.connect`` unless overridden)."""
        return auth_store.connect(url)

    def open_existing(self, url: str) -> Adapter:
        """Open only a store that exists, as ``open`` does (``connect(url, create=False)``)."""
        return auth_store.connect(url, create=False)

    def raw(self, adapter: Adapter, url: str) -> RawStorage:
        """A reader of the raw storage behind ``adapter`` (see ``RawStorage``)."""
        raise NotImplementedError(f"{type(self).__name__} must override raw(adapter, url)")

    def add_cleanup(self, cleanup: Callable[[], None]) -> None:
        """Run ``cleanup`` after this test, once its stores are closed (e.g. drop a schema)."""
        self._cleanups.append(cleanup)

    # -- fixtures -------------------------------------------------------------

    @pytest.fixture(autouse=True)
    def _run_cleanups(self) -> Iterator[None]:
        # Autouse, so set up before (and torn down after) every store fixture.
        self._cleanups: list[Callable[[], None]] = []
        yield
        for cleanup in reversed(self._cleanups):
            cleanup()

    @pytest.fixture
    def url(self, tmp_path: Path) -> str:
        """The URL of this test's fresh store."""
        store_dir = tmp_path / "store"
        store_dir.mkdir()
        return self.new_url(store_dir)

    @pytest.fixture
    def adapter(self, url: str) -> Iterator[Adapter]:
        """This test's fresh, empty store, closed afterwards."""
        store = self.open(url)
        try:
            yield store
        finally:
            store.close()

    @pytest.fixture
    def raw_storage(self, adapter: Adapter, url: str) -> RawStorage:
        """The backdoor into this test's store."""
        return self.raw(adapter, url)

    def second_store(self, tmp_path: Path) -> Adapter:
        """Open another fresh, empty store (for copies); the caller closes it."""
        store_dir = tmp_path / f"second-{uuid.uuid4().hex[:8]}"
        store_dir.mkdir()
        return self.open(self.new_url(store_dir))

    # -- factories ------------------------------------------------------------

    @staticmethod
    def now() -> datetime:
        """The current time (``auth_store.clock``), aware UTC, with microseconds."""
        return clock.now()

    @classmethod
    def later(cls, **delta: float) -> datetime:
        """Now plus ``timedelta(**delta)``; a fixed non-zero microsecond part."""
        return (cls.now() + timedelta(**delta)).replace(microsecond=123456)

    @staticmethod
    def unique(prefix: str) -> str:
        """A short unique text for emails, tokens and provider keys."""
        return f"{prefix}-{uuid.uuid4().hex[:12]}"

    def new_user(self, **fields: Any) -> User:
        """An unsaved user with a unique e-mail."""
        fields.setdefault("email", f"{self.unique('user')}@example.com")
        return User(**fields)

    def make_user(self, adapter: Adapter, **fields: Any) -> User:
        """A user saved in ``adapter``."""
        return adapter.create_user(self.new_user(**fields))

    def new_account(self, user_id: str, **fields: Any) -> Account:
        """An unsaved OAuth account with every token field set."""
        values: dict[str, Any] = {
            "user_id": user_id,
            "type": "oauth",
            "provider": "github",
            "provider_account_id": self.unique("gh"),
            "access_token": self.unique("access"),
            "refresh_token": self.unique("refresh"),
            "expires_at": 1_900_000_000,
            "token_type": "bearer",
            "scope": "read:user user:email",
            "id_token": self.unique("idtoken"),
            "session_state": self.unique("state"),
        }
        values.update(fields)
        return Account(**values)

    def new_session(self, user_id: str, **fields: Any) -> Session:
        """An unsaved session expiring in a week."""
        values: dict[str, Any] = {
            "session_token": self.unique("sess"),
            "user_id": user_id,
            "expires": self.later(days=7),
        }
        values.update(fields)
        return Session(**values)

    def new_token(self, **fields: Any) -> VerificationToken:
        """An unsaved verification token expiring in 15 minutes."""
        values: dict[str, Any] = {
            "identifier": f"{self.unique('vt')}@example.com",
            "token": uuid.uuid4().hex * 2,
            "expires": self.later(minutes=15),
        }
        values.update(fields)
        return VerificationToken(**values)

    def new_authenticator(self, user_id: str, **fields: Any) -> Authenticator:
        """An unsaved WebAuthn authenticator."""
        values: dict[str, Any] = {
            "credential_id": self.unique("cred"),
            "user_id": user_id,
            "provider_account_id": self.unique("webauthn"),
            "credential_public_key": "pQECAyYgASFYIOm0aXuL",
            "counter": 0,
            "credential_device_type": "singleDevice",
            "credential_backed_up": False,
            "transports": "usb,nfc",
        }
        values.update(fields)
        return Authenticator(**values)

    def new_credential(self, user_id: str, **fields: Any) -> Credential:
        """An unsaved password credential."""
        values: dict[str, Any] = {
            "user_id": user_id,
            "type": "password",
            "data": {"hash": "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA", "n": 0},
        }
        values.update(fields)
        return Credential(**values)

    def populate(self, adapter: Adapter) -> dict[str, Any]:
        """One of every kind of record around one user; returns them by name."""
        user = self.make_user(adapter, name="Pop", extra={"role": "admin"})
        account = adapter.link_account(self.new_account(user.id, extra={"ext_expires_in": 3599}))
        session = adapter.create_session(
            self.new_session(
                user.id,
                created_at=self.later(hours=-2),
                updated_at=self.later(minutes=-1),
                ip_address="192.0.2.10",
                user_agent="Mozilla/5.0 (conformance)",
            )
        )
        authenticator = adapter.create_authenticator(self.new_authenticator(user.id))
        credential = adapter.create_credential(self.new_credential(user.id))
        token = adapter.create_verification_token(self.new_token())
        return {
            "user": user,
            "account": account,
            "session": session,
            "authenticator": authenticator,
            "credential": credential,
            "token": token,
        }
