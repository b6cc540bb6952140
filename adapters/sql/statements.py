"""The SQL text of every operation, written once and rendered per dialect.

Tables and columns are Auth.js's ``@auth/pg-adapter`` names (``users``,
``accounts``, ``sessions``, ``verification_token``; quoted camelCase such as
``"userId"``), plus ``authenticators`` and ``credentials`` in the same style.
Column orders here are the orders ``rows.RowCodec`` reads and writes.
Statements use ``?`` placeholders and contain no other ``?`` or ``%``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .dialect import Dialect

__all__ = ["TABLES", "Change", "Statements"]

#: Collection name -> table name, in dependency order (users first).
TABLES = {
    "users": "users",
    "accounts": "accounts",
    "sessions": "sessions",
    "verification_tokens": "verification_token",
    "authenticators": "authenticators",
    "credentials": "credentials",
}

USER = 'id, name, email, "emailVerified", image, extra'
ACCOUNT = (
    'id, "userId", type, provider, "providerAccountId", refresh_token, access_token,'
    " expires_at, id_token, scope, session_state, token_type, extra"
)
SESSION = (
    'id, "sessionToken", "userId", expires, "createdAt", "updatedAt", "ipAddress", "userAgent"'
)
VT = "identifier, token, expires"
AUTHENTICATOR = (
    '"credentialID", "userId", "providerAccountId", "credentialPublicKey", counter,'
    ' "credentialDeviceType", "credentialBackedUp", transports'
)
CREDENTIAL = 'id, "userId", type, data, version, "createdAt", "updatedAt"'

COLUMNS = {
    "users": USER,
    "accounts": ACCOUNT,
    "sessions": SESSION,
    "verification_tokens": VT,
    "authenticators": AUTHENTICATOR,
    "credentials": CREDENTIAL,
}

#: Export order within a collection: by primary key, so exports are repeatable.
_EXPORT_ORDER = {
    "users": "id",
    "accounts": "id",
    "sessions": "id",
    "verification_tokens": "identifier, token",
    "authenticators": '"credentialID"',
    "credentials": "id",
}


def _qualified(alias: str, columns: str) -> str:
    return ", ".join(f"{alias}.{c.strip()}" for c in columns.split(","))


def _insert(collection: str) -> str:
    columns = COLUMNS[collection]
    marks = ", ".join("?" for _ in columns.split(","))
    return f"INSERT INTO {TABLES[collection]} ({columns}) VALUES ({marks})"  # noqa: S608 - constants


@dataclass(frozen=True, slots=True)
class Change:
    """A one-row UPDATE or DELETE whose result is the changed row.

    With RETURNING, ``returning`` is the whole statement. Without it, ``plain``
    runs without RETURNING and ``select`` re-reads the row by its key in the
    same transaction: before a DELETE (``read_first``), after an UPDATE.
    """

    returning: str | None
    plain: str
    select: str
    read_first: bool


class Statements:
    """Every statement of the shared layer, rendered for one dialect."""

    def __init__(self, dialect: Dialect) -> None:
        r = dialect.render

        def change(dml: str, columns: str, select: str, *, read_first: bool) -> Change:
            full = f"{dml} RETURNING {columns}" if dialect.returning else None
            return Change(
                returning=r(full) if full else None,
                plain=r(dml),
                select=r(select),
                read_first=read_first,
            )

        # users
        self.user_insert = r(_insert("users"))
        self.user_by_id = r(f"SELECT {USER} FROM users WHERE id = ?")  # noqa: S608
        self.user_by_email = r(
            f"SELECT {USER} FROM users WHERE {dialect.email_key} = ?"  # noqa: S608
        )
        self.user_by_account = r(
            f"SELECT {_qualified('u', USER)} FROM accounts a"  # noqa: S608
            ' JOIN users u ON u.id = a."userId"'
            ' WHERE a.provider = ? AND a."providerAccountId" = ?'
        )
        # Each column is (flag, value): set when flag is true, else kept. One
        # constant statement, so updates are atomic and the text is preparable.
        self.user_update = change(
            "UPDATE users SET"
            " name = CASE WHEN ? THEN ? ELSE name END,"
            " email = CASE WHEN ? THEN ? ELSE email END,"
            ' "emailVerified" = CASE WHEN ? THEN ? ELSE "emailVerified" END,'
            " image = CASE WHEN ? THEN ? ELSE image END,"
            " extra = CASE WHEN ? THEN ? ELSE extra END"
            " WHERE id = ?",
            USER,
            self.user_by_id,
            read_first=False,
        )
        self.user_delete = change(
            "DELETE FROM users WHERE id = ?", USER, self.user_by_id, read_first=True
        )

        # accounts
        self.account_insert = r(_insert("accounts"))
        self.account_by_key = r(
            f"SELECT {ACCOUNT} FROM accounts"  # noqa: S608
            ' WHERE provider = ? AND "providerAccountId" = ?'
        )
        self.accounts_by_user = r(
            f'SELECT {ACCOUNT} FROM accounts WHERE "userId" = ?'  # noqa: S608
            ' ORDER BY provider, "providerAccountId"'
        )
        self.account_delete = change(
            'DELETE FROM accounts WHERE provider = ? AND "providerAccountId" = ?',
            ACCOUNT,
            self.account_by_key,
            read_first=True,
        )
        self.account_update = change(
            "UPDATE accounts SET"
            " refresh_token = CASE WHEN ? THEN ? ELSE refresh_token END,"
            " access_token = CASE WHEN ? THEN ? ELSE access_token END,"
            " expires_at = CASE WHEN ? THEN ? ELSE expires_at END,"
            " id_token = CASE WHEN ? THEN ? ELSE id_token END,"
            " scope = CASE WHEN ? THEN ? ELSE scope END,"
            " session_state = CASE WHEN ? THEN ? ELSE session_state END,"
            " token_type = CASE WHEN ? THEN ? ELSE token_type END,"
            " extra = CASE WHEN ? THEN ? ELSE extra END"
            ' WHERE provider = ? AND "providerAccountId" = ?',
            ACCOUNT,
            self.account_by_key,
            read_first=False,
        )

        # sessions
        self.session_insert = r(_insert("sessions"))
        self.session_by_token = r(
            f'SELECT {SESSION} FROM sessions WHERE "sessionToken" = ?'  # noqa: S608
        )
        self.session_and_user = r(
            f"SELECT {_qualified('s', SESSION)}, {_qualified('u', USER)}"  # noqa: S608
            ' FROM sessions s JOIN users u ON u.id = s."userId"'
            ' WHERE s."sessionToken" = ?'
        )
        self.session_update = change(
            "UPDATE sessions SET"
            " expires = CASE WHEN ? THEN ? ELSE expires END,"
            ' "userId" = CASE WHEN ? THEN ? ELSE "userId" END,'
            ' "createdAt" = CASE WHEN ? THEN ? ELSE "createdAt" END,'
            ' "updatedAt" = CASE WHEN ? THEN ? ELSE "updatedAt" END,'
            ' "ipAddress" = CASE WHEN ? THEN ? ELSE "ipAddress" END,'
            ' "userAgent" = CASE WHEN ? THEN ? ELSE "userAgent" END'
            ' WHERE "sessionToken" = ?',
            SESSION,
            self.session_by_token,
            read_first=False,
        )
        self.session_delete = change(
            'DELETE FROM sessions WHERE "sessionToken" = ?',
            SESSION,
            self.session_by_token,
            read_first=True,
        )
        self.sessions_by_user = r(
            f'SELECT {SESSION} FROM sessions WHERE "userId" = ?'  # noqa: S608
            " ORDER BY expires, id"
        )
        self.sessions_delete_by_user = r('DELETE FROM sessions WHERE "userId" = ?')
        self.sessions_purge = r("DELETE FROM sessions WHERE expires < ?")

        # verification tokens
        self.token_insert = r(_insert("verification_tokens"))
        self.token_use = change(
            "DELETE FROM verification_token WHERE identifier = ? AND token = ?",
            VT,
            r(
                f"SELECT {VT} FROM verification_token"  # noqa: S608
                " WHERE identifier = ? AND token = ?"
            ),
            read_first=True,
        )
        self.tokens_purge = r("DELETE FROM verification_token WHERE expires < ?")

        # authenticators
        self.authenticator_insert = r(_insert("authenticators"))
        self.authenticator_by_id = r(
            f'SELECT {AUTHENTICATOR} FROM authenticators WHERE "credentialID" = ?'  # noqa: S608
        )
        self.authenticators_by_user = r(
            f'SELECT {AUTHENTICATOR} FROM authenticators WHERE "userId" = ?'  # noqa: S608
            ' ORDER BY "credentialID"'
        )
        self.authenticator_counter = change(
            'UPDATE authenticators SET counter = ? WHERE "credentialID" = ?',
            AUTHENTICATOR,
            self.authenticator_by_id,
            read_first=False,
        )
        self.authenticator_delete = change(
            'DELETE FROM authenticators WHERE "credentialID" = ?',
            AUTHENTICATOR,
            self.authenticator_by_id,
            read_first=True,
        )

        # credentials
        self.credential_insert = r(_insert("credentials"))
        self.credential_by_id = r(
            f"SELECT {CREDENTIAL} FROM credentials WHERE id = ?"  # noqa: S608
        )
        self.credentials_by_user = r(
            f'SELECT {CREDENTIAL} FROM credentials WHERE "userId" = ?'  # noqa: S608
            ' ORDER BY "createdAt", id'
        )
        self.credentials_by_user_type = r(
            f'SELECT {CREDENTIAL} FROM credentials WHERE "userId" = ? AND type = ?'  # noqa: S608
            ' ORDER BY "createdAt", id'
        )
        # Compare-and-set: one conditional UPDATE, so exactly one caller wins.
        self.credential_update = change(
            'UPDATE credentials SET data = ?, version = version + 1, "updatedAt" = ?'
            " WHERE id = ? AND version = ?",
            CREDENTIAL,
            self.credential_by_id,
            read_first=False,
        )
        self.credential_delete = change(
            "DELETE FROM credentials WHERE id = ?",
            CREDENTIAL,
            self.credential_by_id,
            read_first=True,
        )

        # housekeeping
        counts = ", ".join(f"(SELECT COUNT(*) FROM {table})" for table in TABLES.values())  # noqa: S608
        self.counts = f"SELECT {counts}"
        self.export = {
            collection: (
                f"SELECT {COLUMNS[collection]} FROM {table}"  # noqa: S608
                f" ORDER BY {_EXPORT_ORDER[collection]}"
            )
            for collection, table in TABLES.items()
        }
        self.insert = {
            "users": self.user_insert,
            "accounts": self.account_insert,
            "sessions": self.session_insert,
            "verification_tokens": self.token_insert,
            "authenticators": self.authenticator_insert,
            "credentials": self.credential_insert,
        }
        self.migrations_applied = (
            "SELECT version, name, checksum, applied_at FROM auth_store_migrations ORDER BY version"
        )
        self.schema_version = "SELECT MAX(version) FROM auth_store_migrations"
        self.migration_record = r(
            "INSERT INTO auth_store_migrations (version, name, checksum, applied_at)"
            " VALUES (?, ?, ?, ?)"
        )
