"""The statements a hand-written app would send, on the Auth.js schema both SQL backends use.

Written with ``?`` placeholders; ``psycopg_style`` renders them for psycopg.
They name the same columns the adapters read, so a raw call fetches exactly
the bytes the adapter fetches and skips only the adapter's own work.
"""

from __future__ import annotations

__all__ = [
    "SESSION_AND_USER",
    "SESSION_INSERT",
    "TOKEN_USE",
    "USER_BY_ACCOUNT",
    "USER_BY_EMAIL",
    "USER_BY_ID",
    "USER_BY_LOWER_EMAIL",
    "psycopg_style",
]

_USER = 'u.id, u.name, u.email, u."emailVerified", u.image, u.extra'

SESSION_AND_USER = (
    'SELECT s.id, s."sessionToken", s."userId", s.expires, s."createdAt", s."updatedAt",'
    f' s."ipAddress", s."userAgent", {_USER}'
    ' FROM sessions s JOIN users u ON u.id = s."userId" WHERE s."sessionToken" = ?'
)
USER_BY_EMAIL = f"SELECT {_USER} FROM users u WHERE u.email = ?"
#: Postgres keeps the unique e-mail index on lower(email) (rows an Auth.js app
#: wrote with capitals still collide), so that is the expression a lookup uses.
USER_BY_LOWER_EMAIL = f"SELECT {_USER} FROM users u WHERE lower(u.email) = ?"
USER_BY_ID = f"SELECT {_USER} FROM users u WHERE u.id = ?"
USER_BY_ACCOUNT = (
    f'SELECT {_USER} FROM accounts a JOIN users u ON u.id = a."userId"'
    ' WHERE a.provider = ? AND a."providerAccountId" = ?'
)
SESSION_INSERT = 'INSERT INTO sessions (id, "sessionToken", "userId", expires) VALUES (?, ?, ?, ?)'
TOKEN_USE = (
    "DELETE FROM verification_token WHERE identifier = ? AND token = ?"
    " RETURNING identifier, token, expires"
)


def psycopg_style(sql: str) -> str:
    """``sql`` with ``?`` placeholders as psycopg's ``%s``."""
    return sql.replace("?", "%s")
