"""Moving Auth.js data to Better Auth's tables, and back, with ``auth-store migrate``.

The Auth.js side is the real ``@auth/pg-adapter`` (``tests/js/authjs_pg_populate.mjs``)
on Auth.js's own schema.sql, or a Prisma schema exported with the SQL in
docs/migration.md; the Better Auth side is the real ``better-auth`` package
(``tests/js/better_auth.mjs``), which must sign the moved users in with their
existing sessions and OAuth accounts. Rows that cannot map are reported before
anything is written.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner
from psycopg import sql

import auth_store
from auth_store import better_auth
from auth_store.cli import cli
from auth_store.passwords import PasswordService
from tests.better_auth_app import better_auth_app
from tests.node import run_node
from tests.pg import conninfo, fresh_postgres_url, schema_of
from tests.test_migrate import PRISMA_SCHEMA, _prisma_sql

AUTHJS_SCHEMA = Path(__file__).parent / "fixtures" / "authjs_pg" / "schema.sql"
KINDS = ["sqlite", "postgres"]


def _cli(*args: str) -> Any:
    return CliRunner().invoke(cli, ["--json", *args], catch_exceptions=False)


def _in_schema(url: str, script: str) -> None:
    with psycopg.connect(conninfo(url), autocommit=True) as db:
        db.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema_of(url))))
        db.execute(script.encode())


def _cookie(token: str, secret: str) -> str:
    signed = better_auth.sign_cookie(token, secret)
    return f"better-auth.session_token={better_auth.encode_cookie_value(signed)}"


@pytest.fixture
def authjs_url() -> Iterator[str]:
    """A schema with Auth.js's tables (its schema.sql) and what @auth/pg-adapter wrote."""
    with fresh_postgres_url() as url:
        script = "\n".join(
            line for line in AUTHJS_SCHEMA.read_text().splitlines() if not line.startswith("\\")
        )
        _in_schema(url, script)
        yield url


USERS = [
    {
        "email": "ada@example.com",
        "name": "Ada",
        "emailVerified": "2025-05-06T07:08:09.123Z",
        "account": {
            "provider": "mock",
            "providerAccountId": "4242",
            "type": "oidc",
            "access_token": "gho_ada",
            "refresh_token": "ghr_ada",
            "expires_at": 1_900_000_000,
            "scope": "read:user user:email",
            "token_type": "bearer",
        },
    },
    {"email": "bob@example.com", "name": None},
]


@pytest.mark.parametrize("kind", KINDS)
def test_an_authjs_database_moves_to_better_auth_and_back(
    authjs_url: str, kind: str, tmp_path: Path
) -> None:
    made = run_node(
        "authjs_pg_populate.mjs",
        {"connectionString": conninfo(authjs_url), "schema": schema_of(authjs_url), "users": USERS},
    )
    ada, bob = made["users"]
    # The documented first step: auth-store takes the Auth.js tables on as they are.
    assert _cli("--url", authjs_url, "schema", "upgrade").exit_code == 0
    with better_auth_app(kind, tmp_path) as app:
        moved = _cli("migrate", "--from", authjs_url, "--to", app.store_url)
        assert moved.exit_code == 0, moved.output
        result = json.loads(moved.stdout)
        assert result["ok"] is True
        assert result["verification"]["ok"] is True
        assert result["copied"] == {
            "users": 2,
            "accounts": 1,
            "sessions": 2,
            "verification_tokens": 1,
            "authenticators": 0,
            "credentials": 0,
        }
        assert result["warnings"] == []

        with auth_store.connect(app.store_url) as store:
            moved_ada = store.get_user(ada["userId"])  # ids kept: Auth.js's "1", "2"
            assert moved_ada is not None
            assert moved_ada.email_verified is not None
            assert moved_ada.email_verified.isoformat() == "2025-05-06T07:08:09.123000+00:00"
            account = store.get_account("mock", "4242")
            assert account is not None
            assert (account.access_token, account.refresh_token, account.expires_at) == (
                "gho_ada",
                "ghr_ada",
                1_900_000_000,
            )
            assert (account.scope, account.type, account.token_type) == (
                "read:user user:email",
                "oidc",
                "bearer",
            )
            token = made["verificationToken"]
            spent = store.use_verification_token(token["identifier"], token["token"])
            assert spent is not None

        # Better Auth signs them in: their sessions (the token in its signed cookie),
        # and their OAuth account (its sign-in finds the moved row).
        ada_session, bob_session, ada_oauth, listed = app.run(
            {"op": "getSession", "cookie": _cookie(ada["sessionToken"], app.secret)},
            {"op": "getSession", "cookie": _cookie(bob["sessionToken"], app.secret)},
            {
                "op": "oauthSignIn",
                "profile": {"id": 4242, "email": "ada@example.com", "name": "Ada"},
            },
            {"op": "listAccounts", "cookie": _cookie(ada["sessionToken"], app.secret)},
        )
        assert ada_session["found"]["user"]["id"] == ada["userId"]
        assert ada_session["found"]["user"]["emailVerified"] is True
        assert bob_session["found"]["user"]["id"] == bob["userId"]
        assert bob_session["found"]["user"]["name"] == ""  # Better Auth's name is required
        assert ada_oauth["status"] == 302
        assert ada_oauth["found"]["user"]["id"] == ada["userId"]
        assert [(a["providerId"], a["scopes"]) for a in listed] == [
            ("mock", ["read:user", "user:email"])
        ]
        if kind == "sqlite":
            raw = sqlite3.connect(app.db["path"])
            (scope,) = raw.execute(
                "SELECT scope FROM account WHERE \"accountId\" = '4242'"
            ).fetchone()
            raw.close()
            assert scope == "read:user,user:email"

        # And back: into Auth.js's layout, which @auth/pg-adapter reads.
        with fresh_postgres_url() as back_url:
            back = _cli("migrate", "--from", app.store_url, "--to", back_url)
            assert back.exit_code == 0, back.output
            assert json.loads(back.stdout)["verification"]["ok"] is True
            reads = run_node(
                "authjs_pg_reads.mjs",
                {
                    "url": conninfo(back_url),
                    "schema": schema_of(back_url),
                    "userId": ada["userId"],
                    "email": "ada@example.com",
                    "provider": "mock",
                    "providerAccountId": "4242",
                    "sessionToken": bob["sessionToken"],
                },
            )
            assert reads["getUserByAccount"]["id"] == ada["userId"]
            assert reads["getSessionAndUser"]["user"]["id"] == bob["userId"]
            assert reads["getSessionAndUser"]["user"]["name"] is None


def test_a_prisma_authjs_schema_moves_to_better_auth(tmp_path: Path) -> None:
    import bcrypt

    with fresh_postgres_url() as prisma_url:
        _in_schema(prisma_url, PRISMA_SCHEMA)
        hashed = bcrypt.hashpw(b"prisma pass", bcrypt.gensalt(4)).decode()
        _in_schema(prisma_url, f"UPDATE \"User\" SET password = '{hashed}' WHERE id = 'clx1ada'")
        script = tmp_path / "prisma-export.sql"
        script.write_text(f"SET search_path TO {schema_of(prisma_url)};\n{_prisma_sql()}")
        export = tmp_path / "auth.jsonl"
        subprocess.run(
            [
                *("psql", conninfo(prisma_url), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"),
                *("-f", str(script), "-o", str(export)),
            ],
            check=True,
            timeout=60,
        )
    with better_auth_app("sqlite", tmp_path) as app:
        imported = _cli("--url", app.store_url, "import", str(export))
        assert imported.exit_code == 0, imported.output
        result = json.loads(imported.stdout)
        assert result["verification"]["ok"] is True
        assert result["copied"]["users"] == 2
        # A bcrypt hash is kept, and said to be one Better Auth can't check as configured.
        (warning,) = result["warnings"]
        assert warning["kind"] == "app-cannot-use"
        assert "clx1ada" in warning["message"]
        assert hashed not in imported.stdout

        session, refused = app.run(
            {"op": "getSession", "cookie": _cookie("plain-session-token", app.secret)},
            {"op": "signIn", "email": "ada@example.com", "password": "prisma pass"},
        )
        assert session["found"]["user"]["id"] == "clx1ada"
        assert refused["error"]["status"] == 500  # Better Auth: "Invalid password hash"
        # One sign-in through auth-store rewrites the hash in Better Auth's format.
        with auth_store.connect(app.store_url) as store:
            assert PasswordService(store).verify_password("clx1ada", "prisma pass")
        signed_in = app.one({"op": "signIn", "email": "ada@example.com", "password": "prisma pass"})
        assert signed_in["userId"] == "clx1ada"


# -- bad input ---------------------------------------------------------------------------------

#: Better Auth's user table as an app could have it: e-mail nullable, a plugin's column.
LOOSE_USER = (
    'create table "user" ("id" text not null primary key, "name" text not null,'
    ' "email" text unique, "emailVerified" integer not null, "image" text,'
    ' "createdAt" date not null, "updatedAt" date not null, "role" text)'
)


def test_rows_that_cannot_map_are_reported_and_nothing_is_written(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    db = sqlite3.connect(path)
    db.execute(LOOSE_USER)
    stamp = "2026-01-02T03:04:05.000Z"
    db.executemany(
        'INSERT INTO "user" VALUES (?, ?, ?, 0, NULL, ?, ?, ?)',
        [
            ("u-ok", "Ok", "ok@example.com", stamp, stamp, "admin"),
            ("u-null", "Null", None, stamp, stamp, None),
            ("u-blank", "Blank", "not an address", stamp, stamp, None),
            ("u dup", "Bad id", "bad-id@example.com", stamp, stamp, None),
        ],
    )
    db.execute('CREATE TABLE "passkey" (id text primary key, "userId" text)')
    db.execute("INSERT INTO passkey VALUES ('pk-1', 'u-ok')")
    db.commit()
    db.close()
    source = f"sqlite:///{path}?flavor=better-auth"
    with auth_store.connect(source) as store:  # adopted: Better Auth's tables are added
        assert store.counts()["users"] == 4
    target = f"sqlite:///{tmp_path}/target.db"

    refused = _cli("migrate", "--from", source, "--to", target)
    assert refused.exit_code == 1
    result = json.loads(refused.stdout)
    assert result["verification"] is None
    messages = [p["message"] for p in result["problems"]]
    assert all(p["kind"] == "unmappable" for p in result["problems"])
    assert any("u-blank" in m and "u-null" in m and "e-mail" in m for m in messages)
    assert any("'u dup'" in m and "id" in m for m in messages)
    warnings = [w["message"] for w in result["warnings"]]
    assert any("user.role" in w and "1 row(s)" in w for w in warnings)
    assert any("table passkey" in w for w in warnings)
    with auth_store.connect(target) as copy:
        assert sum(copy.counts().values()) == 0  # nothing written half-way
    assert "admin" not in refused.stdout  # values are never printed

    checked = _cli("--url", source, "check")
    assert checked.exit_code == 1
    assert "u-null" in checked.stdout

    db = sqlite3.connect(path)
    db.execute("DELETE FROM \"user\" WHERE id IN ('u-null', 'u-blank', 'u dup')")
    db.commit()
    db.close()
    moved = _cli("migrate", "--from", source, "--to", target)
    assert moved.exit_code == 0, moved.output
    result = json.loads(moved.stdout)
    assert result["copied"]["users"] == 1
    assert {w["kind"] for w in result["warnings"]} == {"left-behind"}


def test_an_account_of_better_auths_password_provider_cannot_move_in(tmp_path: Path) -> None:
    source = f"sqlite:///{tmp_path}/plain.db"
    with auth_store.connect(source) as store:
        user = store.create_user(auth_store.User(email="cy@example.com"))
        store.link_account(
            auth_store.Account(
                user_id=user.id, type="oauth", provider="credential", provider_account_id="x"
            )
        )
    with better_auth_app("sqlite", tmp_path) as app:
        refused = _cli("migrate", "--from", source, "--to", app.store_url)
        assert refused.exit_code == 1
        (problem,) = json.loads(refused.stdout)["problems"]
        assert problem["kind"] == "unmappable"
        assert "credential" in problem["message"]
        with auth_store.connect(app.store_url) as store:
            assert sum(store.counts().values()) == 0


def test_an_export_with_a_user_without_e_mail_imports_nothing(tmp_path: Path) -> None:
    """What the Prisma export gives for an Auth.js user whose e-mail is NULL."""
    stamp = "2026-01-01T00:00:00.000000+00:00"
    lines = [
        {"format": "auth-store", "version": 1, "backend": "prisma", "exported_at": stamp},
        {"collection": "users", "record": {"id": "u-ok", "email": "ok@example.com"}},
        {"collection": "users", "record": {"id": "u-none", "email": None}},
        {
            "end": True,
            "counts": {
                "users": 2,
                "accounts": 0,
                "sessions": 0,
                "verification_tokens": 0,
                "authenticators": 0,
                "credentials": 0,
            },
        },
    ]
    export = tmp_path / "auth.jsonl"
    export.write_text("".join(json.dumps(line) + "\n" for line in lines))
    with better_auth_app("sqlite", tmp_path) as app:
        refused = _cli("--url", app.store_url, "import", str(export))
        assert refused.exit_code == 1
        (problem,) = json.loads(refused.stdout)["problems"]
        assert problem["kind"] == "unmappable"
        assert "user u-none" in problem["message"]
        assert "email" in problem["message"]
        assert "nothing" in refused.output
        with auth_store.connect(app.store_url) as store:
            assert sum(store.counts().values()) == 0
