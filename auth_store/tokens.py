"""Verification tokens: magic-link sign-in, e-mail verification, password reset.

A token is 32 random bytes as 64 hex characters (what Auth.js's
``randomString(32)`` makes). The store keeps only
``sha256(token + secret)`` in hex, which is exactly what Auth.js's e-mail
provider writes and looks up, so with the same secret (Auth.js's
``AUTH_SECRET``) a magic link issued here signs in on an Auth.js app reading
the same database, and the other way round. Sign-in tokens use the
normalised e-mail as their identifier, as Auth.js does; the other purposes
prefix it (``reset-password:ann@example.com``) so a token issued for one
purpose can never be spent on another.

Consumption goes through the adapter's atomic ``use_verification_token``, so
a token works once. Links should open a page with a button that posts the
token back (the confirm step): mail scanners that fetch every link then do
not burn it.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from urllib.parse import urlencode

from . import clock
from ._twins import Steps, StoreT, Twin, twin
from .adapter import Adapter
from .errors import ConfigurationError, ValidationError
from .models import VerificationToken
from .validation import normalize_email

__all__ = [
    "DEFAULT_LIFETIMES",
    "ConsumedToken",
    "IssuedToken",
    "TokenPurpose",
    "TokenService",
    "TokenServiceCore",
    "hash_token",
]

_MAX_TOKEN_LENGTH = 512


class TokenPurpose(StrEnum):
    """What a verification token may be spent on."""

    SIGN_IN = "sign-in"
    VERIFY_EMAIL = "verify-email"
    RESET_PASSWORD = "reset-password"  # noqa: S105 - a purpose name


#: How long each kind of token lives unless the service is told otherwise.
DEFAULT_LIFETIMES: Mapping[TokenPurpose, timedelta] = {
    TokenPurpose.SIGN_IN: timedelta(hours=24),  # Auth.js's default maxAge
    TokenPurpose.VERIFY_EMAIL: timedelta(hours=24),
    TokenPurpose.RESET_PASSWORD: timedelta(hours=1),
}


def _purpose(value: str) -> TokenPurpose:
    try:
        return TokenPurpose(value)
    except ValueError:
        known = ", ".join(p.value for p in TokenPurpose)
        raise ValidationError(f"token purpose must be one of: {known}") from None


def hash_token(token: str, secret: str) -> str:
    """What Auth.js stores for a token: the hex SHA-256 of ``token + secret``."""
    return hashlib.sha256(f"{token}{secret}".encode()).hexdigest()


@dataclass(frozen=True, kw_only=True)
class IssuedToken:
    """A token just stored; send ``token`` to ``email`` and forget it."""

    email: str
    purpose: TokenPurpose
    token: str = field(repr=False)
    expires: datetime

    def link(self, url: str) -> str:
        """``url`` with ``token`` and ``email`` query parameters (Auth.js's names)."""
        separator = "&" if "?" in url else "?"
        return f"{url}{separator}{urlencode({'token': self.token, 'email': self.email})}"


@dataclass(frozen=True, kw_only=True)
class ConsumedToken:
    """A token that was valid and is now spent."""

    email: str
    purpose: TokenPurpose


class TokenServiceCore(Twin[StoreT]):
    """Issues and consumes single-use verification tokens.

    ``secret`` is one string or several ordered oldest to newest: the newest
    hashes new tokens, all of them are tried when consuming. For links shared
    with an Auth.js app use that app's ``AUTH_SECRET``.
    """

    def __init__(
        self,
        adapter: StoreT,
        secret: str | Sequence[str],
        *,
        lifetimes: Mapping[TokenPurpose, timedelta] | None = None,
    ) -> None:
        secrets_ = (secret,) if isinstance(secret, str) else tuple(secret)
        if not secrets_ or not all(isinstance(s, str) and s for s in secrets_):
            raise ConfigurationError("a token secret must be a non-empty string")
        super().__init__(adapter)
        self._secrets = secrets_
        self.lifetimes = {**DEFAULT_LIFETIMES, **(lifetimes or {})}

    def __repr__(self) -> str:
        return f"TokenService(<{len(self._secrets)} secret(s)>)"

    @staticmethod
    def identifier(email: str, purpose: TokenPurpose = TokenPurpose.SIGN_IN) -> str:
        """The stored identifier: the normalised e-mail, prefixed unless signing in.

        ``purpose`` may also be given as its text (``"reset-password"``).
        """
        purpose = _purpose(purpose)
        normal = normalize_email(email)
        return normal if purpose is TokenPurpose.SIGN_IN else f"{purpose.value}:{normal}"

    @twin
    def issue(
        self,
        email: str,
        purpose: TokenPurpose = TokenPurpose.SIGN_IN,
        *,
        max_age: timedelta | None = None,
    ) -> Steps[IssuedToken]:
        """Store a new token for ``email`` and return it (the only copy of the plain token)."""
        purpose = _purpose(purpose)
        lifetime = self.lifetimes[purpose] if max_age is None else max_age
        if lifetime <= timedelta(0):
            raise ValidationError("a token lifetime must be positive")
        token = secrets.token_hex(32)
        expires = clock.now() + lifetime
        yield from self._store(
            Adapter.create_verification_token,
            VerificationToken(
                identifier=self.identifier(email, purpose),
                token=hash_token(token, self._secrets[-1]),
                expires=expires,
            ),
        )
        return IssuedToken(
            email=normalize_email(email), purpose=purpose, token=token, expires=expires
        )

    @twin
    def consume(
        self, email: str, token: str, purpose: TokenPurpose = TokenPurpose.SIGN_IN
    ) -> Steps[ConsumedToken | None]:
        """Spend a token: ``ConsumedToken`` if it was stored and unexpired, else ``None``.

        The token is deleted in either case, so it never works twice.
        """
        purpose = _purpose(purpose)
        if not isinstance(token, str) or not token or len(token) > _MAX_TOKEN_LENGTH:
            return None
        try:
            identifier = self.identifier(email, purpose)
        except ValidationError:
            return None
        for secret in reversed(self._secrets):
            used = yield from self._store(
                Adapter.use_verification_token, identifier, hash_token(token, secret)
            )
            if used is not None:
                if used.expires <= clock.now():
                    return None
                return ConsumedToken(email=normalize_email(email), purpose=purpose)
        return None


class TokenService(TokenServiceCore[Adapter]):
    """Verification tokens on a sync store (``auth_store.aio.TokenService`` is the async twin)."""
