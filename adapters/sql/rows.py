"""Models to statement parameters and rows back to models, for one dialect.

Column orders are those of ``statements``. Readers are on the per-request
hot path, so each unpacks the row tuple once, calls the dialect's loaders
directly and builds ``Session`` and ``User`` without their ``__init__`` (see
``_check_plain``). A value that can't be read (hand-edited JSON, a naive datetime)
becomes a ``StorageError`` naming the collection, never a ``ValueError``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NoReturn

from auth_store.errors import StorageError
from auth_store.models import Account, Authenticator, Credential, Session, User, VerificationToken

from .dialect import Dialect

__all__ = ["RowCodec"]

Row = tuple[Any, ...]
Params = tuple[Any, ...]

# prepare_user_changes' field names, in user_update's SET order.
_USER_CHANGE_ORDER = ("name", "email", "email_verified", "image", "extra")
# prepare_account_changes' field names, in account_update's SET order.
_ACCOUNT_CHANGE_ORDER = (
    "refresh_token",
    "access_token",
    "expires_at",
    "id_token",
    "scope",
    "session_state",
    "token_type",
    "extra",
)
# prepare_session_changes' field names, in session_update's SET order.
_SESSION_CHANGE_ORDER = (
    "expires",
    "user_id",
    "created_at",
    "updated_at",
    "ip_address",
    "user_agent",
)
_SESSION_DATETIMES = frozenset({"expires", "created_at", "updated_at"})


#: Fields of the models the per-request readers build, in declaration order.
_SESSION_FIELDS = (
    "session_token",
    "user_id",
    "expires",
    "id",
    "created_at",
    "updated_at",
    "ip_address",
    "user_agent",
)
_USER_FIELDS = ("id", "email", "email_verified", "name", "image", "extra")
_new = object.__new__


def _check_plain(cls: type, names: tuple[str, ...]) -> None:
    """Refuse to load if ``cls`` is no longer a plain dataclass of exactly ``names``.

    The per-request readers build ``Session`` and ``User`` by setting the
    instance's ``__dict__`` (in field order, as ``__init__`` would) instead of
    calling ``__init__``, whose keyword matching costs as much as the rest of
    decoding the row. That is the same object only while ``__init__`` does
    nothing but assign these fields.
    """
    fields = tuple(f.name for f in dataclasses.fields(cls))
    plain = not hasattr(cls, "__post_init__") and "__slots__" not in vars(cls)
    if fields != names or not plain:
        raise ImportError(f"rows.py builds {cls.__name__} from the fields {names}; update it")


_check_plain(Session, _SESSION_FIELDS)
_check_plain(User, _USER_FIELDS)


def _corrupt(collection: str, exc: Exception) -> NoReturn:
    raise StorageError(f"unreadable row in {collection}: {type(exc).__name__}") from exc


class RowCodec:
    """Converts between models and rows for one dialect."""

    def __init__(self, dialect: Dialect) -> None:
        self._dump_dt = dialect.dump_datetime
        self._load_dt = dialect.load_datetime
        self._dump_json = dialect.dump_json
        self._load_json = dialect.load_json
        self._dump_bool = dialect.dump_bool
        self._load_bool = dialect.load_bool
        self._load_email = dialect.load_email
        #: Collection name -> reader, for export.
        self.readers: dict[str, Callable[[Row], Any]] = {
            "users": self.user,
            "accounts": self.account,
            "sessions": self.session,
            "verification_tokens": self.token,
            "authenticators": self.authenticator,
            "credentials": self.credential,
        }

    # -- models -> parameters ----------------------------------------------

    def user_params(self, u: User) -> Params:
        verified = u.email_verified
        return (
            u.id,
            u.name,
            u.email,
            None if verified is None else self._dump_dt(verified),
            u.image,
            self._dump_json(u.extra),
        )

    def user_change_params(self, changes: dict[str, Any]) -> Params:
        """(flag, value) pairs for ``user_update`` from checked changes."""
        out: list[Any] = []
        for name in _USER_CHANGE_ORDER:
            if name not in changes:
                out += (self._dump_bool(False), None)
                continue
            value = changes[name]
            if name == "email_verified" and value is not None:
                value = self._dump_dt(value)
            elif name == "extra":
                value = self._dump_json(value)
            out += (self._dump_bool(True), value)
        return tuple(out)

    def session_change_params(self, changes: dict[str, Any]) -> Params:
        """(flag, value) pairs for ``session_update`` from checked changes."""
        out: list[Any] = []
        for name in _SESSION_CHANGE_ORDER:
            value = changes.get(name)
            if name in _SESSION_DATETIMES and value is not None:
                value = self._dump_dt(value)
            out += (self._dump_bool(name in changes), value)
        return tuple(out)

    def account_change_params(self, changes: dict[str, Any]) -> Params:
        """(flag, value) pairs for ``account_update`` from checked changes."""
        out: list[Any] = []
        for name in _ACCOUNT_CHANGE_ORDER:
            if name not in changes:
                out += (self._dump_bool(False), None)
                continue
            value = changes[name]
            out += (self._dump_bool(True), self._dump_json(value) if name == "extra" else value)
        return tuple(out)

    def account_params(self, a: Account) -> Params:
        return (
            a.id,
            a.user_id,
            a.type,
            a.provider,
            a.provider_account_id,
            a.refresh_token,
            a.access_token,
            a.expires_at,
            a.id_token,
            a.scope,
            a.session_state,
            a.token_type,
            self._dump_json(a.extra),
        )

    def session_params(self, s: Session) -> Params:
        dump_dt = self._dump_dt
        return (
            s.id,
            s.session_token,
            s.user_id,
            dump_dt(s.expires),
            None if s.created_at is None else dump_dt(s.created_at),
            None if s.updated_at is None else dump_dt(s.updated_at),
            s.ip_address,
            s.user_agent,
        )

    def token_params(self, t: VerificationToken) -> Params:
        return (t.identifier, t.token, self._dump_dt(t.expires))

    def authenticator_params(self, a: Authenticator) -> Params:
        return (
            a.credential_id,
            a.user_id,
            a.provider_account_id,
            a.credential_public_key,
            a.counter,
            a.credential_device_type,
            self._dump_bool(a.credential_backed_up),
            a.transports,
        )

    def credential_params(self, c: Credential) -> Params:
        # prepare_credential fills both timestamps.
        assert c.created_at is not None
        assert c.updated_at is not None
        return (
            c.id,
            c.user_id,
            c.type,
            self._dump_json(c.data),
            c.version,
            self._dump_dt(c.created_at),
            self._dump_dt(c.updated_at),
        )

    # -- rows -> models -----------------------------------------------------

    def user(self, row: Row) -> User:
        try:
            id, name, email, verified, image, extra = row
            user: User = _new(User)
            user.__dict__ = {
                "id": id,
                "email": self._load_email(email),
                "email_verified": None if verified is None else self._load_dt(verified),
                "name": name,
                "image": image,
                "extra": self._load_json(extra),
            }
            return user
        except (ValueError, TypeError) as exc:
            _corrupt("users", exc)

    def session(self, row: Row) -> Session:
        try:
            id, token, user_id, expires, created_at, updated_at, ip_address, user_agent = row
            load_dt = self._load_dt
            session: Session = _new(Session)
            session.__dict__ = {
                "session_token": token,
                "user_id": user_id,
                "expires": load_dt(expires),
                "id": id,
                "created_at": None if created_at is None else load_dt(created_at),
                "updated_at": None if updated_at is None else load_dt(updated_at),
                "ip_address": ip_address,
                "user_agent": user_agent,
            }
            return session
        except (ValueError, TypeError) as exc:
            _corrupt("sessions", exc)

    def session_and_user(self, row: Row) -> tuple[Session, User]:
        """A row of ``session_and_user``: the session's columns, then the user's."""
        return self.session(row[:8]), self.user(row[8:])

    def account(self, row: Row) -> Account:
        try:
            (
                id,
                user_id,
                type,
                provider,
                provider_account_id,
                refresh_token,
                access_token,
                expires_at,
                id_token,
                scope,
                session_state,
                token_type,
                extra,
            ) = row
            return Account(
                id=id,
                user_id=user_id,
                type=type,
                provider=provider,
                provider_account_id=provider_account_id,
                refresh_token=refresh_token,
                access_token=access_token,
                expires_at=None if expires_at is None else int(expires_at),
                token_type=token_type,
                scope=scope,
                id_token=id_token,
                session_state=session_state,
                extra=self._load_json(extra),
            )
        except (ValueError, TypeError) as exc:
            _corrupt("accounts", exc)

    def token(self, row: Row) -> VerificationToken:
        try:
            identifier, token, expires = row
            return VerificationToken(
                identifier=identifier, token=token, expires=self._load_dt(expires)
            )
        except (ValueError, TypeError) as exc:
            _corrupt("verification_tokens", exc)

    def authenticator(self, row: Row) -> Authenticator:
        try:
            cred_id, user_id, pa_id, public_key, counter, device_type, backed_up, transports = row
            return Authenticator(
                credential_id=cred_id,
                user_id=user_id,
                provider_account_id=pa_id,
                credential_public_key=public_key,
                counter=int(counter),
                credential_device_type=device_type,
                credential_backed_up=self._load_bool(backed_up),
                transports=transports,
            )
        except (ValueError, TypeError) as exc:
            _corrupt("authenticators", exc)

    def credential(self, row: Row) -> Credential:
        try:
            id, user_id, type, data, version, created_at, updated_at = row
            return Credential(
                id=id,
                user_id=user_id,
                type=type,
                data=self._load_json(data),
                version=int(version),
                created_at=self._load_dt(created_at),
                updated_at=self._load_dt(updated_at),
            )
        except (ValueError, TypeError) as exc:
            _corrupt("credentials", exc)
