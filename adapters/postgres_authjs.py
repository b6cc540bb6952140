"""Checks before auth-store upgrades tables that Auth.js's ``@auth/pg-adapter`` created.

Migration 0001 turns Auth.js's tables into auth-store's in place: ids become
text (values kept), unique keys and cascading foreign keys are added. It
would fail, or leave rows auth-store can't serve, on data Auth.js accepts
without complaint (its documented schema has no unique constraints). So
before it runs, in the same transaction and with writers locked out,
``check_upgrade`` reads the tables and raises ``AuthJsUpgradeError`` naming
every offending row; the transaction then rolls back and nothing changes.

Rows are named by table and id only: e-mails and tokens stay out of messages.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from psycopg import sql

from auth_store import validation as v
from auth_store.errors import ConfigurationError, ValidationError

from .postgres_statements import SIDE_TABLES
from .sql import Executor

__all__ = ["AUTHJS_COLUMNS", "AuthJsUpgradeError", "check_upgrade"]

#: Auth.js's tables and the columns @auth/pg-adapter reads and writes.
AUTHJS_COLUMNS: dict[str, tuple[str, ...]] = {
    "users": ("id", "name", "email", "emailVerified", "image"),
    "accounts": (
        "id",
        "userId",
        "type",
        "provider",
        "providerAccountId",
        "refresh_token",
        "access_token",
        "expires_at",
        "id_token",
        "scope",
        "session_state",
        "token_type",
    ),
    "sessions": ("id", "userId", "expires", "sessionToken"),
    "verification_token": ("identifier", "expires", "token"),
}
#: Tables the migrations create from nothing; one that exists is someone else's.
_NEW_TABLES = ("authenticators", "credentials", *SIDE_TABLES.values())
_TEXT = frozenset({"text", "character varying", "character"})
_INTEGER = frozenset({"smallint", "integer", "bigint"})
_ID = _TEXT | _INTEGER | {"uuid"}
_TIMESTAMPTZ = frozenset({"timestamp with time zone"})
#: (table, column) -> the data types the upgrade can convert without changing a value.
_TYPES: dict[tuple[str, str], frozenset[str]] = {
    ("users", "id"): _ID,
    ("users", "name"): _TEXT,
    ("users", "email"): _TEXT,
    ("users", "emailVerified"): _TIMESTAMPTZ,
    ("users", "image"): _TEXT,
    ("accounts", "id"): _ID,
    ("accounts", "userId"): _ID,
    ("accounts", "type"): _TEXT,
    ("accounts", "provider"): _TEXT,
    ("accounts", "providerAccountId"): _TEXT,
    ("accounts", "expires_at"): _INTEGER,
    ("sessions", "id"): _ID,
    ("sessions", "userId"): _ID,
    ("sessions", "expires"): _TIMESTAMPTZ,
    ("sessions", "sessionToken"): _TEXT,
    ("verification_token", "identifier"): _TEXT,
    ("verification_token", "expires"): _TIMESTAMPTZ,
    ("verification_token", "token"): _TEXT,
}
#: How many row ids one problem names before "and N more".
_SHOWN = 10


class AuthJsUpgradeError(ConfigurationError):
    """Tables Auth.js created can't be upgraded as they are; nothing was changed.

    ``problems`` holds one line per problem; ``rows`` maps each table to the
    ids of the rows that stand in the way.
    """

    def __init__(self, where: str, problems: list[str], rows: dict[str, list[str]]) -> None:
        self.problems = problems
        self.rows = rows
        listing = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(
            f"cannot upgrade the Auth.js tables in {where}; nothing was changed:\n{listing}\n"
            "Fix these rows (or point auth-store at a schema of its own with ?schema=NAME)"
            " and open the store again."
        )


def _ids(ids: list[str]) -> str:
    shown = ", ".join(ids[:_SHOWN])
    more = len(ids) - _SHOWN
    return f"{shown} and {more} more" if more > 0 else shown


class _Report:
    def __init__(self) -> None:
        self.problems: list[str] = []
        self.rows: dict[str, list[str]] = defaultdict(list)

    def add(self, problem: str, table: str | None = None, ids: list[str] | None = None) -> None:
        self.problems.append(problem)
        if table is not None and ids:
            self.rows[table].extend(i for i in ids if i not in self.rows[table])


def _run(ex: Executor, query: Any, params: tuple[Any, ...] = ()) -> Any:
    # Composed queries are fine for psycopg; the Executor protocol only says str.
    return ex.execute(query, params)


def _all(ex: Executor, query: Any, params: tuple[Any, ...] = ()) -> list[Any]:
    rows: list[Any] = _run(ex, query, params).fetchall()
    return rows


def check_upgrade(ex: Executor, schema: str | None) -> None:
    """Refuse (``AuthJsUpgradeError``) an upgrade of existing tables that would fail or lose rows.

    Runs inside the migration transaction, before migration 0001. Does
    nothing when none of Auth.js's tables exist (a fresh schema).
    """
    relations = {
        name: kind
        for name, kind in _all(
            ex,
            "SELECT c.relname, c.relkind FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = current_schema() AND c.relname = ANY(%s)",
            ([*AUTHJS_COLUMNS, *_NEW_TABLES],),
        )
    }
    existing = [t for t in AUTHJS_COLUMNS if t in relations]
    where = f'schema "{schema}"' if schema else "the current schema"
    report = _Report()
    for table in _NEW_TABLES:
        if table in relations:
            report.add(f"a relation named {table} exists; auth-store needs to create its own")
    for table in existing:
        if relations[table] not in ("r", "p"):
            report.add(f"{table} is not a table")
    if report.problems:
        raise AuthJsUpgradeError(where, report.problems, dict(report.rows))
    if not existing:
        return  # a fresh schema: nothing to check

    # Writers (the Next.js app) wait until the upgrade commits or rolls back.
    tables = sql.SQL(", ").join(sql.Identifier(t) for t in existing)
    _run(ex, sql.SQL("LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE").format(tables))
    if _check_shape(ex, existing, report):
        _check_rows(ex, existing, report)
    if report.problems:
        raise AuthJsUpgradeError(where, report.problems, dict(report.rows))


def _check_shape(ex: Executor, existing: list[str], report: _Report) -> bool:
    """Columns, types and dependants; False when the rows can't even be read as Auth.js's."""
    columns: dict[str, dict[str, str]] = defaultdict(dict)
    for table, column, data_type in _all(
        ex,
        "SELECT table_name, column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND table_name = ANY(%s)",
        (existing,),
    ):
        columns[table][column] = data_type
    readable = True
    for table in existing:
        missing = [c for c in AUTHJS_COLUMNS[table] if c not in columns[table]]
        if missing:
            readable = False
            report.add(f"{table} lacks Auth.js's column(s) {', '.join(missing)}")
        for column, data_type in columns[table].items():
            allowed = _TYPES.get((table, column))
            if allowed is not None and data_type not in allowed:
                readable = False
                report.add(
                    f"{table}.{column} is {data_type}; the upgrade needs one of"
                    f" {', '.join(sorted(allowed))}"
                )
        if table in ("users", "accounts") and "extra" in columns[table]:
            report.add(f"{table} already has a column named extra, which auth-store adds itself")
    if "users" in existing:
        # users.id and the columns pointing at it become text: a foreign key
        # from any other table would break (and a view would block the change).
        for constraint, table in _all(
            ex,
            "SELECT con.conname, con.conrelid::regclass::text FROM pg_constraint con"
            " WHERE con.contype = 'f' AND con.confrelid = ANY(%s::regclass[])"
            " AND NOT (con.conrelid = ANY(%s::regclass[]) AND con.confrelid = 'users'::regclass)",
            (
                [t for t in existing if t in ("users", "accounts", "sessions")],
                [t for t in existing if t in ("accounts", "sessions")],
            ),
        ):
            report.add(
                f"table {table} references Auth.js's ids (foreign key {constraint}), which"
                " become text: convert its column too, or drop that key first"
            )
        for (view,) in _all(
            ex,
            "SELECT DISTINCT r.ev_class::regclass::text FROM pg_depend d"
            " JOIN pg_rewrite r ON r.oid = d.objid"
            " WHERE d.classid = 'pg_rewrite'::regclass"
            " AND d.refobjid = ANY(%s::regclass[]) AND r.ev_class <> d.refobjid",
            ([t for t in existing if t in ("users", "accounts", "sessions")],),
        ):
            report.add(f"view {view} depends on Auth.js's tables; drop it for the upgrade")
    return readable


def _duplicates(ex: Executor, query: str) -> list[list[str]]:
    return [list(ids) for (ids,) in _all(ex, query)]


def _check_rows(ex: Executor, existing: list[str], report: _Report) -> None:
    if "users" in existing:
        _check_users(ex, report)
    for table in ("accounts", "sessions"):
        if table not in existing:
            continue
        _check_ids(ex, table, report)
        if "users" in existing:
            orphans = [
                i
                for (i,) in _all(
                    ex,
                    sql.SQL(
                        "SELECT t.id::text FROM {} t WHERE NOT EXISTS (SELECT 1 FROM users u"
                        ' WHERE u.id::text = t."userId"::text) ORDER BY t.id'
                    ).format(sql.Identifier(table)),
                )
            ]
            if orphans:
                report.add(
                    f"{table} {_ids(orphans)}: userId names no user (its foreign key needs one)",
                    table,
                    orphans,
                )
    if "accounts" in existing:
        for ids in _duplicates(
            ex,
            "SELECT array_agg(id::text ORDER BY id) FROM accounts"
            ' GROUP BY provider, "providerAccountId" HAVING count(*) > 1',
        ):
            report.add(f"accounts {_ids(ids)}: the same provider account", "accounts", ids)
    if "sessions" in existing:
        for ids in _duplicates(
            ex,
            'SELECT array_agg(id::text ORDER BY id) FROM sessions GROUP BY "sessionToken"'
            " HAVING count(*) > 1",
        ):
            report.add(f"sessions {_ids(ids)}: the same sessionToken", "sessions", ids)


def _check_ids(ex: Executor, table: str, report: _Report) -> None:
    bad = []
    query = sql.SQL("SELECT id::text FROM {} ORDER BY id").format(sql.Identifier(table))
    for (row_id,) in _all(ex, query):
        try:
            v.validate_id(row_id)
        except ValidationError:
            bad.append(row_id[:40])
    if bad:
        report.add(f"{table} {_ids(bad)}: id is not 1-128 characters of [A-Za-z0-9_.-]", table, bad)


def _check_users(ex: Executor, report: _Report) -> None:
    _check_ids(ex, "users", report)
    no_email: list[str] = []
    not_address: list[str] = []
    folded_apart: list[str] = []
    by_email: dict[str, list[str]] = defaultdict(list)
    for user_id, email, folded in _all(
        ex, "SELECT id::text, email::text, lower(email::text) FROM users ORDER BY id"
    ):
        if email is None or not email.strip():
            no_email.append(user_id)
            continue
        try:
            normal = v.normalize_email(email)
        except ValidationError:
            not_address.append(user_id)
            continue
        by_email[normal].append(user_id)
        if folded != normal:
            folded_apart.append(user_id)
    if no_email:
        report.add(f"users {_ids(no_email)}: no e-mail (auth-store needs one)", "users", no_email)
    if not_address:
        report.add(f"users {_ids(not_address)}: the e-mail is not an address", "users", not_address)
    if folded_apart:
        report.add(
            f"users {_ids(folded_apart)}: Postgres's lower() folds the e-mail differently from"
            " auth-store's normalisation (NFKC, trimmed, lower-case), so it could not be found"
            " by e-mail; store it normalised",
            "users",
            folded_apart,
        )
    for ids in by_email.values():
        if len(ids) > 1:
            report.add(
                f"users {_ids(ids)}: the same e-mail once normalised (case, spaces, NFKC)",
                "users",
                ids,
            )
