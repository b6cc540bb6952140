"""The SQL of the ``better-auth`` flavor: Better Auth's tables as it defines them, ours beside them.

Better Auth 1.7 keeps its data in ``"user"``, ``"session"``, ``"account"`` and
``"verification"`` (quoted camelCase columns), reads them with ``select *``
and refuses to start when a column it never writes is NOT NULL. So, as for
Auth.js's tables (``postgres_statements``), auth-store never adds a column to
them: what it keeps beyond Better Auth's columns lives in side tables keyed
by the row's id (migration ``0001_better_auth.sql``), and its own records in
tables of its own:

==========================  ===================================================
``"user"``                  ``User``; ``extra``, the verification time and a
                            None name in ``auth_store_users``
``"account"``               ``Account`` (every provider but ``credential``);
                            type, token type, session state, the scope as
                            given and ``extra`` in ``auth_store_accounts``
``"account"`` credential    ``Credential`` of type ``password``: the hash in
                            ``password``; version and other data in
                            ``auth_store_accounts``
``"session"``               ``Session``; placeholders for None timestamps in
                            ``auth_store_sessions``
``"verification"``          ``VerificationToken``: ``identifier`` holds the
                            token, ``value`` the identifier (Better Auth keys
                            its rows by the secret part, as Auth.js keys by
                            token)
``auth_store_authenticators``, ``auth_store_credentials``: the rest
==========================  ===================================================

Reads are one statement (``session_and_user`` is one join). Writes that touch
a Better Auth row and its side row run as one transaction of a few
statements, the same text on SQLite and Postgres (SQLite has no
data-modifying ``WITH``). Read column orders are those ``sql.rows.RowCodec``
reads, except accounts and password credentials (``better_auth_rows``).
Statements use ``?`` placeholders and contain no other ``?`` or ``%``.
"""

# ruff: noqa: S608 - every statement here is built from the constants below, never from input

from __future__ import annotations

from .dialect import Dialect

__all__ = ["CREDENTIAL_PROVIDER", "BetterAuthStatements"]

#: Better Auth's ``providerId`` of the account that holds a user's password.
CREDENTIAL_PROVIDER = "credential"
_CREDENTIAL = f"'{CREDENTIAL_PROVIDER}'"


class BetterAuthStatements:
    """Every statement of the flavor, rendered for one dialect (SQLite or Postgres)."""

    def __init__(self, dialect: Dialect) -> None:
        r = dialect.render
        postgres = dialect.name == "postgres"
        true = "true" if postgres else "1"
        json = "?::jsonb" if postgres else "?"
        distinct = "IS DISTINCT FROM" if postgres else "IS NOT"

        def lock(table: str, where: str) -> str | None:
            # Read-modify-write: Postgres locks the row first, in a statement of
            # its own, so that the read after it (a new snapshot) sees the side
            # row as the previous writer left it; SQLite's BEGIN IMMEDIATE
            # already holds the only write lock.
            return r(f'SELECT 1 FROM "{table}" WHERE {where} FOR UPDATE') if postgres else None

        # Better Auth's reads of booleans take only integer 1 as true on SQLite.
        verified = 'u."emailVerified"' if postgres else 'u."emailVerified" = 1'
        user = (
            f"u.id, CASE WHEN u.name = '' AND ux.\"nameUnset\" = {true}"
            " THEN NULL ELSE u.name END,"
            f" u.email, CASE WHEN {verified}"
            ' THEN COALESCE(ux."emailVerifiedAt", u."updatedAt") END,'
            " u.image, ux.extra"
        )
        user_from = '"user" u LEFT JOIN auth_store_users ux ON ux.id = u.id'
        session = (
            's.id, s.token, s."userId", s."expiresAt",'
            ' CASE WHEN sx."createdAtUnset" = s."createdAt" THEN NULL ELSE s."createdAt" END,'
            ' CASE WHEN sx."updatedAtUnset" = s."updatedAt" THEN NULL ELSE s."updatedAt" END,'
            ' s."ipAddress", s."userAgent"'
        )
        session_from = '"session" s LEFT JOIN auth_store_sessions sx ON sx.id = s.id'
        account = (
            'a.id, a."userId", ax.type, a."providerId", a."accountId", a."refreshToken",'
            ' a."accessToken", a."accessTokenExpiresAt", a."idToken", a.scope, ax.scope,'
            ' ax.session_state, ax.token_type, ax.extra, a."refreshTokenExpiresAt"'
        )
        account_from = '"account" a LEFT JOIN auth_store_accounts ax ON ax.id = a.id'
        not_credential = f'a."providerId" <> {_CREDENTIAL}'
        is_credential = f'a."providerId" = {_CREDENTIAL}'
        # A password's version: ours, plus one when Better Auth changed the row
        # since auth-store counted it (its updatedAt moved), so a compare-and-set
        # made on what was read before Better Auth's change fails.
        version = (
            f'COALESCE(ax.version, 1) + CASE WHEN ax.version IS NOT NULL AND ax."passwordSetAt"'
            f' {distinct} a."updatedAt" THEN 1 ELSE 0 END'
        )
        none_text = "NULL::text" if postgres else "NULL"
        credential = f'id, "userId", type, data, {none_text}, version, "createdAt", "updatedAt"'
        password = (
            f"a.id, a.\"userId\", 'password', ax.data, a.password, {version},"
            ' a."createdAt", a."updatedAt"'
        )
        vt = 'value, identifier, "expiresAt"'
        authenticator = (
            '"credentialID", "userId", "providerAccountId", "credentialPublicKey", counter,'
            ' "credentialDeviceType", "credentialBackedUp", transports'
        )

        # -- users -----------------------------------------------------------------
        self.user_by_id = r(f"SELECT {user} FROM {user_from} WHERE u.id = ?")
        self.user_lock = lock("user", "id = ?")
        # The normalised address, or the input only lower-cased as Better Auth
        # stores it (it neither trims nor applies NFKC); the normalised one first.
        self.user_by_email = r(
            f"SELECT {user} FROM {user_from} WHERE u.email = ? OR u.email = ?"
            " ORDER BY CASE WHEN u.email = ? THEN 0 ELSE 1 END LIMIT 1"
        )
        self.user_by_account = r(
            f'SELECT {user} FROM "account" a JOIN "user" u ON u.id = a."userId"'
            " LEFT JOIN auth_store_users ux ON ux.id = u.id"
            f' WHERE a."providerId" = ? AND a."accountId" = ? AND {not_credential}'
        )
        self.user_insert = r(
            'INSERT INTO "user" (id, name, email, "emailVerified", image, "createdAt",'
            ' "updatedAt") VALUES (?, ?, ?, ?, ?, ?, ?)'
        )
        self.user_update = r(
            'UPDATE "user" SET name = ?, email = ?, "emailVerified" = ?, image = ?,'
            ' "updatedAt" = ? WHERE id = ?'
        )
        self.user_side_put = r(
            'INSERT INTO auth_store_users (id, extra, "emailVerifiedAt", "nameUnset")'
            f" VALUES (?, {json}, ?, ?) ON CONFLICT (id) DO UPDATE SET extra = excluded.extra,"
            ' "emailVerifiedAt" = excluded."emailVerifiedAt",'
            ' "nameUnset" = excluded."nameUnset"'
        )
        self.user_side_delete = r("DELETE FROM auth_store_users WHERE id = ?")
        self.user_delete = r('DELETE FROM "user" WHERE id = ?')

        # -- accounts --------------------------------------------------------------
        self.account_by_key = r(
            f"SELECT {account} FROM {account_from}"
            f' WHERE a."providerId" = ? AND a."accountId" = ? AND {not_credential}'
        )
        self.accounts_by_user = r(
            f"SELECT {account} FROM {account_from}"
            f' WHERE a."userId" = ? AND {not_credential}'
            ' ORDER BY a."providerId", a."accountId"'
        )
        self.account_lock = lock(
            "account", f'"providerId" = ? AND "accountId" = ? AND "providerId" <> {_CREDENTIAL}'
        )
        self.account_insert = r(
            'INSERT INTO "account" (id, "accountId", "providerId", "userId", "accessToken",'
            ' "refreshToken", "idToken", "accessTokenExpiresAt", "refreshTokenExpiresAt",'
            ' scope, "createdAt", "updatedAt") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)'
        )
        self.account_update = r(
            'UPDATE "account" SET "accessToken" = ?, "refreshToken" = ?, "idToken" = ?,'
            ' "accessTokenExpiresAt" = ?, "refreshTokenExpiresAt" = ?, scope = ?,'
            ' "updatedAt" = ? WHERE id = ?'
        )
        self.account_side_put = r(
            "INSERT INTO auth_store_accounts (id, type, token_type, session_state, scope, extra)"
            f" VALUES (?, ?, ?, ?, ?, {json}) ON CONFLICT (id) DO UPDATE SET"
            " type = excluded.type, token_type = excluded.token_type,"
            " session_state = excluded.session_state, scope = excluded.scope,"
            " extra = excluded.extra"
        )
        self.account_side_delete = r("DELETE FROM auth_store_accounts WHERE id = ?")
        self.account_delete = r('DELETE FROM "account" WHERE id = ?')

        # -- sessions --------------------------------------------------------------
        self.session_and_user = r(
            f"SELECT {session}, {user}"
            ' FROM "session" s JOIN "user" u ON u.id = s."userId"'
            " LEFT JOIN auth_store_sessions sx ON sx.id = s.id"
            " LEFT JOIN auth_store_users ux ON ux.id = u.id"
            " WHERE s.token = ?"
        )
        self.session_by_token = r(f"SELECT {session} FROM {session_from} WHERE s.token = ?")
        self.session_lock = lock("session", "token = ?")
        self.sessions_by_user = r(f'SELECT {session} FROM {session_from} WHERE s."userId" = ?')
        self.session_insert = r(
            'INSERT INTO "session" (id, "expiresAt", token, "createdAt", "updatedAt",'
            ' "ipAddress", "userAgent", "userId") VALUES (?, ?, ?, ?, ?, ?, ?, ?)'
        )
        self.session_update = r(
            'UPDATE "session" SET "expiresAt" = ?, "createdAt" = ?, "updatedAt" = ?,'
            ' "ipAddress" = ?, "userAgent" = ?, "userId" = ? WHERE id = ?'
        )
        self.session_side_put = r(
            'INSERT INTO auth_store_sessions (id, "createdAtUnset", "updatedAtUnset")'
            " VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET"
            ' "createdAtUnset" = excluded."createdAtUnset",'
            ' "updatedAtUnset" = excluded."updatedAtUnset"'
        )
        self.session_side_delete = r("DELETE FROM auth_store_sessions WHERE id = ?")
        self.session_delete = r('DELETE FROM "session" WHERE id = ?')
        self.sessions_delete_by_user = r('DELETE FROM "session" WHERE "userId" = ?')
        self.sessions_purge = r('DELETE FROM "session" WHERE "expiresAt" < ?')

        # -- verification tokens ---------------------------------------------------
        self.token_insert = r(
            'INSERT INTO "verification" (id, identifier, value, "expiresAt", "createdAt",'
            ' "updatedAt") VALUES (?, ?, ?, ?, ?, ?)'
        )
        self.token_find = r(
            f'SELECT id, {vt} FROM "verification" WHERE value = ? AND identifier = ? LIMIT 1'
        )
        self.token_delete = r('DELETE FROM "verification" WHERE id = ?')
        self.tokens_purge = r('DELETE FROM "verification" WHERE "expiresAt" < ?')

        # -- authenticators ----------------------------------------------------------
        self.authenticator_insert = r(
            f"INSERT INTO auth_store_authenticators ({authenticator})"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        )
        self.authenticator_by_id = r(
            f'SELECT {authenticator} FROM auth_store_authenticators WHERE "credentialID" = ?'
        )
        self.authenticators_by_user = r(
            f'SELECT {authenticator} FROM auth_store_authenticators WHERE "userId" = ?'
            ' ORDER BY "credentialID"'
        )
        self.authenticator_counter = r(
            'UPDATE auth_store_authenticators SET counter = ? WHERE "credentialID" = ?'
        )
        self.authenticator_delete = r(
            'DELETE FROM auth_store_authenticators WHERE "credentialID" = ?'
        )

        # -- credentials -------------------------------------------------------------
        # Both kinds in one shape: id, user id, type, data, hash (passwords only),
        # version, created, updated.
        generic = f"SELECT {credential} FROM auth_store_credentials"
        passwords = f"SELECT {password} FROM {account_from} WHERE {is_credential}"
        self.credential_by_id = r(f"{generic} WHERE id = ? UNION ALL {passwords} AND a.id = ?")
        self.credentials_by_user = r(
            f'{generic} WHERE "userId" = ? UNION ALL {passwords} AND a."userId" = ?'
        )
        self.credentials_by_user_type = r(f'{generic} WHERE "userId" = ? AND type = ?')
        self.passwords_by_user = r(f'{passwords} AND a."userId" = ?')
        self.password_by_id = r(f"{passwords} AND a.id = ?")
        self.password_lock = lock("account", f'id = ? AND "providerId" = {_CREDENTIAL}')
        self.credential_where = r(
            "SELECT 'credential' FROM auth_store_credentials WHERE id = ?"
            f" UNION ALL SELECT 'password' FROM \"account\" a WHERE a.id = ? AND {is_credential}"
        )
        self.credential_insert = r(
            'INSERT INTO auth_store_credentials (id, "userId", type, data, version,'
            f' "createdAt", "updatedAt") VALUES (?, ?, ?, {json}, ?, ?, ?)'
        )
        self.credential_update = r(
            f"UPDATE auth_store_credentials SET data = {json}, version = version + 1,"
            ' "updatedAt" = ? WHERE id = ? AND version = ?'
        )
        self.credential_delete = r("DELETE FROM auth_store_credentials WHERE id = ?")
        self.password_insert = r(
            'INSERT INTO "account" (id, "accountId", "providerId", "userId", password,'
            f' "createdAt", "updatedAt") VALUES (?, ?, {_CREDENTIAL}, ?, ?, ?, ?)'
        )
        self.password_update = r('UPDATE "account" SET password = ?, "updatedAt" = ? WHERE id = ?')
        self.password_side_put = r(
            'INSERT INTO auth_store_accounts (id, data, version, "passwordSetAt")'
            f" VALUES (?, {json}, ?, ?) ON CONFLICT (id) DO UPDATE SET data = excluded.data,"
            ' version = excluded.version, "passwordSetAt" = excluded."passwordSetAt"'
        )
        self.password_delete = r(
            f'DELETE FROM "account" WHERE id = ? AND "providerId" = {_CREDENTIAL}'
        )

        # -- housekeeping ------------------------------------------------------------
        self.counts = (
            'SELECT (SELECT COUNT(*) FROM "user"),'
            f' (SELECT COUNT(*) FROM "account" a WHERE {not_credential}),'
            ' (SELECT COUNT(*) FROM "session"),'
            ' (SELECT COUNT(*) FROM "verification"),'
            " (SELECT COUNT(*) FROM auth_store_authenticators),"
            " (SELECT COUNT(*) FROM auth_store_credentials)"
            f' + (SELECT COUNT(*) FROM "account" a WHERE {is_credential})'
        )
        self.export = {
            "users": f"SELECT {user} FROM {user_from} ORDER BY u.id",
            "accounts": f"SELECT {account} FROM {account_from} WHERE {not_credential}"
            " ORDER BY a.id",
            "sessions": f"SELECT {session} FROM {session_from} ORDER BY s.id",
            "verification_tokens": f'SELECT {vt} FROM "verification" ORDER BY value, identifier',
            "authenticators": f"SELECT {authenticator} FROM auth_store_authenticators"
            ' ORDER BY "credentialID"',
            "credentials": f"{generic} UNION ALL {passwords} ORDER BY 1",
        }
