"""The exception hierarchy: every error auth-store raises is an ``AuthStoreError``.

Backends wrap driver errors in ``StorageError`` with ``raise ... from exc`` so the
cause stays on ``__cause__`` while callers catch one family. Messages never
contain secrets (tokens, passwords, key material, ciphertexts).
"""

from __future__ import annotations

__all__ = [
    "AuthStoreError",
    "ConfigurationError",
    "ConflictError",
    "DecryptionError",
    "NotFoundError",
    "StorageError",
    "TooManyAttemptsError",
    "ValidationError",
]


class AuthStoreError(Exception):
    """Root of every error raised by auth-store."""


class NotFoundError(AuthStoreError):
    """An update addressed a record that does not exist."""


class ConflictError(AuthStoreError):
    """A unique key (e-mail, provider account, session token, id, ...) is taken."""


class ValidationError(AuthStoreError, ValueError):
    """Input was rejected before it reached storage (bad id, naive datetime, wrong type)."""


class StorageError(AuthStoreError):
    """The storage failed: a driver error, an unreadable file, a lost connection."""


class DecryptionError(AuthStoreError):
    """A ciphertext could not be decrypted (unknown key, tampered, or moved).

    ``reason`` names the case: ``malformed``, ``unsupported_version``,
    ``unknown_key``, ``wrong_context`` (bound to another record or field) or
    ``tampered``.
    """

    def __init__(self, message: str = "cannot decrypt", *, reason: str = "unknown") -> None:
        super().__init__(message)
        self.reason = reason


class ConfigurationError(AuthStoreError):
    """The store or a service is configured wrongly (bad URL, missing key)."""


class TooManyAttemptsError(AuthStoreError):
    """Too many consecutive failed checks: retry after ``retry_after`` seconds.

    ``retry_after`` is ``None`` when the account is locked until an explicit reset.
    """

    def __init__(
        self, message: str = "too many attempts", *, retry_after: int | None = None
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after


for _cls in (
    AuthStoreError,
    NotFoundError,
    ConflictError,
    ValidationError,
    StorageError,
    DecryptionError,
    ConfigurationError,
    TooManyAttemptsError,
):
    _cls.__module__ = "auth_store"
