"""The exception hierarchy: every error auth-store raises is an ``AuthStoreError``.

Backends wrap driver errors in ``StorageError`` with ``raise ... from exc`` so the
cause stays on ``__cause__`` while callers catch one family. Messages never
contain secrets (tokens, passwords, key material, ciphertexts).

Every error class carries a stable, machine-readable ``code`` (an
``ErrorCode``) beside its human message: clients branch on the code, people
read the message, and the message may be reworded without breaking anyone.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

__all__ = [
    "AuthStoreError",
    "ConfigurationError",
    "ConflictError",
    "DecryptionError",
    "ErrorCode",
    "NoStoreError",
    "NotFoundError",
    "StorageError",
    "TooManyAttemptsError",
    "ValidationError",
    "as_sentence",
]


class ErrorCode(StrEnum):
    """The stable codes of auth-store's errors (``error.code``, and the ``code`` of HTTP errors)."""

    ERROR = "error"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    INVALID_INPUT = "invalid_input"
    STORAGE = "storage_error"
    NATIVE_BACKUP_UNAVAILABLE = "native_backup_unavailable"
    DECRYPTION_FAILED = "decryption_failed"
    CONFIGURATION = "configuration_error"
    NO_STORE = "no_store"
    TOO_MANY_ATTEMPTS = "too_many_attempts"
    TARGET_NOT_EMPTY = "target_not_empty"
    PASSWORD_REJECTED = "password_rejected"  # noqa: S105 - a code, not a password
    INVALID_SIGNATURE = "invalid_signature"
    EXPIRED_SIGNATURE = "expired_signature"
    # The sign-in flow (auth_store.flow, auth_store.oauth)
    BAD_REQUEST = "bad_request"
    INVALID_EMAIL = "invalid_email"
    INVALID_CREDENTIALS = "invalid_credentials"
    INVALID_CODE = "invalid_code"
    INVALID_LINK = "invalid_link"
    EMAIL_NOT_VERIFIED = "email_not_verified"
    NOT_SIGNED_IN = "not_signed_in"
    THROTTLED = "throttled"
    OAUTH_FAILED = "oauth_failed"
    OAUTH_ACCOUNT_NOT_LINKED = "oauth_account_not_linked"
    REAUTHENTICATION_REQUIRED = "reauthentication_required"
    # Passkeys (auth_store.passkeys)
    PASSKEY_FAILED = "passkey_failed"
    PASSKEY_INVALID_RESPONSE = "passkey_invalid_response"
    PASSKEY_REFUSED = "passkey_refused"
    PASSKEY_CHALLENGE_INVALID = "passkey_challenge_invalid"
    PASSKEY_COUNTER_REGRESSED = "passkey_counter_regressed"
    PASSKEY_EXISTS = "passkey_exists"
    # Session tokens of a JavaScript front end (auth_store.authjs)
    INVALID_TOKEN = "invalid_token"  # noqa: S105 - a code, not a token
    EXPIRED_TOKEN = "expired_token"  # noqa: S105 - a code, not a token


class AuthStoreError(Exception):
    """Root of every error raised by auth-store; ``code`` names the kind for machines."""

    code: ClassVar[ErrorCode] = ErrorCode.ERROR


class NotFoundError(AuthStoreError):
    """An update addressed a record that does not exist."""

    code = ErrorCode.NOT_FOUND


class ConflictError(AuthStoreError):
    """A unique key (e-mail, provider account, session token, id, ...) is taken."""

    code = ErrorCode.CONFLICT


class ValidationError(AuthStoreError, ValueError):
    """Input was rejected before it reached storage (bad id, naive datetime, wrong type)."""

    code = ErrorCode.INVALID_INPUT


class StorageError(AuthStoreError):
    """The storage failed: a driver error, an unreadable file, a lost connection."""

    code = ErrorCode.STORAGE


class DecryptionError(AuthStoreError):
    """A ciphertext could not be decrypted (unknown key, tampered, or moved).

    ``reason`` names the case: ``malformed``, ``unsupported_version``,
    ``unknown_key``, ``wrong_context`` (bound to another record or field) or
    ``tampered``.
    """

    code = ErrorCode.DECRYPTION_FAILED

    def __init__(self, message: str = "cannot decrypt", *, reason: str = "unknown") -> None:
        super().__init__(message)
        self.reason = reason


class ConfigurationError(AuthStoreError):
    """The store or a service is configured wrongly (bad URL, missing key)."""

    code = ErrorCode.CONFIGURATION


class TooManyAttemptsError(AuthStoreError):
    """Too many consecutive failed checks: retry after ``retry_after`` seconds.

    ``retry_after`` is ``None`` when the account is locked until an explicit reset.
    """

    code = ErrorCode.TOO_MANY_ATTEMPTS

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


class NoStoreError(ConfigurationError):
    """A store URL opened for an existing store names none (``connect(url, create=False)``).

    Nothing was created; the message says where no store was found (never a password).
    """

    code = ErrorCode.NO_STORE


def as_sentence(text: str) -> str:
    """An error message as people read it: a capital first letter and a final stop.

    The core's messages are fragments (``password must be at least 8
    characters``), fine in a log or a traceback; what a page or an HTTP
    answer shows goes through this (``Password must be at least 8 characters.``).
    """
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?" else text + "."
