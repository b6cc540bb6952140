"""auth-store: one authentication store for Python apps.

The Auth.js adapter model (users, accounts, sessions, verification tokens,
WebAuthn authenticators) plus a credential store for secrets, on memory,
JSON files, SQLite or Postgres::

    import auth_store
    store = auth_store.connect("sqlite:///auth.db")
    store = await auth_store.connect_async("postgresql://.../app")   # the async twin
"""

from __future__ import annotations

from ._version import __version__
from .adapter import Adapter
from .async_adapter import AsyncAdapter
from .connect import connect, connect_async
from .errors import (
    AuthStoreError,
    ConfigurationError,
    ConflictError,
    DecryptionError,
    ErrorCode,
    NoStoreError,
    NotFoundError,
    StorageError,
    TooManyAttemptsError,
    ValidationError,
)
from .models import Account, Authenticator, Credential, Session, User, VerificationToken

__all__ = [
    "Account",
    "Adapter",
    "AsyncAdapter",
    "AuthStoreError",
    "Authenticator",
    "ConfigurationError",
    "ConflictError",
    "Credential",
    "DecryptionError",
    "ErrorCode",
    "NoStoreError",
    "NotFoundError",
    "Session",
    "StorageError",
    "TooManyAttemptsError",
    "User",
    "ValidationError",
    "VerificationToken",
    "__version__",
    "connect",
    "connect_async",
]
