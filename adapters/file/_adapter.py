"""``FileAdapter``: the Adapter contract mapped onto the file store engine."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self, TypeVar
from urllib.parse import unquote, urlsplit

from auth_store import clock
from auth_store import validation as v
from auth_store.adapter import Adapter
from auth_store.capabilities import NativeBackup, ProgressCallback, backup_name
from auth_store.connect import parse_options
from auth_store.errors import (
    ConfigurationError,
    ConflictError,
    NotFoundError,
    StorageError,
    ValidationError,
)
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
from auth_store.problems import CheckReport
from auth_store.records import from_dict, to_dict

from . import _backup, _check
from ._layout import (
    Collection,
    account_key,
    authenticator_stem,
    token_key,
    verification_token_stem,
)
from ._store import FileStore, Found

__all__ = ["DURABILITY", "FileAdapter"]

#: The accepted values of the ``durability`` option.
DURABILITY = ("full", "normal")

M = TypeVar("M", User, Account, Session, VerificationToken, Authenticator, Credential)

_DATETIME_FIELDS = {
    name: tuple(f.name for f in fields(model) if "datetime" in str(f.type))
    for name, model in COLLECTIONS.items()
}

#: Removing a dead line is cheap; rewriting an index is not: wait for this many first.
DEFAULT_COMPACT_MIN_DEAD = 1024


def _rss_bytes() -> int:
    """This process's resident memory (Linux ``/proc``; elsewhere the peak from ``getrusage``)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _parse_url(url: str) -> tuple[str, str]:
    """The directory and the query of a ``file:`` URL."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "file":
        raise ConfigurationError("a file store URL starts with file:")
    if parts.netloc not in ("", "localhost"):
        raise ConfigurationError(
            "a file store URL names a local directory: file:///absolute/dir or file:relative/dir"
        )
    path = unquote(parts.path)
    if not path:
        raise ConfigurationError("the file store URL names no directory")
    return path, parts.query


class FileAdapter(Adapter):
    """A store of human-readable JSON files under one root directory.

    ``durability="full"`` (the default) fsyncs every write, its directory and
    the index lines it adds before returning; ``"normal"`` skips the fsyncs
    (a write survives a crash of the process, maybe not of the machine).
    Several threads and processes may share one root. ``create=False`` opens
    only an existing store (``NoStoreError`` otherwise, nothing created).
    """

    backend = "file"
    serial_writes = True

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        durability: str = "full",
        compact_min_dead: int = DEFAULT_COMPACT_MIN_DEAD,
        create: bool = True,
    ) -> None:
        if durability not in DURABILITY:
            raise ConfigurationError(f"durability must be one of {', '.join(DURABILITY)}")
        if isinstance(compact_min_dead, bool) or not isinstance(compact_min_dead, int):
            raise ConfigurationError("compact_min_dead must be an int")
        if not isinstance(root, str | os.PathLike):
            raise ConfigurationError(f"root must be a path, got {type(root).__name__}")
        self.durability = durability
        rss_before, started = _rss_bytes(), time.perf_counter()
        self._store = FileStore(
            os.fspath(root),
            durable=durability == "full",
            compact_min_dead=compact_min_dead,
            create=create,
        )
        self._opened_in = time.perf_counter() - started
        self._rss_before = rss_before
        self._closed = False
        cols = self._store.collections
        self._users = cols["users"]
        self._accounts = cols["accounts"]
        self._sessions = cols["sessions"]
        self._tokens = cols["verification_tokens"]
        self._authenticators = cols["authenticators"]
        self._credentials = cols["credentials"]

    @classmethod
    def from_url(cls, url: str) -> Self:
        """``file:///absolute/dir`` or ``file:relative/dir``; option ``?durability=full|normal``."""
        return cls._from_url(url, create=True)

    @classmethod
    def open_existing(cls, url: str) -> Self:
        """``from_url`` for a store that exists, ``NoStoreError`` otherwise (``OpensExisting``).

        A store exists where its root directory holds the store's ``_meta.json``.
        """
        return cls._from_url(url, create=False)

    @classmethod
    def _from_url(cls, url: str, *, create: bool) -> Self:
        path, query = _parse_url(url)
        options = parse_options(query, {"durability": str})
        return cls(path, durability=str(options.get("durability", "full")), create=create)

    @classmethod
    def path_from_url(cls, url: str) -> Path:
        """The root directory a ``file:`` URL names (``StoredAtPath``)."""
        return Path(_parse_url(url)[0])

    @property
    def root(self) -> Path:
        """The store's root directory (absolute)."""
        return Path(self._store.root)

    # -- helpers ----------------------------------------------------------------

    def _open_store(self) -> FileStore:
        if self._closed:
            raise StorageError(f"the file store at {self._store.root} is closed")
        return self._store

    def _any_model(self, collection: Collection, stem: str, record: dict[str, Any]) -> Model:
        """The model a raw record holds; a damaged or misnamed record is a ``StorageError``."""
        try:
            actual_stem = collection.spec.stem(record)
            model = from_dict(collection.name, record)
        except (KeyError, TypeError, ValidationError) as exc:
            message = f"record file {collection.path(stem)} is not a valid {collection.name} record"
            raise StorageError(message) from exc
        if actual_stem != stem:
            where = collection.path(stem)
            raise StorageError(f"record file {where} holds another record (misnamed file)")
        for name in _DATETIME_FIELDS[collection.name]:
            value = getattr(model, name)
            if value is None or (isinstance(value, datetime) and value.tzinfo is UTC):
                continue  # what this store writes: parsed "+00:00" is the UTC singleton
            if not isinstance(value, datetime) or value.utcoffset() is None:
                where = collection.path(stem)
                raise StorageError(f"record file {where} has a {name} without a time zone")
            if value.utcoffset():
                setattr(model, name, value.astimezone(UTC))  # edited by hand: UTC out
        return model

    def _model(self, collection: Collection, stem: str, record: dict[str, Any], kind: type[M]) -> M:
        model = self._any_model(collection, stem, record)
        if not isinstance(model, kind):  # pragma: no cover - from_dict builds the right model
            raise StorageError(f"record file {collection.path(stem)} is not a {kind.__name__}")
        return model

    def _get(self, collection: Collection, stem: str, kind: type[M]) -> M | None:
        record = collection.read(stem)
        return None if record is None else self._model(collection, stem, record, kind)

    @staticmethod
    def _found(collection: Collection, stem: str) -> Found | None:
        record = collection.read(stem)
        return None if record is None else (stem, record)

    def _change(
        self,
        collection: Collection,
        find: Callable[[], Found | None],
        kind: type[M],
        change: Callable[[M], M | None],
    ) -> tuple[M, M | None] | None:
        """Under the write lock: find a record (a miss returns ``None``), ask ``change``
        for its replacement (``None`` deletes it; the same object leaves it alone) and
        apply that. Returns the record before and after."""
        store = self._open_store()
        with store.write():
            found = find()
            if found is None:
                return None
            stem, record = found
            old = self._model(collection, stem, record, kind)
            new = change(old)
            if new is not old:
                store.apply(collection, stem, record, None if new is None else to_dict(new))
        return old, new

    def _update(
        self,
        collection: Collection,
        find: Callable[[], Found | None],
        kind: type[M],
        change: Callable[[M], M],
    ) -> M | None:
        changed = self._change(collection, find, kind, change)
        return None if changed is None else changed[1]

    def _delete(
        self, collection: Collection, find: Callable[[], Found | None], kind: type[M]
    ) -> M | None:
        changed = self._change(collection, find, kind, lambda _: None)
        return None if changed is None else changed[0]

    def _insert(
        self, collection: Collection, stem: str, model: M, *conflicts: Callable[[], None]
    ) -> M:
        """Write a new record under the write lock, after ``conflicts`` (each raises) pass."""
        store = self._open_store()
        with store.write():
            for conflict in conflicts:
                conflict()
            store.apply(collection, stem, None, to_dict(model))
        return model

    def _require_user(self, user_id: str) -> None:
        if not self._users.exists(user_id):
            raise NotFoundError("no user with this id")

    @staticmethod
    def _free(collection: Collection, stem: str, message: str) -> Callable[[], None]:
        def check() -> None:
            if collection.exists(stem):
                raise ConflictError(message)

        return check

    def _account_by_key(self, provider: object, provider_account_id: object) -> Found | None:
        key = account_key(
            v.check_text(provider, "provider"),
            v.check_text(provider_account_id, "provider_account_id"),
        )
        return self._open_store().find_unique(self._accounts, "provider_account", key)

    def _session_by_token(self, session_token: object) -> Found | None:
        key = token_key(v.check_text(session_token, "session_token"))
        return self._open_store().find_unique(self._sessions, "session_token", key)

    # -- users --------------------------------------------------------------------

    def create_user(self, user: User) -> User:
        user = v.prepare_user(user)
        store = self._open_store()

        def email_free() -> None:
            if store.find_unique(self._users, "email", user.email) is not None:
                raise ConflictError("a user with this e-mail exists")

        free = self._free(self._users, user.id, "a user with this id exists")
        return self._insert(self._users, user.id, user, free, email_free)

    def get_user(self, id: str) -> User | None:
        v.validate_id(id)
        self._open_store()
        return self._get(self._users, id, User)

    def get_user_by_email(self, email: str) -> User | None:
        email = v.normalize_email(email)
        found = self._open_store().find_unique(self._users, "email", email)
        return None if found is None else self._model(self._users, *found, User)

    def get_user_by_account(self, provider: str, provider_account_id: str) -> User | None:
        found = self._account_by_key(provider, provider_account_id)
        if found is None:
            return None
        account = self._model(self._accounts, *found, Account)
        return self._get(self._users, account.user_id, User)

    def update_user(self, id: str, **changes: Any) -> User:
        v.validate_id(id)
        changes = v.prepare_user_changes(changes)
        store = self._open_store()

        def change(user: User) -> User:
            updated = replace(user, **changes)
            if updated.email != user.email:
                taken = store.find_unique(self._users, "email", updated.email)
                if taken is not None and taken[0] != id:
                    raise ConflictError("a user with this e-mail exists")
            return updated

        updated = self._update(self._users, lambda: self._found(self._users, id), User, change)
        if updated is None:
            raise NotFoundError("no user with this id")
        return updated

    def delete_user(self, id: str) -> User | None:
        v.validate_id(id)
        store = self._open_store()

        def dependents_first(user: User) -> None:
            # Dependents first, the user last: a crash midway leaves a user with
            # fewer sessions, never sessions without a user.
            dependents = (self._accounts, self._sessions, self._authenticators, self._credentials)
            for collection in dependents:
                for stem, owned in store.find_owned(collection, id):
                    store.apply(collection, stem, owned, None)
            return None

        changed = self._change(
            self._users, lambda: self._found(self._users, id), User, dependents_first
        )
        return None if changed is None else changed[0]

    # -- accounts -----------------------------------------------------------------

    def link_account(self, account: Account) -> Account:
        account = v.prepare_account(account)
        store = self._open_store()
        key = account_key(account.provider, account.provider_account_id)

        def unlinked() -> None:
            if store.find_unique(self._accounts, "provider_account", key) is not None:
                raise ConflictError("this provider account is already linked")

        return self._insert(
            self._accounts,
            account.id,
            account,
            lambda: self._require_user(account.user_id),
            unlinked,
            self._free(self._accounts, account.id, "an account with this id exists"),
        )

    def unlink_account(self, provider: str, provider_account_id: str) -> Account | None:
        find = lambda: self._account_by_key(provider, provider_account_id)  # noqa: E731
        return self._delete(self._accounts, find, Account)

    def get_account(self, provider: str, provider_account_id: str) -> Account | None:
        found = self._account_by_key(provider, provider_account_id)
        return None if found is None else self._model(self._accounts, *found, Account)

    def update_account(
        self, provider: str, provider_account_id: str, **changes: Any
    ) -> Account | None:
        v.check_text(provider, "provider")
        v.check_text(provider_account_id, "provider_account_id")
        changes = v.prepare_account_changes(changes)
        return self._update(
            self._accounts,
            lambda: self._account_by_key(provider, provider_account_id),
            Account,
            lambda account: replace(account, **changes),
        )

    def list_accounts(self, user_id: str) -> list[Account]:
        v.validate_id(user_id, "user_id")
        found = self._open_store().find_owned(self._accounts, user_id)
        accounts = [self._model(self._accounts, stem, record, Account) for stem, record in found]
        return sorted(accounts, key=lambda a: (a.provider, a.provider_account_id))

    # -- sessions -----------------------------------------------------------------

    def create_session(self, session: Session) -> Session:
        session = v.prepare_session(session)

        def token_free() -> None:
            if self._session_by_token(session.session_token) is not None:
                raise ConflictError("this session token exists")

        return self._insert(
            self._sessions,
            session.id,
            session,
            lambda: self._require_user(session.user_id),
            token_free,
            self._free(self._sessions, session.id, "a session with this id exists"),
        )

    def get_session_and_user(self, session_token: str) -> tuple[Session, User] | None:
        found = self._session_by_token(session_token)
        if found is None:
            return None
        session = self._model(self._sessions, *found, Session)
        user = self._get(self._users, session.user_id, User)
        return None if user is None else (session, user)

    def update_session(self, session_token: str, **changes: Any) -> Session | None:
        v.check_text(session_token, "session_token")
        changes = v.prepare_session_changes(changes)

        def change(session: Session) -> Session:
            if "user_id" in changes:
                self._require_user(changes["user_id"])
            return replace(session, **changes)

        find = lambda: self._session_by_token(session_token)  # noqa: E731
        return self._update(self._sessions, find, Session, change)

    def delete_session(self, session_token: str) -> Session | None:
        v.check_text(session_token, "session_token")
        return self._delete(self._sessions, lambda: self._session_by_token(session_token), Session)

    def list_sessions(self, user_id: str) -> list[Session]:
        v.validate_id(user_id, "user_id")
        found = self._open_store().find_owned(self._sessions, user_id)
        sessions = [self._model(self._sessions, *f, Session) for f in found]
        return sorted(sessions, key=lambda s: (s.expires, s.id))

    def delete_sessions(self, user_id: str) -> int:
        v.validate_id(user_id, "user_id")
        store = self._open_store()
        with store.write():
            found = store.find_owned(self._sessions, user_id)
            for stem, record in found:
                store.apply(self._sessions, stem, record, None)
        return len(found)

    # -- verification tokens ------------------------------------------------------

    def create_verification_token(self, vt: VerificationToken) -> VerificationToken:
        vt = v.prepare_verification_token(vt)
        stem = verification_token_stem(vt.identifier, vt.token)
        free = self._free(self._tokens, stem, "this verification token exists")
        return self._insert(self._tokens, stem, vt, free)

    def use_verification_token(self, identifier: str, token: str) -> VerificationToken | None:
        stem = verification_token_stem(
            v.check_text(identifier, "identifier"), v.check_text(token, "token")
        )
        # _model checks the file name is the hash of this (identifier, token).
        return self._delete(
            self._tokens, lambda: self._found(self._tokens, stem), VerificationToken
        )

    # -- authenticators -------------------------------------------------------------

    def create_authenticator(self, a: Authenticator) -> Authenticator:
        a = v.prepare_authenticator(a)
        stem = authenticator_stem(a.credential_id)
        return self._insert(
            self._authenticators,
            stem,
            a,
            lambda: self._require_user(a.user_id),
            self._free(self._authenticators, stem, "this credential id exists"),
        )

    def get_authenticator(self, credential_id: str) -> Authenticator | None:
        stem = authenticator_stem(v.check_text(credential_id, "credential_id"))
        self._open_store()
        return self._get(self._authenticators, stem, Authenticator)

    def list_authenticators_by_user_id(self, user_id: str) -> list[Authenticator]:
        v.validate_id(user_id, "user_id")
        found = self._open_store().find_owned(self._authenticators, user_id)
        listed = [self._model(self._authenticators, *f, Authenticator) for f in found]
        return sorted(listed, key=lambda a: a.credential_id)

    def update_authenticator_counter(self, credential_id: str, counter: int) -> Authenticator:
        stem = authenticator_stem(v.check_text(credential_id, "credential_id"))
        counter = v.check_int(counter, "counter")
        updated = self._update(
            self._authenticators,
            lambda: self._found(self._authenticators, stem),
            Authenticator,
            lambda a: replace(a, counter=counter),
        )
        if updated is None:
            raise NotFoundError("no authenticator with this credential id")
        return updated

    def delete_authenticator(self, credential_id: str) -> Authenticator | None:
        stem = authenticator_stem(v.check_text(credential_id, "credential_id"))
        find = lambda: self._found(self._authenticators, stem)  # noqa: E731
        return self._delete(self._authenticators, find, Authenticator)

    # -- credentials ----------------------------------------------------------------

    def create_credential(self, c: Credential) -> Credential:
        c = v.prepare_credential(c)
        return self._insert(
            self._credentials,
            c.id,
            c,
            lambda: self._require_user(c.user_id),
            self._free(self._credentials, c.id, "a credential with this id exists"),
        )

    def get_credential(self, id: str) -> Credential | None:
        v.validate_id(id)
        self._open_store()
        return self._get(self._credentials, id, Credential)

    def list_credentials(self, user_id: str, type: str | None = None) -> list[Credential]:
        v.validate_id(user_id, "user_id")
        if type is not None:
            v.check_text(type, "type")
        found = self._open_store().find_owned(self._credentials, user_id)
        listed = [self._model(self._credentials, *f, Credential) for f in found]
        stamp = clock.now()
        return sorted(
            (c for c in listed if type is None or c.type == type),
            key=lambda c: (c.created_at or stamp, c.id),
        )

    def update_credential(
        self, id: str, data: dict[str, Any], *, expected_version: int
    ) -> Credential | None:
        v.validate_id(id)
        data, expected_version = v.prepare_credential_data(data, expected_version)

        def change(found: Credential) -> Credential:
            if found.version != expected_version:
                return found  # stale: left alone
            return replace(found, data=data, version=found.version + 1, updated_at=clock.now())

        # The read, the version check and the write happen under one exclusive
        # lock, so of N racing callers (threads or processes) exactly one wins.
        changed = self._change(
            self._credentials, lambda: self._found(self._credentials, id), Credential, change
        )
        if changed is None or changed[1] is changed[0]:
            return None
        return changed[1]

    def delete_credential(self, id: str) -> Credential | None:
        v.validate_id(id)
        return self._delete(
            self._credentials, lambda: self._found(self._credentials, id), Credential
        )

    # -- housekeeping ---------------------------------------------------------------

    def purge_expired(self, now: datetime | None = None) -> dict[str, int]:
        cutoff = v.check_now(now)
        store = self._open_store()
        purged = {"sessions": 0, "verification_tokens": 0}
        for collection in (self._sessions, self._tokens):
            # The expiry index names the candidates (no scan; nothing expired costs
            # a lookup); they are deleted in small batches under the lock, each
            # record re-read so that a fresh change (a refreshed session) wins.
            candidates = store.find_expiring(collection, cutoff)
            for start in range(0, len(candidates), 256):
                with store.write():
                    for stem in candidates[start : start + 256]:
                        record = collection.read(stem)
                        if record is not None and self._expired(collection, stem, cutoff, record):
                            store.apply(collection, stem, record, None)
                            purged[collection.name] += 1
        return purged

    def _expired(
        self,
        collection: Collection,
        stem: str,
        cutoff: datetime,
        record: dict[str, Any],
    ) -> bool:
        try:
            model = self._any_model(collection, stem, record)
        except StorageError:
            return False  # purging leaves a damaged record alone; check() reports it
        return isinstance(model, Session | VerificationToken) and model.expires < cutoff

    def export(self) -> Iterator[Model]:
        store = self._open_store()
        for collection in store.collections.values():
            for stem in collection.stems():
                record = collection.read(stem)
                if record is not None:
                    yield self._any_model(collection, stem, record)

    def counts(self) -> dict[str, int]:
        """Records per collection, as the indices count them: no directory is listed
        and no lock taken (``check`` compares the indices with the records)."""
        store = self._open_store()
        return {name: collection.count() for name, collection in store.collections.items()}

    def health(self) -> dict[str, Any]:
        """Counts and settings; takes no lock, so it answers while a writer works."""
        store = self._open_store()
        counts = self.counts()
        return {
            "backend": self.backend,
            "ok": True,
            "root": store.root,
            "durability": self.durability,
            "counts": counts,
        }

    def resources(self) -> dict[str, Any]:
        """What the store costs this process (``ReportsResources``): the time it took to
        open, the resident memory added since (indices read so far included), and the
        size of its index files. The memory figure is the whole process's growth, so it
        is only meaningful in a process that does little else (``auth-store stats``)."""
        store = self._open_store()
        tail = table = log_bytes = 0
        for collection in store.collections.values():
            info = collection.index.describe()
            tail += info["tail_lines"]
            table += info["table_bytes"]
            log_bytes += info["log_bytes"]
        rss = _rss_bytes()
        return {
            "open_ms": round(self._opened_in * 1000, 3),
            "rss_mib": round(rss / 2**20, 1),
            "rss_added_mib": round((rss - self._rss_before) / 2**20, 1),
            "index_log_bytes": log_bytes,
            "index_table_bytes": table,
            "index_lines_in_memory": tail,
        }

    # -- file-store operations (SupportsCheck, SupportsRepair, SupportsBackup, ...) ----

    def check(self) -> CheckReport:
        """Look for damage: unreadable or misnamed records, index entries that
        disagree with records, stray temp files, torn index lines, orphans and
        duplicate keys. Changes nothing."""
        return _check.check(self._open_store())

    def repair(self) -> CheckReport:
        """Fix what ``check`` finds where it can (rebuild indices from records,
        remove temp files and orphans); the report names what is left."""
        return _check.repair(self._open_store())

    def backup_name(self) -> str:
        """The root directory's name, and a hash of its real path."""
        return backup_name(self.root.name, os.path.realpath(self.root))

    def backup(
        self, dest: str | os.PathLike[str], *, progress: ProgressCallback | None = None
    ) -> NativeBackup:
        """Write a consistent snapshot of the store to ``dest`` (a .tar.gz).

        Writers are paused only while the snapshot's hard links are made, not
        while the archive is written. The result is also the archive's path.
        """
        written = _backup.backup(self._open_store(), Path(dest))
        return NativeBackup(written, method="file-snapshot", suffix="tar.gz")

    @classmethod
    def recognizes_backup(cls, head: bytes) -> bool:
        """A gzip file (a ``backup`` archive)."""
        return head.startswith(b"\x1f\x8b")

    @classmethod
    def open_backup(cls, path: Path, workdir: Path) -> Self:
        """The archive unpacked into ``workdir`` and opened."""
        return cls.restore(path, Path(workdir) / "snapshot", durability="normal")

    @classmethod
    def restore(
        cls, archive: str | os.PathLike[str], root: str | os.PathLike[str], **options: Any
    ) -> Self:
        """Unpack a ``backup`` archive into ``root`` (missing or empty) and open it."""
        _backup.restore(Path(archive), Path(root))
        return cls(root, **options)

    def close(self) -> None:
        """Close the store's descriptors. Idempotent."""
        if not self._closed:
            self._closed = True
            self._store.close()

    def __repr__(self) -> str:
        return f"FileAdapter({self._store.root!r}, durability={self.durability!r})"
