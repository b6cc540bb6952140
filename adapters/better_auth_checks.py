"""What the ``better-auth`` flavor checks in Better Auth's tables: adopting them, and mapping rows.

``check_adopt`` runs before migration 0001 applies, in its transaction: when
Better Auth's tables already exist (a Better Auth app created them), they
must be Better Auth's (every column it reads, text ids, no required column
auth-store would not write) and hold nothing auth-store's keys would refuse
(two rows of one provider account). Otherwise ``BetterAuthAdoptError`` names
every problem and nothing changes.

``unmappable_rows`` reads the tables of a store in use and names what this
package cannot read as records (kind ``unmappable``: a user without a usable
e-mail, an id outside the contract's alphabet, two users of one e-mail once
normalised) and what it reads only in part (kind ``left-behind``: values in
columns and tables Better Auth's plugins add, which a migration elsewhere
does not carry). Rows are named by table and id, never by a value.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from auth_store import validation as v
from auth_store.errors import ConfigurationError, ValidationError
from auth_store.problems import Problem

from .sql import Executor

__all__ = [
    "BETTER_AUTH_COLUMNS",
    "OWN_TABLES",
    "BetterAuthAdoptError",
    "Column",
    "check_adopt",
    "unmappable_rows",
]

#: Better Auth's core tables and every column its reads return (1.7's schema).
BETTER_AUTH_COLUMNS: dict[str, tuple[str, ...]] = {
    "user": ("id", "name", "email", "emailVerified", "image", "createdAt", "updatedAt"),
    "session": (
        "id",
        "expiresAt",
        "token",
        "createdAt",
        "updatedAt",
        "ipAddress",
        "userAgent",
        "userId",
    ),
    "account": (
        "id",
        "accountId",
        "providerId",
        "userId",
        "accessToken",
        "refreshToken",
        "idToken",
        "accessTokenExpiresAt",
        "refreshTokenExpiresAt",
        "scope",
        "password",
        "createdAt",
        "updatedAt",
    ),
    "verification": ("id", "identifier", "value", "expiresAt", "createdAt", "updatedAt"),
}
#: Tables the flavor's migration creates from nothing.
OWN_TABLES = (
    "auth_store_users",
    "auth_store_accounts",
    "auth_store_sessions",
    "auth_store_authenticators",
    "auth_store_credentials",
)
_ID_COLUMNS = {("user", "id"), ("session", "id"), ("session", "userId"), ("account", "id")}
_ID_COLUMNS |= {("account", "userId"), ("verification", "id")}
_TEXT_TYPES = frozenset({"text", "character varying", "varchar", "character"})
_SHOWN = 10


@dataclass(frozen=True)
class Column:
    """A column as the database describes it."""

    name: str
    type: str
    required: bool  # NOT NULL without a default


Introspect = Callable[[Executor, str], list[Column] | None]


class BetterAuthAdoptError(ConfigurationError):
    """Tables a Better Auth app created can't be adopted as they are; nothing was changed."""

    def __init__(self, where: str, problems: list[str]) -> None:
        self.problems = problems
        listing = "\n".join(f"  - {p}" for p in problems)
        super().__init__(
            f"cannot adopt the Better Auth tables in {where}; nothing was changed:\n{listing}"
        )


def _ids(ids: list[str]) -> str:
    more = len(ids) - _SHOWN
    shown = ", ".join(ids[:_SHOWN])
    return f"{shown} and {more} more" if more > 0 else shown


def _rows(ex: Executor, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
    found: list[Any] = ex.execute(sql, params).fetchall()
    return found


def sqlite_columns(ex: Executor, table: str) -> list[Column] | None:
    """The columns of a SQLite table, or ``None`` when there is no such table."""
    found = _rows(
        ex,
        'SELECT name, type, "notnull" AND dflt_value IS NULL AND pk = 0 FROM pragma_table_info(?)',
        (table,),
    )
    return [
        Column(name, (kind or "").lower(), bool(required)) for name, kind, required in found
    ] or None


def postgres_columns(ex: Executor, table: str) -> list[Column] | None:
    """The columns of a table in the current schema, or ``None`` when there is none."""
    found = _rows(
        ex,
        "SELECT column_name, data_type, is_nullable = 'NO' AND column_default IS NULL"
        " AND is_identity = 'NO' FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND table_name = %s ORDER BY ordinal_position",
        (table,),
    )
    if not found:
        return None
    return [Column(name, kind.lower(), bool(required)) for name, kind, required in found]


def check_adopt(ex: Executor, columns_of: Introspect, where: str) -> None:
    """Refuse (``BetterAuthAdoptError``) tables the flavor's migration would fail on or break.

    Does nothing when none of Better Auth's tables exist (a new database).
    """
    problems: list[str] = []
    for table in OWN_TABLES:
        if columns_of(ex, table) is not None:
            problems.append(f"a table named {table} exists; auth-store needs to create its own")
    existing: dict[str, list[Column]] = {}
    for table in BETTER_AUTH_COLUMNS:
        found = columns_of(ex, table)
        if found is not None:
            existing[table] = found
    for table, found in existing.items():
        names = {c.name: c for c in found}
        missing = [c for c in BETTER_AUTH_COLUMNS[table] if c not in names]
        if missing:
            problems.append(f"{table} lacks Better Auth's column(s) {', '.join(missing)}")
        for column in found:
            if (table, column.name) in _ID_COLUMNS and column.type not in _TEXT_TYPES:
                problems.append(
                    f"{table}.{column.name} is {column.type}: auth-store keeps ids as text"
                    " (a Better Auth app with advanced.database.generateId set to"
                    ' "uuid" or "serial" is not supported)'
                )
            if column.required and column.name not in BETTER_AUTH_COLUMNS[table]:
                problems.append(
                    f"{table}.{column.name} is NOT NULL without a default: auth-store would"
                    " not write it (make it nullable or give it a default)"
                )
    if "account" in existing and not problems:
        for ids in _rows(
            ex,
            'SELECT "providerId", "accountId", COUNT(*) FROM "account"'
            ' WHERE "providerId" <> \'credential\' GROUP BY "providerId", "accountId"'
            " HAVING COUNT(*) > 1",
        ):
            problems.append(
                f"account: {ids[2]} rows of one {ids[0]} account: auth-store keeps one row per"
                " provider account (Better Auth too, in its code); merge or delete the extra"
            )
    if problems:
        raise BetterAuthAdoptError(where, problems)


def unmappable_rows(
    query: Callable[[str], list[Any]],
    columns_of: Callable[[str], list[Column] | None],
    tables: list[str],
) -> list[Problem]:
    """What in Better Auth's tables this package cannot read as records, or reads in part.

    ``query`` runs a statement without parameters; ``columns_of`` describes a
    table; ``tables`` names every table of the schema.
    """
    problems: list[Problem] = []
    bad_ids: dict[str, list[str]] = defaultdict(list)
    no_email: list[str] = []
    by_email: dict[str, list[str]] = defaultdict(list)
    for user_id, email in query('SELECT id, email FROM "user" ORDER BY id'):
        if not _valid_id(user_id):
            bad_ids["user"].append(_shown_id(user_id))
            continue
        try:
            by_email[v.normalize_email(email)].append(user_id)
        except ValidationError:
            no_email.append(user_id)
    if no_email:
        problems.append(
            Problem(
                "unmappable",
                "users",
                f"user {_ids(no_email)}: no e-mail address (empty, missing or not an address);"
                " auth-store needs one",
            )
        )
    for ids in by_email.values():
        if len(ids) > 1:
            problems.append(
                Problem(
                    "unmappable",
                    "users",
                    f"user {_ids(ids)}: the same e-mail once normalised (NFKC, trimmed,"
                    " lower-case)",
                )
            )
    for table, collection in (("session", "sessions"), ("account", "accounts")):
        for (row_id,) in query(f'SELECT id FROM "{table}" ORDER BY id'):  # noqa: S608
            if not _valid_id(row_id):
                bad_ids[table].append(_shown_id(row_id))
        if bad_ids[table]:
            problems.append(
                Problem(
                    "unmappable",
                    collection,
                    f"{table} {_ids(bad_ids[table])}: id is not 1-128 characters of [A-Za-z0-9_.-]",
                )
            )
    if bad_ids["user"]:
        problems.append(
            Problem(
                "unmappable",
                "users",
                f"user {_ids(bad_ids['user'])}: id is not 1-128 characters of [A-Za-z0-9_.-]",
            )
        )
    problems += _left_behind(query, columns_of, tables)
    return problems


def _left_behind(
    query: Callable[[str], list[Any]],
    columns_of: Callable[[str], list[Column] | None],
    tables: list[str],
) -> list[Problem]:
    problems: list[Problem] = []
    collections = {"user": "users", "session": "sessions", "account": "accounts"}
    collections["verification"] = "verification_tokens"
    for table, known in BETTER_AUTH_COLUMNS.items():
        for column in columns_of(table) or []:
            if column.name in known:
                continue
            (count,) = query(
                f"SELECT COUNT(*) FROM {_ident(table)} WHERE {_ident(column.name)} IS NOT NULL"  # noqa: S608
            )[0]
            if count:
                problems.append(
                    Problem(
                        "left-behind",
                        collections[table],
                        f"{table}.{column.name} (a field a Better Auth plugin or the app added)"
                        f" holds values in {count} row(s); auth-store does not read it",
                    )
                )
    own = {*BETTER_AUTH_COLUMNS, *OWN_TABLES, "auth_store_migrations"}
    for table in sorted(set(tables) - own):
        (count,) = query(f"SELECT COUNT(*) FROM {_ident(table)}")[0]  # noqa: S608
        if count:
            problems.append(
                Problem(
                    "left-behind",
                    "store",
                    f"table {table} ({count} row(s), e.g. a Better Auth plugin's) is not part"
                    " of auth-store's records",
                )
            )
    return problems


def _ident(name: str) -> str:
    """A catalog name as a quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def _valid_id(value: object) -> bool:
    try:
        v.validate_id(value)
    except ValidationError:
        return False
    return True


def _shown_id(value: object) -> str:
    return repr(value)[:40]
