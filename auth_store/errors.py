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
    """A ciphertext could not be decrypted (unknown key, tampered, or moved)."""


class ConfigurationError(AuthStoreError):
    """The store or a service is configured wrongly (bad URL, missing key)."""


for _cls in (
    AuthStoreError,
    NotFoundError,
    ConflictError,
    ValidationError,
    StorageError,
    DecryptionError,
    ConfigurationError,
):
    _cls.__module__ = "auth_store"
