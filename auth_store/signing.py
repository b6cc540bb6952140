"""Signed values with ``itsdangerous``: cookies, stateless tokens, CSRF tokens.

Every signature is salted with a *purpose* ("csrf", "second-factor",
"oauth-state", ...), so a value signed for one use is rejected for any other.
Keys rotate the ``itsdangerous`` way: a list ordered oldest to newest, the
newest signs, every key verifies. Retire a key by dropping it from the front
once the longest-lived value signed with it has expired.
"""

from __future__ import annotations

import hmac
import os
import re
import secrets
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import itsdangerous

from . import clock
from .errors import AuthStoreError, ConfigurationError, ErrorCode

__all__ = [
    "MIN_KEY_LENGTH",
    "SECRET_ENV",
    "CsrfProtector",
    "ExpiredSignatureError",
    "InvalidSignatureError",
    "Signer",
    "secret_keys",
]

#: The environment variable holding the app's secret keys (what ``AuthFlow`` hashes tokens with).
SECRET_ENV = "AUTH_STORE_SECRET"  # noqa: S105 - a variable name, not a secret

#: Shortest secret key accepted, in characters (``Signer.generate()`` makes 43).
MIN_KEY_LENGTH = 32
_SALT_PREFIX = "auth-store."


class InvalidSignatureError(AuthStoreError):
    """A signed value was forged, tampered with, or signed for another purpose."""

    code = ErrorCode.INVALID_SIGNATURE


class ExpiredSignatureError(InvalidSignatureError):
    """A signed value was genuine but older than its ``max_age``."""

    code = ErrorCode.EXPIRED_SIGNATURE


class _ClockTimestampSigner(itsdangerous.TimestampSigner):
    # Read the time through auth_store.clock so tests can move it.
    def get_timestamp(self) -> int:
        return int(clock.now().timestamp())


def _keys(secret_keys: str | Sequence[str]) -> tuple[str, ...]:
    keys = (secret_keys,) if isinstance(secret_keys, str) else tuple(secret_keys)
    if not keys:
        raise ConfigurationError("at least one secret key is needed")
    for key in keys:
        if not isinstance(key, str) or len(key) < MIN_KEY_LENGTH:
            raise ConfigurationError(
                f"every secret key must be a string of at least {MIN_KEY_LENGTH} characters "
                "(make one with auth_store.signing.Signer.generate())"
            )
    return keys


def _split(raw: str) -> list[str]:
    return [key for key in re.split(r"[,\s]+", raw) if key]


def secret_keys(env: str = SECRET_ENV, *, file: str | os.PathLike[str] | None = None) -> list[str]:
    """The app's secret keys, oldest first: from the variable ``env``, else from ``file``.

    Keys are separated by commas or white space, in the variable and in the
    file alike. Everything that needs the web app's secret outside the app
    (``auth-store links issue``, ``examples/issue_magic_link.py``, the demo
    apps) finds it here, so that they all find the same one.
    ``ConfigurationError`` when neither holds a key or the file can't be read.
    """
    keys = _split(os.environ.get(env, ""))
    if keys or file is None:
        if not keys:
            raise ConfigurationError(
                f"{env} is not set: it holds the app's secret key(s) "
                "(make one with auth_store.signing.Signer.generate())"
            )
        return keys
    try:
        with open(file, encoding="utf-8") as stream:
            keys = _split(stream.read())
    except FileNotFoundError:
        raise ConfigurationError(f"{env} is not set and {os.fspath(file)} does not exist") from None
    except (OSError, UnicodeError) as exc:
        raise ConfigurationError(f"cannot read the secret file {os.fspath(file)}") from exc
    if not keys:
        raise ConfigurationError(f"{env} is not set and {os.fspath(file)} holds no key")
    return keys


class Signer:
    """Signs and verifies values for a purpose, with keys ordered oldest to newest."""

    def __init__(self, secret_keys: str | Sequence[str]) -> None:
        self._keys = _keys(secret_keys)

    def __repr__(self) -> str:
        return f"Signer(<{len(self._keys)} key(s)>)"

    @staticmethod
    def generate() -> str:
        """A new random secret key (256 bits, URL-safe text)."""
        return secrets.token_urlsafe(32)

    @classmethod
    def from_env(cls, name: str = SECRET_ENV) -> Signer:
        """Keys from an environment variable: separated by commas or spaces, oldest first."""
        return cls(secret_keys(name))

    @property
    def secret_keys(self) -> tuple[str, ...]:
        """The keys, oldest first (the last one signs)."""
        return self._keys

    def _serializer(self, purpose: str) -> itsdangerous.URLSafeTimedSerializer:
        return itsdangerous.URLSafeTimedSerializer(
            list(self._keys), salt=_SALT_PREFIX + purpose, signer=_ClockTimestampSigner
        )

    def dumps(self, value: Any, *, purpose: str) -> str:
        """Sign a JSON-serialisable ``value`` with a timestamp, for ``purpose``."""
        return self._serializer(purpose).dumps(value)

    def loads(self, token: str, *, purpose: str, max_age: timedelta | None = None) -> Any:
        """Verify and return what ``dumps`` signed for ``purpose``.

        Raises ``ExpiredSignatureError`` when older than ``max_age`` and
        ``InvalidSignatureError`` for anything not signed by one of the keys
        for this purpose.
        """
        seconds = None if max_age is None else int(max_age.total_seconds())
        try:
            return self._serializer(purpose).loads(token, max_age=seconds)
        except itsdangerous.SignatureExpired:
            raise ExpiredSignatureError("the signed value has expired") from None
        except (itsdangerous.BadData, UnicodeError, ValueError, TypeError):
            raise InvalidSignatureError("the signed value is not valid") from None

    def sign(self, value: str, *, purpose: str) -> str:
        """Sign a string without a timestamp (``value.signature``)."""
        signer = itsdangerous.Signer(list(self._keys), salt=_SALT_PREFIX + purpose)
        return signer.sign(value).decode()

    def unsign(self, signed: str, *, purpose: str) -> str:
        """The string ``sign`` signed for ``purpose``; ``InvalidSignatureError`` otherwise."""
        signer = itsdangerous.Signer(list(self._keys), salt=_SALT_PREFIX + purpose)
        try:
            return signer.unsign(signed).decode()
        except (itsdangerous.BadData, UnicodeError, ValueError, TypeError):
            raise InvalidSignatureError("the signed value is not valid") from None


class CsrfProtector:
    """Signed double-submit CSRF tokens.

    The browser holds a random value in a cookie (``new_cookie_value``); forms
    carry ``token_for(cookie_value)``, a signature of it. A post is accepted
    only when its token verifies and names the cookie it came with, so a
    cross-site page, which can neither read that cookie nor sign, cannot forge
    one. Rotate the cookie at sign-in.
    """

    purpose = "csrf"

    def __init__(self, signer: Signer) -> None:
        self._signer = signer

    @staticmethod
    def new_cookie_value() -> str:
        """A fresh random value for the CSRF cookie."""
        return secrets.token_urlsafe(32)

    def token_for(self, cookie_value: str) -> str:
        """The token a form must send back along with ``cookie_value``."""
        return self._signer.dumps(cookie_value, purpose=self.purpose)

    def check(self, cookie_value: str | None, token: str | None) -> bool:
        """Whether ``token`` is valid and bound to ``cookie_value``."""
        if not cookie_value or not token:
            return False
        try:
            bound = self._signer.loads(token, purpose=self.purpose)
        except InvalidSignatureError:
            return False
        return isinstance(bound, str) and hmac.compare_digest(bound, cookie_value)
