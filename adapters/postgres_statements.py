"""The Postgres backend's statements: Auth.js's tables as Auth.js defines them, ours beside them.

**The rule for every schema auth-store shares with another framework: never
add a column to a table the other framework owns.** Its adapter reads those
tables with ``select *`` and passes every column on (Auth.js's
``@auth/pg-adapter`` does, for users and sessions; its test suite compares
``select *`` of accounts too), so a column of ours would reach its callbacks,
and the browser. What auth-store keeps beyond
the other framework's columns lives in tables of its own, one row per row of
the framework's table, keyed by that row's id with ``ON DELETE CASCADE``
(migration ``0002_side_tables.sql``):

=======================  ======================================================
``auth_store_users``     ``User.extra``
``auth_store_accounts``  ``Account.extra``
``auth_store_sessions``  ``Session.created_at``, ``updated_at``, ``ip_address``,
                         ``user_agent``
=======================  ======================================================

A side row exists only when it holds something (rows the other framework
writes have none), so reads ``LEFT JOIN`` it and read a missing row as the
defaults. Nothing costs an extra round trip: a read is one join, and a write
that touches both tables is one statement whose data-modifying ``WITH``
parts write both, atomically. Each statement takes its parameters in the
order of the shared statements (``sql.statements``), so ``sql.rows.RowCodec``
serves both layouts; where a write needs a parameter twice, a leading
``WITH p AS (SELECT ...)`` names them.
"""

# ruff: noqa: S608 - every statement here is built from the constants below, never from input

from __future__ import annotations

from .sql.dialect import Dialect
from .sql.statements import Change, Statements

__all__ = ["SIDE_TABLES", "PostgresStatements"]

#: Auth.js's table -> the side table holding what auth-store adds to its rows.
SIDE_TABLES = {
    "users": "auth_store_users",
    "accounts": "auth_store_accounts",
    "sessions": "auth_store_sessions",
}

_USER_OWN = ("id", "name", "email", '"emailVerified"', "image")
_ACCOUNT_OWN = (
    "id",
    '"userId"',
    "type",
    "provider",
    '"providerAccountId"',
    "refresh_token",
    "access_token",
    "expires_at",
    "id_token",
    "scope",
    "session_state",
    "token_type",
)
_SESSION_OWN = ("id", '"sessionToken"', '"userId"', "expires")
_SESSION_SIDE = ('"createdAt"', '"updatedAt"', '"ipAddress"', '"userAgent"')


def _cols(alias: str, columns: tuple[str, ...]) -> str:
    return ", ".join(f"{alias}.{c}" for c in columns)


def _plain(columns: tuple[str, ...]) -> str:
    return ", ".join(columns)


# Reads: Auth.js's row, then ours (NULL when there is no side row).
USER = f"{_cols('u', _USER_OWN)}, ux.extra"
USER_FROM = "users u LEFT JOIN auth_store_users ux ON ux.id = u.id"
ACCOUNT = f"{_cols('a', _ACCOUNT_OWN)}, ax.extra"
ACCOUNT_FROM = "accounts a LEFT JOIN auth_store_accounts ax ON ax.id = a.id"
SESSION = f"{_cols('s', _SESSION_OWN)}, {_cols('sx', _SESSION_SIDE)}"
SESSION_FROM = "sessions s LEFT JOIN auth_store_sessions sx ON sx.id = s.id"


class PostgresStatements(Statements):
    """``Statements`` with users, accounts and sessions split over Auth.js's tables and ours."""

    def __init__(self, dialect: Dialect) -> None:
        super().__init__(dialect)
        r = dialect.render

        def returning(statement: str, select: str, *, read_first: bool) -> Change:
            # Postgres always has RETURNING: only ``returning`` ever runs.
            rendered = r(statement)
            return Change(returning=rendered, plain=rendered, select=select, read_first=read_first)

        # -- users -------------------------------------------------------------
        self.user_by_id = r(f"SELECT {USER} FROM {USER_FROM} WHERE u.id = ?")
        self.user_by_email = r(f"SELECT {USER} FROM {USER_FROM} WHERE lower(u.email) = ?")
        self.user_by_account = r(
            f'SELECT {USER} FROM accounts a JOIN users u ON u.id = a."userId"'
            " LEFT JOIN auth_store_users ux ON ux.id = u.id"
            ' WHERE a.provider = ? AND a."providerAccountId" = ?'
        )
        self.user_insert = r(
            "WITH u AS ("
            f" INSERT INTO users ({_plain(_USER_OWN)}) VALUES (?, ?, ?, ?, ?) RETURNING id)"
            " INSERT INTO auth_store_users (id, extra)"
            " SELECT u.id, p.extra FROM u, (SELECT ?::jsonb AS extra) p"
            " WHERE p.extra <> '{}'::jsonb"
        )
        self.user_update = returning(
            "WITH p AS (SELECT ?::boolean AS set_name, ?::text AS name,"
            " ?::boolean AS set_email, ?::text AS email,"
            " ?::boolean AS set_verified, ?::timestamptz AS verified,"
            " ?::boolean AS set_image, ?::text AS image,"
            " ?::boolean AS set_extra, ?::jsonb AS extra, ?::text AS id),"
            " u AS (UPDATE users SET"
            " name = CASE WHEN p.set_name THEN p.name ELSE users.name END,"
            " email = CASE WHEN p.set_email THEN p.email ELSE users.email END,"
            ' "emailVerified" = CASE WHEN p.set_verified THEN p.verified'
            ' ELSE users."emailVerified" END,'
            " image = CASE WHEN p.set_image THEN p.image ELSE users.image END"
            f" FROM p WHERE users.id = p.id RETURNING {_cols('users', _USER_OWN)}),"
            " x AS (INSERT INTO auth_store_users (id, extra)"
            " SELECT u.id, p.extra FROM u, p WHERE p.set_extra"
            " ON CONFLICT (id) DO UPDATE SET extra = EXCLUDED.extra RETURNING extra)"
            # The side row as it was unless x replaced it (every part reads one snapshot).
            f" SELECT {_cols('u', _USER_OWN)}, COALESCE((SELECT extra FROM x), ux.extra)"
            " FROM u LEFT JOIN auth_store_users ux ON ux.id = u.id",
            self.user_by_id,
            read_first=False,
        )
        self.user_delete = returning(
            # The side row goes by the cascade; the SELECT still sees it.
            f"WITH d AS (DELETE FROM users WHERE id = ? RETURNING {_plain(_USER_OWN)})"
            f" SELECT {_cols('d', _USER_OWN)}, ux.extra"
            " FROM d LEFT JOIN auth_store_users ux ON ux.id = d.id",
            self.user_by_id,
            read_first=True,
        )

        # -- accounts ----------------------------------------------------------
        self.account_insert = r(
            "WITH a AS ("
            f" INSERT INTO accounts ({_plain(_ACCOUNT_OWN)})"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id)"
            " INSERT INTO auth_store_accounts (id, extra)"
            " SELECT a.id, p.extra FROM a, (SELECT ?::jsonb AS extra) p"
            " WHERE p.extra <> '{}'::jsonb"
        )
        self.account_by_key = r(
            f"SELECT {ACCOUNT} FROM {ACCOUNT_FROM}"
            ' WHERE a.provider = ? AND a."providerAccountId" = ?'
        )
        self.accounts_by_user = r(
            f"SELECT {ACCOUNT} FROM {ACCOUNT_FROM}"
            ' WHERE a."userId" = ? ORDER BY a.provider, a."providerAccountId"'
        )
        self.account_delete = returning(
            'WITH d AS (DELETE FROM accounts WHERE provider = ? AND "providerAccountId" = ?'
            f" RETURNING {_plain(_ACCOUNT_OWN)})"
            f" SELECT {_cols('d', _ACCOUNT_OWN)}, ax.extra"
            " FROM d LEFT JOIN auth_store_accounts ax ON ax.id = d.id",
            self.account_by_key,
            read_first=True,
        )
        token_fields = (
            ("refresh_token", "text"),
            ("access_token", "text"),
            ("expires_at", "bigint"),
            ("id_token", "text"),
            ("scope", "text"),
            ("session_state", "text"),
            ("token_type", "text"),
        )
        flags = ", ".join(f"?::boolean AS set_{n}, ?::{t} AS {n}" for n, t in token_fields)
        sets = ", ".join(
            f"{n} = CASE WHEN p.set_{n} THEN p.{n} ELSE accounts.{n} END" for n, _ in token_fields
        )
        self.account_update = returning(
            f"WITH p AS (SELECT {flags}, ?::boolean AS set_extra, ?::jsonb AS extra,"
            " ?::text AS provider, ?::text AS provider_account_id),"
            f" a AS (UPDATE accounts SET {sets} FROM p"
            " WHERE accounts.provider = p.provider"
            ' AND accounts."providerAccountId" = p.provider_account_id'
            f" RETURNING {_cols('accounts', _ACCOUNT_OWN)}),"
            " x AS (INSERT INTO auth_store_accounts (id, extra)"
            " SELECT a.id, p.extra FROM a, p WHERE p.set_extra"
            " ON CONFLICT (id) DO UPDATE SET extra = EXCLUDED.extra RETURNING extra)"
            f" SELECT {_cols('a', _ACCOUNT_OWN)}, COALESCE((SELECT extra FROM x), ax.extra)"
            " FROM a LEFT JOIN auth_store_accounts ax ON ax.id = a.id",
            self.account_by_key,
            read_first=False,
        )

        # -- sessions ----------------------------------------------------------
        self.session_insert = r(
            "WITH s AS ("
            f" INSERT INTO sessions ({_plain(_SESSION_OWN)}) VALUES (?, ?, ?, ?) RETURNING id)"
            f" INSERT INTO auth_store_sessions (id, {_plain(_SESSION_SIDE)})"
            " SELECT s.id, p.created_at, p.updated_at, p.ip_address, p.user_agent"
            " FROM s, (SELECT ?::timestamptz AS created_at, ?::timestamptz AS updated_at,"
            " ?::text AS ip_address, ?::text AS user_agent) p"
            " WHERE num_nonnulls(p.created_at, p.updated_at, p.ip_address, p.user_agent) > 0"
        )
        self.session_by_token = r(
            f'SELECT {SESSION} FROM {SESSION_FROM} WHERE s."sessionToken" = ?'
        )
        # The per-request read: one statement, Auth.js's two rows and ours.
        self.session_and_user = r(
            f"SELECT {SESSION}, {USER}"
            ' FROM sessions s JOIN users u ON u.id = s."userId"'
            " LEFT JOIN auth_store_sessions sx ON sx.id = s.id"
            " LEFT JOIN auth_store_users ux ON ux.id = u.id"
            ' WHERE s."sessionToken" = ?'
        )
        side = (
            ("created_at", '"createdAt"', "timestamptz"),
            ("updated_at", '"updatedAt"', "timestamptz"),
            ("ip_address", '"ipAddress"', "text"),
            ("user_agent", '"userAgent"', "text"),
        )
        side_flags = ", ".join(f"?::boolean AS set_{n}, ?::{t} AS {n}" for n, _, t in side)
        # Each side column keeps the value it has *now* unless this call sets it,
        # so two updates of different fields racing on one session lose neither.
        side_sets = ", ".join(
            f"{c} = CASE WHEN (SELECT set_{n} FROM p) THEN EXCLUDED.{c} ELSE sx.{c} END"
            for n, c, _ in side
        )
        any_side = " OR ".join(f"p.set_{n}" for n, _, _ in side)
        self.session_update = returning(
            "WITH p AS (SELECT ?::boolean AS set_expires, ?::timestamptz AS expires,"
            f" ?::boolean AS set_user_id, ?::text AS user_id, {side_flags},"
            " ?::text AS session_token),"
            " s AS (UPDATE sessions SET"
            " expires = CASE WHEN p.set_expires THEN p.expires ELSE sessions.expires END,"
            ' "userId" = CASE WHEN p.set_user_id THEN p.user_id ELSE sessions."userId" END'
            ' FROM p WHERE sessions."sessionToken" = p.session_token'
            f" RETURNING {_cols('sessions', _SESSION_OWN)}),"
            f" x AS (INSERT INTO auth_store_sessions AS sx (id, {_plain(_SESSION_SIDE)})"
            f" SELECT s.id, {', '.join(f'p.{n}' for n, _, _ in side)} FROM s, p WHERE {any_side}"
            f" ON CONFLICT (id) DO UPDATE SET {side_sets}"
            f" RETURNING sx.id, {_cols('sx', _SESSION_SIDE)})"
            f" SELECT {_cols('s', _SESSION_OWN)},"
            + ", ".join(f" CASE WHEN x.id IS NULL THEN sx.{c} ELSE x.{c} END" for _, c, _ in side)
            + " FROM s LEFT JOIN x ON true LEFT JOIN auth_store_sessions sx ON sx.id = s.id",
            self.session_by_token,
            read_first=False,
        )
        self.session_delete = returning(
            'WITH d AS (DELETE FROM sessions WHERE "sessionToken" = ?'
            f" RETURNING {_plain(_SESSION_OWN)})"
            f" SELECT {_cols('d', _SESSION_OWN)}, {_cols('sx', _SESSION_SIDE)}"
            " FROM d LEFT JOIN auth_store_sessions sx ON sx.id = d.id",
            self.session_by_token,
            read_first=True,
        )
        self.sessions_by_user = r(
            f'SELECT {SESSION} FROM {SESSION_FROM} WHERE s."userId" = ? ORDER BY s.expires, s.id'
        )

        # -- housekeeping ------------------------------------------------------
        self.export.update(
            users=f"SELECT {USER} FROM {USER_FROM} ORDER BY u.id",
            accounts=f"SELECT {ACCOUNT} FROM {ACCOUNT_FROM} ORDER BY a.id",
            sessions=f"SELECT {SESSION} FROM {SESSION_FROM} ORDER BY s.id",
        )
        self.insert.update(
            users=self.user_insert,
            accounts=self.account_insert,
            sessions=self.session_insert,
        )
