"""Auth.js (NextAuth) sessions for a Python backend: read and issue a Next.js app's sessions.

- ``encode``/``decode`` (and next-auth 4's ``encode_v4``/``decode_v4``): the
  encrypted JWT session token, byte-compatible with ``@auth/core/jwt``
  (``auth_store.authjs.jwt``);
- the session cookie's names and its chunking across cookies
  (``auth_store.authjs.cookies``);
- the JWT and database session strategies for
  ``auth_store.session_resolver``, and ``authjs_resolver`` that builds one
  for an app (``auth_store.authjs.strategies``).

::

    from auth_store import authjs

    token = authjs.encode({"sub": user.id}, secret=secret, salt="authjs.session-token")
    claims = authjs.decode(token, secret=secret, salt="authjs.session-token")
"""

from __future__ import annotations

from .cookies import (
    AUTHJS_COOKIES,
    CHUNK_SIZE,
    NEXTAUTH_V4_COOKIES,
    SECURE_PREFIX,
    SESSION_COOKIE,
    V4_CHUNK_SIZE,
    V4_SESSION_COOKIE,
    CookieWrite,
    SessionCookie,
    read_session_cookie,
    session_cookie_name,
    session_cookie_writes,
)
from .jwt import (
    DEFAULT_CLOCK_TOLERANCE,
    DEFAULT_MAX_AGE,
    MAX_TOKEN_SIZE,
    ExpiredTokenError,
    InvalidTokenError,
    decode,
    decode_v4,
    encode,
    encode_v4,
    secret_from_env,
)
from .strategies import AuthJsDatabaseStrategy, AuthJsJwtStrategy, authjs_resolver

__all__ = [
    "AUTHJS_COOKIES",
    "CHUNK_SIZE",
    "DEFAULT_CLOCK_TOLERANCE",
    "DEFAULT_MAX_AGE",
    "MAX_TOKEN_SIZE",
    "NEXTAUTH_V4_COOKIES",
    "SECURE_PREFIX",
    "SESSION_COOKIE",
    "V4_CHUNK_SIZE",
    "V4_SESSION_COOKIE",
    "AuthJsDatabaseStrategy",
    "AuthJsJwtStrategy",
    "CookieWrite",
    "ExpiredTokenError",
    "InvalidTokenError",
    "SessionCookie",
    "authjs_resolver",
    "decode",
    "decode_v4",
    "encode",
    "encode_v4",
    "read_session_cookie",
    "secret_from_env",
    "session_cookie_name",
    "session_cookie_writes",
]
