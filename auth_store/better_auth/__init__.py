"""Better Auth for a Python backend: share one database and one session with a Better Auth app.

With ``?flavor=better-auth`` in its URL, the SQLite and Postgres backends keep
the data in Better Auth's own tables (``auth_store.adapters.sql.better_auth``).
This package holds what else both sides must agree on:

- ``sign_cookie``/``verify_cookie``: the signed ``better-auth.session_token``
  cookie, byte for byte as Better Auth writes and checks it
  (``auth_store.better_auth.cookies``);
- ``BetterAuthSessionStrategy`` and ``better_auth_resolver``: the app's
  sessions for ``auth_store.session_resolver`` (cookie or bearer);
- ``password_context``: password hashes in Better Auth's scrypt format
  (``auth_store.better_auth.passwords``);
- ``issue_password_reset``: reset links the app's ``resetPassword`` accepts.

::

    from auth_store import better_auth

    value = better_auth.sign_cookie(token, secret)          # "token.signature"
    assert better_auth.verify_cookie(value, secret) == token
"""

from __future__ import annotations

from .cookies import (
    BETTER_AUTH_COOKIES,
    COOKIE_PREFIX,
    SECURE_PREFIX,
    SESSION_COOKIE,
    encode_cookie_value,
    session_cookie_name,
    sign_cookie,
    verify_cookie,
)
from .env import secret_from_env
from .passwords import BetterAuthScrypt, is_better_auth_hash, password_context
from .strategies import BetterAuthSessionStrategy, better_auth_resolver
from .verification import RESET_PASSWORD_MAX_AGE, issue_password_reset, reset_identifier

__all__ = [
    "BETTER_AUTH_COOKIES",
    "COOKIE_PREFIX",
    "RESET_PASSWORD_MAX_AGE",
    "SECURE_PREFIX",
    "SESSION_COOKIE",
    "BetterAuthScrypt",
    "BetterAuthSessionStrategy",
    "better_auth_resolver",
    "encode_cookie_value",
    "is_better_auth_hash",
    "issue_password_reset",
    "password_context",
    "reset_identifier",
    "secret_from_env",
    "session_cookie_name",
    "sign_cookie",
    "verify_cookie",
]
