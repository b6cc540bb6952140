"""Models to Better Auth's rows and back, for the ``better-auth`` flavor.

Where the models and Better Auth's columns differ, the mapping is here, once:

* ``User.email_verified`` (a time) is Better Auth's ``emailVerified`` boolean;
  the time goes to the side table (a row Better Auth marked verified without
  one reads its ``updatedAt``). ``User.name`` None is Better Auth's required
  name as ``''``, flagged in the side table.
* ``Account.expires_at`` (whole seconds) is ``accessTokenExpiresAt``;
  ``extra["refresh_token_expires_at"]`` (whole seconds) is
  ``refreshTokenExpiresAt``. Scopes are space-separated here (OAuth's form,
  Auth.js's) and comma-separated in Better Auth; a scope the conversion
  would change is kept as given in the side table, and read back as given
  while Better Auth's column still says the same.
* ``type``, ``token_type``, ``session_state`` and the rest of ``extra`` have no
  column: side table. A row Better Auth wrote is ``oidc`` when it holds an ID
  token, else ``oauth``.
* A ``Credential`` of type ``password`` is the credential account
  (``providerId = 'credential'``, ``accountId`` = the user id, the hash in
  ``password``): the account Better Auth's e-mail and password sign-in reads.
* A ``Session``'s None ``created_at``/``updated_at`` become now in Better
  Auth's required columns, and the side table keeps that placeholder.
* A ``VerificationToken`` is a ``verification`` row whose ``identifier`` is the
  token and ``value`` the identifier; its id is derived from both, so the
  primary key refuses a second equal token.
"""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime
from typing import Any

from auth_store.errors import StorageError, ValidationError
from auth_store.models import Account, Credential, Session, User, VerificationToken

from .dialect import Dialect
from .rows import Params, Row

__all__ = [
    "REFRESH_EXPIRES_KEY",
    "BetterAuthRows",
    "scope_from_better_auth",
    "scope_to_better_auth",
    "token_row_id",
]

#: ``Account.extra`` key of ``refreshTokenExpiresAt`` (whole seconds since the epoch).
REFRESH_EXPIRES_KEY = "refresh_token_expires_at"


def scope_to_better_auth(scope: str | None) -> str | None:
    """A scope as Better Auth stores it: comma-separated."""
    return None if scope is None else ",".join(scope.split())


def scope_from_better_auth(scope: str | None) -> str | None:
    """Better Auth's comma-separated scope, space-separated as OAuth and Auth.js write it."""
    return None if scope is None else " ".join(s for s in scope.split(",") if s)


def token_row_id(identifier: str, token: str) -> str:
    """The ``verification`` id of a token: one per (identifier, token)."""
    digest = hashlib.sha256(f"{identifier}\x00{token}".encode("utf-8", "surrogatepass"))
    return f"vt-{digest.hexdigest()[:40]}"


def _seconds(value: datetime | None) -> int | None:
    return None if value is None else math.floor(value.timestamp())


def _corrupt(collection: str, exc: Exception) -> StorageError:
    return StorageError(f"unreadable row in {collection}: {type(exc).__name__}")


class BetterAuthRows:
    """Parameters for the flavor's statements, and its rows read back as models."""

    def __init__(self, dialect: Dialect) -> None:
        self._dump_dt = dialect.dump_datetime
        self._load_dt = dialect.load_datetime
        self._dump_json = dialect.dump_json
        self._load_json = dialect.load_json
        self._dump_bool = dialect.dump_bool

    def _instant(self, seconds: int, what: str) -> Any:
        try:
            return self._dump_dt(datetime.fromtimestamp(seconds, UTC))
        except (OverflowError, OSError, ValueError):
            raise ValidationError(
                f"{what} is out of the range of Better Auth's timestamps"
            ) from None

    # -- users -------------------------------------------------------------------

    def user_params(self, u: User, created: datetime, updated: datetime) -> Params:
        return (
            u.id,
            "" if u.name is None else u.name,
            u.email,
            self._dump_bool(u.email_verified is not None),
            u.image,
            self._dump_dt(created),
            self._dump_dt(updated),
        )

    def user_side(self, u: User) -> Params | None:
        """The side row of a user, or ``None`` when it would hold only defaults."""
        if not u.extra and u.email_verified is None and u.name is not None:
            return None
        verified = u.email_verified
        return (
            u.id,
            self._dump_json(u.extra),
            None if verified is None else self._dump_dt(verified),
            self._dump_bool(u.name is None),
        )

    # -- accounts ----------------------------------------------------------------

    def account_params(self, a: Account, created: datetime, updated: datetime) -> Params:
        refresh = a.extra.get(REFRESH_EXPIRES_KEY)
        refresh_at = None
        if isinstance(refresh, int) and not isinstance(refresh, bool):
            refresh_at = self._instant(refresh, REFRESH_EXPIRES_KEY)
        return (
            a.id,
            a.provider_account_id,
            a.provider,
            a.user_id,
            a.access_token,
            a.refresh_token,
            a.id_token,
            None if a.expires_at is None else self._instant(a.expires_at, "expires_at"),
            refresh_at,
            scope_to_better_auth(a.scope),
            self._dump_dt(created),
            self._dump_dt(updated),
        )

    def account_change_params(self, a: Account, updated: datetime) -> Params:
        (_, _, _, _, access, refresh, id_token, expires, refresh_expires, scope, _, _) = (
            self.account_params(a, updated, updated)
        )
        return (access, refresh, id_token, expires, refresh_expires, scope, self._dump_dt(updated))

    def account_side(self, a: Account) -> Params | None:
        """The side row of an account, or ``None`` when it would hold only defaults."""
        extra = {
            k: v for k, v in a.extra.items() if not (k == REFRESH_EXPIRES_KEY and _is_seconds(v))
        }
        default_type = "oidc" if a.id_token is not None else "oauth"
        scope = (
            a.scope if scope_from_better_auth(scope_to_better_auth(a.scope)) != a.scope else None
        )
        if (
            a.type == default_type
            and a.token_type is None
            and a.session_state is None
            and scope is None
            and not extra
        ):
            return None
        return (a.id, a.type, a.token_type, a.session_state, scope, self._dump_json(extra))

    def account(self, row: Row) -> Account:
        """A row of the ``account`` statements (see ``better_auth_statements``)."""
        try:
            (
                id,
                user_id,
                type,
                provider,
                provider_account_id,
                refresh_token,
                access_token,
                expires,
                id_token,
                scope,
                given_scope,
                session_state,
                token_type,
                extra,
                refresh_expires,
            ) = row
            load_dt = self._load_dt
            found = self._load_json(extra)
            if refresh_expires is not None:
                found[REFRESH_EXPIRES_KEY] = _seconds(load_dt(refresh_expires))
            if given_scope is not None and scope_to_better_auth(given_scope) == scope:
                scope = given_scope
            else:
                scope = scope_from_better_auth(scope)
            return Account(
                id=id,
                user_id=user_id,
                type=type or ("oidc" if id_token is not None else "oauth"),
                provider=provider,
                provider_account_id=provider_account_id,
                refresh_token=refresh_token,
                access_token=access_token,
                expires_at=None if expires is None else _seconds(load_dt(expires)),
                token_type=token_type,
                scope=scope,
                id_token=id_token,
                session_state=session_state,
                extra=found,
            )
        except (ValueError, TypeError, OverflowError) as exc:
            raise _corrupt("accounts", exc) from exc

    # -- sessions ----------------------------------------------------------------

    def session_params(self, s: Session, now: datetime) -> Params:
        dump = self._dump_dt
        return (
            s.id,
            dump(s.expires),
            s.session_token,
            dump(now if s.created_at is None else s.created_at),
            dump(now if s.updated_at is None else s.updated_at),
            s.ip_address,
            s.user_agent,
            s.user_id,
        )

    def session_change_params(self, s: Session, now: datetime) -> Params:
        id, expires, _, created, updated, ip, agent, user_id = self.session_params(s, now)
        return (expires, created, updated, ip, agent, user_id, id)

    def session_side(self, s: Session, now: datetime) -> Params | None:
        """The placeholders written for None timestamps, or ``None`` when there are none."""
        if s.created_at is not None and s.updated_at is not None:
            return None
        placeholder = self._dump_dt(now)
        return (
            s.id,
            placeholder if s.created_at is None else None,
            placeholder if s.updated_at is None else None,
        )

    # -- verification tokens -------------------------------------------------------

    def token_params(self, t: VerificationToken, now: datetime) -> Params:
        stamp = self._dump_dt(now)
        return (
            token_row_id(t.identifier, t.token),
            t.token,
            t.identifier,
            self._dump_dt(t.expires),
            stamp,
            stamp,
        )

    # -- credentials ---------------------------------------------------------------

    def credential_params(self, c: Credential) -> Params:
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

    @staticmethod
    def split_password(data: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
        """A password credential's data as (hash for ``account.password``, the rest)."""
        hash_ = data.get("hash")
        if isinstance(hash_, str):
            return hash_, {k: v for k, v in data.items() if k != "hash"}
        return None, data

    def password_params(self, c: Credential) -> Params:
        assert c.created_at is not None
        assert c.updated_at is not None
        hash_, _ = self.split_password(c.data)
        return (
            c.id,
            c.user_id,
            c.user_id,
            hash_,
            self._dump_dt(c.created_at),
            self._dump_dt(c.updated_at),
        )

    def password_side(self, c: Credential) -> Params:
        """Version, other data and the "updatedAt" the version counts (always written).

        With it, a change Better Auth makes to the row later (a reset, its
        ``updatedAt`` moves) counts as a new version (see the statements).
        """
        assert c.updated_at is not None
        _, rest = self.split_password(c.data)
        return (c.id, self._dump_json(rest), c.version, self._dump_dt(c.updated_at))

    def credential(self, row: Row) -> Credential:
        """A row of the credential statements: both kinds in one shape."""
        try:
            id, user_id, type, data, hash_, version, created_at, updated_at = row
            found = self._load_json(data)
            if hash_ is not None:
                found = {"hash": hash_, **found}
            return Credential(
                id=id,
                user_id=user_id,
                type=type,
                data=found,
                version=int(version),
                created_at=self._load_dt(created_at),
                updated_at=self._load_dt(updated_at),
            )
        except (ValueError, TypeError) as exc:
            raise _corrupt("credentials", exc) from exc


def _is_seconds(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
