"""One database and one session, both ways: the real ``better-auth`` package and the flavor.

Every test runs on SQLite (``better-sqlite3``) and on the test Postgres
(``pg``): Better Auth 1.7.25 (pinned in tests/js/package.json) runs as a
headless app on the same database (``tests/js/better_auth.mjs``), and this
package opens it with ``?flavor=better-auth``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import psycopg
import psycopg.sql
import pytest

import auth_store
from auth_store import Account, User, better_auth, clock
from auth_store.adapter import Adapter
from auth_store.flow import AuthFlow, SignedIn
from auth_store.mail import MemoryMailer
from auth_store.passwords import PasswordService
from auth_store.session_resolver import RequestCredentials
from auth_store.sessions import SessionManager
from auth_store.signing import Signer
from tests.better_auth_app import BetterAuthApp, better_auth_app

KINDS = ["sqlite", "postgres"]
PASSWORD = "correct horse battery"


@pytest.fixture(params=KINDS)
def app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BetterAuthApp]:
    with better_auth_app(request.param, tmp_path) as made:
        yield made


def _cookie_value(cookie: str) -> str:
    """The value of a ``name=value`` cookie pair."""
    return cookie.partition("=")[2]


def _resolve(store: Adapter, app: BetterAuthApp, **request: Any) -> Any:
    resolver = better_auth.better_auth_resolver(store=store, secret=app.secret)
    return resolver.resolve(RequestCredentials(**request))


# -- the schema ----------------------------------------------------------------------------


def _describe(app: BetterAuthApp) -> dict[str, Any]:
    """Better Auth's four tables as the database describes them (columns, keys, indexes)."""
    tables = ("user", "session", "account", "verification")
    if app.kind == "sqlite":
        db = sqlite3.connect(app.db["path"])
        try:
            found: dict[str, Any] = {}
            for table in tables:
                columns = db.execute(f"SELECT * FROM pragma_table_info('{table}')").fetchall()
                keys = db.execute(f"SELECT * FROM pragma_foreign_key_list('{table}')").fetchall()
                indexes = [
                    (name, unique, [c[2] for c in db.execute(f"PRAGMA index_info('{name}')")])
                    for _, name, unique, origin, _ in db.execute(f"PRAGMA index_list('{table}')")
                    if not name.startswith("auth_store_")
                ]
                assert columns
                assert indexes
                found[table] = {
                    "columns": columns,
                    "foreign_keys": keys,
                    "indexes": sorted(indexes),
                }
            return found
        finally:
            db.close()
    with psycopg.connect(app.db["url"]) as pg:
        schema = app.db["schema"]
        # Unqualified names in the definitions, so two schemas compare equal.
        pg.execute(psycopg.sql.SQL("SET search_path TO {}").format(psycopg.sql.Identifier(schema)))
        columns = pg.execute(
            "SELECT table_name, column_name, data_type, is_nullable, column_default,"
            " ordinal_position FROM information_schema.columns WHERE table_schema = %s"
            " AND table_name = ANY(%s) ORDER BY table_name, ordinal_position",
            (schema, list(tables)),
        ).fetchall()
        constraints = pg.execute(
            "SELECT r.relname, c.conname, pg_get_constraintdef(c.oid) FROM pg_constraint c"
            " JOIN pg_class r ON r.oid = c.conrelid JOIN pg_namespace n ON n.oid = r.relnamespace"
            " WHERE n.nspname = %s AND r.relname = ANY(%s) ORDER BY 1, 2",
            (schema, list(tables)),
        ).fetchall()
        indexes = pg.execute(
            "SELECT tablename, indexname, replace(indexdef, %s, '') FROM pg_indexes"
            " WHERE schemaname = %s AND tablename = ANY(%s)"
            " AND indexname NOT LIKE 'auth_store_%%' ORDER BY 1, 2",
            (f"{schema}.", schema, list(tables)),
        ).fetchall()
        assert len(columns) == 34
        assert len(constraints) == 8
        assert len(indexes) == 9
        return {"columns": columns, "constraints": constraints, "indexes": indexes}


def test_the_schema_is_the_one_better_auth_creates(app: BetterAuthApp, tmp_path: Path) -> None:
    with better_auth_app(app.kind, tmp_path, "theirs") as theirs:
        theirs.one({"op": "runMigrations"})  # Better Auth creates its own schema
        with auth_store.connect(app.store_url):  # and auth-store creates this one
            pass
        assert _describe(app) == _describe(theirs)
    # Better Auth finds nothing to create or add, and no problem, and works on it.
    migrations, signed_up = app.run(
        {"op": "compileMigrations"},
        {"op": "signUp", "email": "ann@example.com", "password": PASSWORD, "name": "Ann"},
    )
    assert migrations["toBeCreated"] == []
    assert migrations["toBeAdded"] == []
    assert migrations["schemaProblems"] == []
    assert signed_up["token"]


def test_a_schema_better_auth_created_is_adopted_with_its_rows(app: BetterAuthApp) -> None:
    _, signed_up = app.run(
        {"op": "runMigrations"},
        {"op": "signUp", "email": "Ann@Example.com", "password": PASSWORD, "name": "Ann"},
    )
    with auth_store.connect(app.store_url) as store:
        ann = store.get_user_by_email("ann@example.com")
        assert ann is not None
        assert ann.id == signed_up["userId"]
        assert (ann.name, ann.email_verified, ann.extra) == ("Ann", None, {})
        assert store.counts() == {
            "users": 1,
            "accounts": 0,
            "sessions": 1,
            "verification_tokens": 0,
            "authenticators": 0,
            "credentials": 1,  # the credential account holding the password
        }


# -- Better Auth signs someone up; this package reads them ----------------------------------


def test_a_better_auth_user_is_read_here_with_password_and_session(app: BetterAuthApp) -> None:
    _, signed_up = app.run(
        {"op": "runMigrations"},
        {"op": "signUp", "email": "bea@example.com", "password": PASSWORD, "name": "Bea"},
    )
    with auth_store.connect(app.store_url) as store:
        passwords = PasswordService(store)
        bea = passwords.verify_password_for_email("bea@example.com", PASSWORD)
        assert bea is not None
        assert bea.id == signed_up["userId"]
        assert passwords.verify_password_for_email("bea@example.com", "wrong password!") is None
        # The whole sign-in flow of this package, with the password set in Better Auth.
        flow = AuthFlow(
            store,
            signer=Signer("k" * 32),
            mailer=MemoryMailer(),
            base_url="http://localhost:8000",
            require_verified_email=False,
        )
        result = flow.sign_in_password("bea@example.com", PASSWORD)
        assert isinstance(result, SignedIn)
        assert result.user.id == bea.id
        # The session Better Auth started, from its cookie and as a bearer token.
        value = _cookie_value(signed_up["cookie"])
        assert better_auth.verify_cookie(value, app.secret) == signed_up["token"]
        found = _resolve(store, app, cookies={"better-auth.session_token": unquote(value)})
        assert found is not None
        assert (found.user_id, found.strategy, found.transport) == (bea.id, "better-auth", "cookie")
        assert found.session is not None
        assert found.session.session_token == signed_up["token"]
        bearer = _resolve(store, app, authorization=f"Bearer {value}")
        assert bearer is not None
        assert bearer.user_id == bea.id
        assert bearer.transport == "bearer"
        forged = value[:-4] + "AAA%3D"
        assert _resolve(store, app, cookies={"better-auth.session_token": forged}) is None


# -- this package creates a user, a password and a session; Better Auth accepts them ---------


def test_a_user_password_and_session_made_here_work_in_better_auth(app: BetterAuthApp) -> None:
    app.one({"op": "runMigrations"})
    with auth_store.connect(app.store_url) as store:
        cid = store.create_user(User(email="Cid@Example.com", name="Cid"))
        PasswordService(store).set_password(cid.id, PASSWORD)
        issued = SessionManager(store).create(cid, ip_address="203.0.113.9", user_agent="curl/8")
        assert issued.session.session_token == issued.token  # stored as Better Auth reads it
        assert issued.expires - clock.now() > timedelta(days=6)  # Better Auth's 7 days
        cookie = better_auth.encode_cookie_value(better_auth.sign_cookie(issued.token, app.secret))
    got, signed_in, wrong = app.run(
        {"op": "getSession", "cookie": f"better-auth.session_token={cookie}"},
        {"op": "signIn", "email": "cid@example.com", "password": PASSWORD},
        {"op": "signIn", "email": "cid@example.com", "password": "not the password"},
    )
    assert got["found"]["user"]["id"] == cid.id
    assert got["found"]["user"]["email"] == "cid@example.com"
    assert got["found"]["session"]["token"] == issued.token
    assert got["found"]["session"]["ipAddress"] == "203.0.113.9"
    assert signed_in["userId"] == cid.id
    assert wrong["error"]["status"] == 401


def test_signing_out_on_either_side_signs_out_on_both(app: BetterAuthApp) -> None:
    _, first, second = app.run(
        {"op": "runMigrations"},
        {"op": "signUp", "email": "dee@example.com", "password": PASSWORD, "name": "Dee"},
        {"op": "signIn", "email": "dee@example.com", "password": PASSWORD},
    )
    first_value = unquote(_cookie_value(first["cookie"]))
    with auth_store.connect(app.store_url) as store:
        assert _resolve(store, app, cookies={"better-auth.session_token": first_value})
        # Better Auth signs the first session out: this package no longer accepts it.
        signed_out, still = app.run(
            {"op": "signOut", "cookie": first["cookie"]},
            {"op": "getSession", "cookie": second["cookie"]},
        )
        assert signed_out == {"success": True}
        assert still["found"] is not None
        assert _resolve(store, app, cookies={"better-auth.session_token": first_value}) is None
        # This package revokes the second: Better Auth no longer accepts it.
        assert SessionManager(store).revoke(second["token"])
    gone = app.one({"op": "getSession", "cookie": second["cookie"]})
    assert gone["found"] is None


# -- OAuth accounts, written on either side -------------------------------------------------


def test_an_oauth_account_written_on_either_side_is_read_on_the_other(app: BetterAuthApp) -> None:
    profile = {"id": 4242, "email": "eve@example.com", "name": "Eve", "emailVerified": True}
    _, signed_in = app.run({"op": "runMigrations"}, {"op": "oauthSignIn", "profile": profile})
    assert signed_in["status"] == 302
    eve_id = signed_in["found"]["user"]["id"]
    with auth_store.connect(app.store_url) as store:
        account = store.get_account("mock", "4242")
        assert account is not None
        assert (account.user_id, account.type, account.scope) == (
            eve_id,
            "oauth",
            "openid email profile",
        )
        assert account.access_token is not None
        assert account.access_token.startswith("at-")
        assert account.refresh_token == "rt-1"
        assert account.expires_at is not None
        assert 3500 < account.expires_at - clock.now().timestamp() <= 3600
        eve = store.get_user_by_account("mock", "4242")
        assert eve is not None
        assert eve.email == "eve@example.com"
        # Written here for a user Better Auth knows: its OAuth sign-in finds it.
        fay = store.create_user(User(email="fay@example.com", name="Fay"))
        store.link_account(
            Account(
                user_id=fay.id,
                type="oauth",
                provider="mock",
                provider_account_id="777",
                access_token="py-access",
                scope="openid email",
                token_type="bearer",
                expires_at=int(clock.now().timestamp()) + 3600,
            )
        )
    other = {"id": 777, "email": "fay-at-provider@example.com", "name": "F", "emailVerified": True}
    fay_in = app.one({"op": "oauthSignIn", "profile": other})
    assert fay_in["status"] == 302
    assert fay_in["found"]["user"]["id"] == fay.id
    listed = app.one({"op": "listAccounts", "cookie": fay_in["cookie"]})
    assert [(a["providerId"], a["accountId"], a["scopes"]) for a in listed] == [
        ("mock", "777", ["openid", "email"])
    ]
    with auth_store.connect(app.store_url) as store:
        after = store.get_account("mock", "777")
        assert after is not None
        assert after.token_type == "bearer"  # kept beside Better Auth's row
        assert after.access_token != "py-access"  # Better Auth's sign-in stored new tokens


# -- verification values and passwords -------------------------------------------------------


@pytest.mark.parametrize("hashed", [False, True], ids=["plain", "hashed"])
def test_a_password_reset_issued_here_is_accepted_by_better_auth(
    app: BetterAuthApp, hashed: bool
) -> None:
    options = {"storeIdentifier": "hashed"} if hashed else {}
    _, signed_up = app.run(
        {"op": "runMigrations"},
        {"op": "signUp", "email": "gus@example.com", "password": PASSWORD, "name": "Gus"},
    )
    with auth_store.connect(app.store_url) as store:
        token = better_auth.issue_password_reset(store, signed_up["userId"], hashed=hashed)
    reset, signed_in = app.run(
        {"op": "resetPassword", "token": token, "newPassword": "a brand new password"},
        {"op": "signIn", "email": "gus@example.com", "password": "a brand new password"},
        **options,
    )
    assert reset == {"status": True}
    assert signed_in["userId"] == signed_up["userId"]
    with auth_store.connect(app.store_url) as store:
        passwords = PasswordService(store)
        assert passwords.verify_password(signed_up["userId"], "a brand new password")
        assert not passwords.verify_password(signed_up["userId"], PASSWORD)
        # Better Auth's own reset request, read and spent through the contract.
        (requested,) = app.run({"op": "requestPasswordReset", "email": "gus@example.com"})
        key = better_auth.reset_identifier(requested["token"])
        used = store.use_verification_token(signed_up["userId"], key)
        assert used is not None
        assert used.expires > clock.now()
    spent = app.one({"op": "resetPassword", "token": requested["token"], "newPassword": "x" * 12})
    assert spent["error"]["status"] == 400


def test_hashes_are_better_auths_scrypt_both_ways(app: BetterAuthApp) -> None:
    app.one({"op": "runMigrations"})
    wide = "\uff30\uff41\uff53\uff53 \uff57\uff4f\uff52\uff44 \ufb01ne"  # full-width, a ligature
    with auth_store.connect(app.store_url) as store:
        made_here = PasswordService(store).hash(wide)  # NFKC on both sides
        assert better_auth.is_better_auth_hash(made_here)
    made_there, accepted, nfkc = app.run(
        {"op": "hashPassword", "password": PASSWORD},
        {"op": "verifyPassword", "hash": made_here, "password": wide},
        {"op": "verifyPassword", "hash": made_here, "password": "Pass word fine"},
    )
    assert accepted is True
    assert nfkc is True
    assert better_auth.password_context().verify(PASSWORD, made_there)
    assert not better_auth.password_context().verify("another one", made_there)


def test_argon2id_on_both_sides_as_the_guide_configures_them(app: BetterAuthApp) -> None:
    # Before the switch: a user with Better Auth's scrypt hash.
    _, before = app.run(
        {"op": "runMigrations"},
        {"op": "signUp", "email": "hal@example.com", "password": PASSWORD, "name": "Hal"},
    )
    argon2 = better_auth.password_context(hashes="argon2id")
    with auth_store.connect(app.store_url) as store:
        ivy = store.create_user(User(email="ivy@example.com", name="Ivy"))
        PasswordService(store, context=argon2).set_password(ivy.id, PASSWORD)
        (stored,) = store.list_credentials(ivy.id, "password")
        assert stored.data["hash"].startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    hal_in, ivy_in, jo = app.run(
        {"op": "signIn", "email": "hal@example.com", "password": PASSWORD},
        {"op": "signIn", "email": "ivy@example.com", "password": PASSWORD},
        {"op": "signUp", "email": "jo@example.com", "password": PASSWORD, "name": "Jo"},
        argon2=True,
    )
    assert hal_in["userId"] == before["userId"]  # scrypt rows still sign in
    assert ivy_in["userId"] == ivy.id  # argon2id written here
    with auth_store.connect(app.store_url) as store:
        passwords = PasswordService(store, context=argon2)
        (jo_hash,) = store.list_credentials(jo["userId"], "password")
        assert jo_hash.data["hash"].startswith("$argon2id$")  # argon2id written there
        assert passwords.verify_password(jo["userId"], PASSWORD)
        assert passwords.verify_password(before["userId"], PASSWORD)  # and moved to argon2id
        (hal_hash,) = store.list_credentials(before["userId"], "password")
        assert hal_hash.data["hash"].startswith("$argon2id$")
    hal_again = app.one(
        {"op": "signIn", "email": "hal@example.com", "password": PASSWORD}, argon2=True
    )
    assert hal_again["userId"] == before["userId"]


def test_the_example_api_reads_sessions_of_a_better_auth_app_on_https(app: BetterAuthApp) -> None:
    from fastapi.testclient import TestClient

    from examples.nextjs_backend import create_app

    _, signed_up = app.run(
        {"op": "runMigrations"},
        {"op": "signUp", "email": "kim@example.com", "password": PASSWORD, "name": "Kim"},
        baseURL="https://app.example.com",
    )
    name, _, value = signed_up["cookie"].partition("=")
    assert name == "__Secure-better-auth.session_token"
    with auth_store.connect(app.store_url) as store:
        api = create_app(store, secret=app.secret, frontend="better-auth")
        with TestClient(api) as client:
            me = client.get("/api/me", headers={"Cookie": signed_up["cookie"]})
            assert me.status_code == 200, me.text
            assert me.json()["id"] == signed_up["userId"]
            found = client.get("/api/session", headers={"Authorization": f"Bearer {value}"})
            assert found.json()["strategy"] == "better-auth"
            assert found.json()["transport"] == "bearer"
            plain = {"Cookie": f"better-auth.session_token={value}"}  # the name an http app uses
            assert client.get("/api/me", headers=plain).status_code == 200
            assert client.get("/api/me").status_code == 401
