"""The records an auth store holds, as plain dataclasses.

They mirror the Auth.js adapter models (``User``, ``Account``, ``Session``,
``VerificationToken``, ``Authenticator``) plus ``Credential``, the storage of
secrets. Construct them with keywords. A record that has an ``id`` gets a
fresh one when it is built, unless one is given (an import keeps its ids), so
``id`` is always a ``str``. Secret-bearing fields are left out of ``repr``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, TypeAlias

__all__ = [
    "ACCOUNT_TOKEN_FIELDS",
    "COLLECTIONS",
    "Account",
    "AccountType",
    "Authenticator",
    "Credential",
    "Model",
    "Session",
    "User",
    "VerificationToken",
    "new_id",
]


def new_id() -> str:
    """A fresh random id (a UUID4 in its canonical text form)."""
    return str(uuid.uuid4())


AccountType: TypeAlias = Literal["oauth", "oidc", "email", "webauthn"]


@dataclass(kw_only=True)
class User:
    """A person. ``email`` is stored normalised (NFKC, trimmed, lower-case)."""

    id: str = field(default_factory=new_id)
    email: str
    email_verified: datetime | None = None
    name: str | None = None
    image: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


#: Provider token fields that ``Account`` stores in columns of their own.
ACCOUNT_TOKEN_FIELDS = (
    "refresh_token",
    "access_token",
    "expires_at",
    "token_type",
    "scope",
    "id_token",
    "session_state",
)


@dataclass(kw_only=True)
class Account:
    """A sign-in method linked to a user: an OAuth/OIDC provider, e-mail or WebAuthn.

    ``expires_at`` is whole seconds since the epoch. Provider token fields that
    have no column of their own live in ``extra``.
    """

    user_id: str
    type: AccountType
    provider: str
    provider_account_id: str
    refresh_token: str | None = field(default=None, repr=False)
    access_token: str | None = field(default=None, repr=False)
    expires_at: int | None = None
    token_type: str | None = None
    scope: str | None = None
    id_token: str | None = field(default=None, repr=False)
    session_state: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, repr=False)
    id: str = field(default_factory=new_id)

    @classmethod
    def from_token(
        cls,
        *,
        user_id: str,
        type: AccountType,
        provider: str,
        provider_account_id: str,
        token: dict[str, Any],
    ) -> Account:
        """Build an account from a provider's token response.

        Known fields go to their attributes; every other field (``ext_expires_in``,
        ``not-before-policy``, ...) goes to ``extra`` rather than raising.
        """
        known = {k: token[k] for k in ACCOUNT_TOKEN_FIELDS if k in token}
        extra = {k: v for k, v in token.items() if k not in ACCOUNT_TOKEN_FIELDS}
        return cls(
            user_id=user_id,
            type=type,
            provider=provider,
            provider_account_id=provider_account_id,
            extra=extra,
            **known,
        )


@dataclass(kw_only=True)
class Session:
    """A database session. ``expires`` is a timezone-aware UTC datetime.

    The optional fields describe the session for a "your sessions" page:
    ``created_at`` (when it started), ``updated_at`` (when it was last seen),
    ``ip_address`` and ``user_agent`` (of the client that started it). They
    default to ``None`` and are stored as given: the session layer
    (``auth_store.sessions``) fills them, the adapter does not.
    """

    session_token: str = field(repr=False)
    user_id: str
    expires: datetime
    id: str = field(default_factory=new_id)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    ip_address: str | None = None
    user_agent: str | None = None


@dataclass(kw_only=True)
class VerificationToken:
    """A single-use token (magic link, e-mail verification, password reset)."""

    identifier: str
    token: str = field(repr=False)
    expires: datetime


@dataclass(kw_only=True)
class Authenticator:
    """A WebAuthn credential registered by a user."""

    credential_id: str
    user_id: str
    provider_account_id: str
    credential_public_key: str
    counter: int
    credential_device_type: str
    credential_backed_up: bool
    transports: str | None = None


@dataclass(kw_only=True)
class Credential:
    """Stored secret material for a user: a password hash, a TOTP secret, ...

    ``data`` holds hashes and ciphertexts only, never plaintext secrets, and is
    left out of ``repr``. ``version`` starts at 1 and grows by one on every
    successful compare-and-set update.
    """

    id: str = field(default_factory=new_id)
    user_id: str
    type: str
    data: dict[str, Any] = field(repr=False)
    version: int = 1
    created_at: datetime | None = None
    updated_at: datetime | None = None


Model: TypeAlias = User | Account | Session | VerificationToken | Authenticator | Credential

#: Collection names in dependency order (users first), with the model each holds.
COLLECTIONS: dict[str, type[Model]] = {
    "users": User,
    "accounts": Account,
    "sessions": Session,
    "verification_tokens": VerificationToken,
    "authenticators": Authenticator,
    "credentials": Credential,
}
