"""A database a Next.js app on Auth.js created and filled: auth-store upgrades it in place.

The tables come from Auth.js's own files (``tests/fixtures/authjs_pg``: its
schema.sql, and the schema its documentation shows), the rows from the SQL
``@auth/pg-adapter`` runs (``AuthJsPg`` below holds its statements verbatim).
``auth_store.connect`` then opens the database: every row must read back
through the adapter and keep every value it had, the Next.js side must keep
working, and an upgrade that can't succeed must stop before it changes
anything, naming the rows in the way.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

import auth_store
from auth_store import Account, ConfigurationError, Session, User, VerificationToken
from auth_store.adapters.postgres import PostgresAdapter
from auth_store.adapters.postgres_authjs import AuthJsUpgradeError
from tests.node import run_node
from tests.pg import admin_connection, conninfo, fresh_postgres_url, postgres_url, schema_of
from tests.previous_release import run_previous_release

__all__ = ["postgres_url"]  # a fixture, used below

pytestmark = pytest.mark.postgres

FIXTURES = Path(__file__).parent / "fixtures" / "authjs_pg"
#: Auth.js's schema.sql, and the schema its documentation shows (no unique or foreign keys).
SCHEMAS = ["schema.sql", "schema-documented.sql"]
_CEST = timezone(timedelta(hours=2))

#: Auth.js's columns of each table, read as text to compare rows before and after.
ORIGINAL = {
    "users": 'id::text, name::text, email::text, "emailVerified"::text, image',
    "accounts": (
        'id::text, "userId"::text, type::text, provider::text, "providerAccountId"::text,'
        " refresh_token, access_token, expires_at::text, id_token, scope, session_state,"
        " token_type"
    ),
    "sessions": 'id::text, "userId"::text, expires::text, "sessionToken"::text',
    "verification_token": "identifier, expires::text, token",
}

Conn = psycopg.Connection[tuple[Any, ...]]


class AuthJsPg:
    """The statements of @auth/pg-adapter (src/index.ts), verbatim, on one connection.

    ``$n`` placeholders are bound by number, as node-postgres binds them.
    """

    CREATE_USER = """
        INSERT INTO users (name, email, "emailVerified", image) 
        VALUES ($1, $2, $3, $4) 
        RETURNING id, name, email, "emailVerified", image"""  # noqa: W291
    GET_USER = "select * from users where id = $1"
    UPDATE_USER = """
        UPDATE users set
        name = $2, email = $3, "emailVerified" = $4, image = $5
        where id = $1
        RETURNING name, id, email, "emailVerified", image
      """
    LINK_ACCOUNT = """
      insert into accounts 
      (
        "userId", 
        provider, 
        type, 
        "providerAccountId", 
        access_token,
        expires_at,
        refresh_token,
        id_token,
        scope,
        session_state,
        token_type
      )
      values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
      returning
        id,
        "userId", 
        provider, 
        type, 
        "providerAccountId", 
        access_token,
        expires_at,
        refresh_token,
        id_token,
        scope,
        session_state,
        token_type
      """  # noqa: W291
    CREATE_SESSION = """insert into sessions ("userId", expires, "sessionToken")
      values ($1, $2, $3)
      RETURNING id, "sessionToken", "userId", expires"""
    GET_SESSION = 'select * from sessions where "sessionToken" = $1'
    UPDATE_SESSION = """
        UPDATE sessions set
        expires = $2
        where "sessionToken" = $1
        """
    CREATE_VERIFICATION_TOKEN = """
        INSERT INTO verification_token ( identifier, expires, token ) 
        VALUES ($1, $2, $3)
        """  # noqa: W291
    DELETE_USER = (
        "delete from users where id = $1",
        'delete from sessions where "userId" = $1',
        'delete from accounts where "userId" = $1',
    )

    def __init__(self, conn: Conn) -> None:
        self.conn = conn

    def query(self, statement: str, *values: Any) -> list[tuple[Any, ...]]:
        bound = re.sub(r"\$(\d+)", r"%(p\1)s", statement)
        params = {f"p{n}": value for n, value in enumerate(values, start=1)}
        cursor = self.conn.execute(bound, params)
        return cursor.fetchall() if cursor.description else []

    def create_user(self, name: str | None, email: str, verified: datetime | None = None) -> Any:
        return self.query(self.CREATE_USER, name, email, verified, None)[0][0]

    def link_account(self, user_id: Any, provider: str, type: str, pa_id: str, **t: Any) -> Any:
        fields = ("access_token", "expires_at", "refresh_token", "id_token", "scope")
        values = [t.get(f) for f in (*fields, "session_state", "token_type")]
        return self.query(self.LINK_ACCOUNT, user_id, provider, type, pa_id, *values)[0][0]

    def create_session(self, user_id: Any, expires: datetime, token: str) -> Any:
        return self.query(self.CREATE_SESSION, user_id, expires, token)[0][0]

    def delete_user(self, user_id: Any) -> None:
        for statement in self.DELETE_USER:
            self.query(statement, user_id)


def create_authjs_tables(conn: Conn, schema_file: str) -> None:
    """Run an Auth.js schema file as psql would (its meta-commands stay in psql)."""
    text = (FIXTURES / schema_file).read_text(encoding="utf-8")
    conn.execute("\n".join(line for line in text.splitlines() if not line.startswith("\\")))


def snapshot(conn: Conn) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of Auth.js's tables, in Auth.js's columns, as text."""
    return {
        table: conn.execute(f"SELECT {columns} FROM {table} ORDER BY 1, 2").fetchall()
        for table, columns in ORIGINAL.items()
    }


def in_schema(conn: Conn, url: str) -> Conn:
    conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema_of(url))))
    conn.execute("SET TimeZone TO 'Europe/Paris'")  # like a server outside UTC
    return conn


@pytest.fixture(params=SCHEMAS)
def authjs(request: pytest.FixtureRequest) -> Iterator[tuple[str, Conn, str]]:
    """A fresh schema holding Auth.js's tables: (its store URL, a connection in it, the file)."""
    with fresh_postgres_url() as url, admin_connection(url) as conn:
        in_schema(conn, url)
        create_authjs_tables(conn, request.param)
        yield url, conn, request.param


@pytest.fixture
def nextjs_rows(authjs: tuple[str, Conn, str]) -> dict[str, Any]:
    """What a Next.js app leaves behind after some sign-ins, written by @auth/pg-adapter's SQL."""
    _, conn, _ = authjs
    js = AuthJsPg(conn)
    verified = datetime(2024, 3, 1, 10, 0, 0, 123456, tzinfo=_CEST)
    # An OAuth sign-in: the profile's e-mail keeps its capitals.
    ada = js.create_user("Ada Lovelace", "Ada.Lovelace@Example.com")
    github = js.link_account(
        ada,
        "github",
        "oauth",
        "583231",
        access_token="gho_16C7e42F292c6912E7710c838347Ae178B4a",
        expires_at=1_900_000_000,
        refresh_token="ghr_1B4a2e77838347a7E420ce178F2E7c6912E169246c",
        scope="read:user,user:email",
        token_type="bearer",
    )
    # A sign-in to delete again: the ids that follow keep a gap.
    gone = js.create_user("Temp", "temp@example.com")
    js.create_session(gone, datetime(2030, 1, 1, tzinfo=UTC), "gone-session-token")
    js.delete_user(gone)
    # A magic-link sign-in, e-mail verified later through updateUser.
    grace = js.create_user(None, "grace@example.com")
    js.query(js.UPDATE_USER, grace, "Grace", "grace@example.com", verified, "https://x.test/g.png")
    google = js.link_account(
        grace,
        "google",
        "oidc",
        "108497213344",
        access_token="ya29.a0AfH6SMB",
        expires_at=1_712_000_000,
        id_token="eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMDg0OTcyMTMzNDQifQ.c2ln",
        scope="openid email profile",
        session_state="b7e1a2",
        token_type="Bearer",
    )
    expires = datetime(2030, 6, 1, 12, 30, 45, 654321, tzinfo=_CEST)
    ada_session = js.create_session(ada, expires, "f5b8c3a1-1d2e-4f70-9c3b-6a7d8e9f0a1b")
    grace_session = js.create_session(grace, expires, "0e9d8c7b-6a5f-4e3d-2c1b-0a9f8e7d6c5b")
    js.query(
        js.UPDATE_SESSION, "0e9d8c7b-6a5f-4e3d-2c1b-0a9f8e7d6c5b", expires + timedelta(days=30)
    )
    js.query(
        js.CREATE_VERIFICATION_TOKEN,
        "grace@example.com",
        datetime(2030, 1, 1, tzinfo=UTC),
        "8e0b7b1e52ee4e5a9a1b3c0d2f4e6a8b0c2d4e6f8a0b2c4d6e8f0a2b4c6d8e0f",
    )
    return {
        "ada": ada,
        "grace": grace,
        "gone": gone,
        "github": github,
        "google": google,
        "ada_session": ada_session,
        "grace_session": grace_session,
        "verified": verified,
        "expires": expires,
    }


class TestUpgradeInPlace:
    def test_every_row_reads_back_through_the_adapter_unchanged(
        self, authjs: tuple[str, Conn, str], nextjs_rows: dict[str, Any]
    ) -> None:
        url, conn, _ = authjs
        rows = nextjs_rows
        before = snapshot(conn)
        assert isinstance(rows["ada"], int)  # SERIAL ids, as Auth.js made them
        with auth_store.connect(url) as store:
            assert isinstance(store, PostgresAdapter)
            assert store.schema_version() == 2
            ada_id, grace_id = str(rows["ada"]), str(rows["grace"])
            # The row keeps the e-mail as written; the adapter returns it normalised.
            ada = User(id=ada_id, email="ada.lovelace@example.com", name="Ada Lovelace")
            grace = User(
                id=grace_id,
                email="grace@example.com",
                name="Grace",
                email_verified=rows["verified"],
                image="https://x.test/g.png",
            )
            assert store.get_user(ada_id) == ada
            assert store.get_user(grace_id) == grace
            assert store.get_user(str(rows["gone"])) is None
            assert store.get_user_by_email("ada.lovelace@example.com") == ada
            assert store.get_user_by_email(" ADA.LOVELACE@example.COM") == ada
            github = Account(
                id=str(rows["github"]),
                user_id=ada_id,
                type="oauth",
                provider="github",
                provider_account_id="583231",
                access_token="gho_16C7e42F292c6912E7710c838347Ae178B4a",
                expires_at=1_900_000_000,
                refresh_token="ghr_1B4a2e77838347a7E420ce178F2E7c6912E169246c",
                scope="read:user,user:email",
                token_type="bearer",
            )
            assert store.get_account("github", "583231") == github
            google = store.get_account("google", "108497213344")
            assert google is not None
            assert google.id == str(rows["google"])
            assert google.expires_at == 1_712_000_000
            assert type(google.expires_at) is int
            assert google.type == "oidc"
            assert google.session_state == "b7e1a2"
            assert store.get_user_by_account("google", "108497213344") == grace
            found = store.get_session_and_user("f5b8c3a1-1d2e-4f70-9c3b-6a7d8e9f0a1b")
            assert found == (
                Session(
                    id=str(rows["ada_session"]),
                    session_token="f5b8c3a1-1d2e-4f70-9c3b-6a7d8e9f0a1b",
                    user_id=ada_id,
                    expires=rows["expires"],
                ),
                ada,
            )
            assert found[0].expires.tzinfo is UTC
            moved = store.get_session_and_user("0e9d8c7b-6a5f-4e3d-2c1b-0a9f8e7d6c5b")
            assert moved is not None
            assert moved[0].expires == rows["expires"] + timedelta(days=30)
            assert store.list_sessions(grace_id) == [moved[0]]
            assert store.counts() == {
                "users": 2,
                "accounts": 2,
                "sessions": 2,
                "verification_tokens": 1,
                "authenticators": 0,
                "credentials": 0,
            }
            exported = list(store.export())
            assert len(exported) == 7
            assert snapshot(conn) == before  # not a value changed, not a row lost
            assert store.use_verification_token(
                "grace@example.com",
                "8e0b7b1e52ee4e5a9a1b3c0d2f4e6a8b0c2d4e6f8a0b2c4d6e8f0a2b4c6d8e0f",
            ) == VerificationToken(
                identifier="grace@example.com",
                token="8e0b7b1e52ee4e5a9a1b3c0d2f4e6a8b0c2d4e6f8a0b2c4d6e8f0a2b4c6d8e0f",
                expires=datetime(2030, 1, 1, tzinfo=UTC),
            )

    def test_the_nextjs_app_keeps_working_beside_the_adapter(
        self, authjs: tuple[str, Conn, str], nextjs_rows: dict[str, Any]
    ) -> None:
        url, conn, _ = authjs
        js = AuthJsPg(conn)
        with auth_store.connect(url) as store:
            # New sign-ins from Next.js still get SERIAL ids, now as text.
            lin = js.create_user("Lin", "lin@example.com")
            assert lin == str(int(lin))
            assert int(lin) > nextjs_rows["grace"]
            assert store.get_user(lin) == User(id=lin, email="lin@example.com", name="Lin")
            account = js.link_account(lin, "github", "oauth", "9001", access_token="gho_x")
            assert store.get_user_by_account("github", "9001") == store.get_user(lin)
            assert account == str(int(account))
            # What the adapter writes, the Next.js app reads with its own queries.
            user = store.create_user(User(email="py@example.com", name="From Python"))
            expires = datetime(2031, 1, 1, tzinfo=UTC)
            store.create_session(
                Session(session_token="py-token", user_id=str(user.id), expires=expires)
            )
            # select * in Auth.js's column order: id, "userId", expires, "sessionToken".
            ((session_id, user_id, stored_expires, token),) = js.query(js.GET_SESSION, "py-token")
            assert (token, user_id, stored_expires) == ("py-token", user.id, expires)
            assert js.query(js.GET_USER, user_id)[0][:3] == (user.id, "From Python", user.email)
            # Auth.js's deleteUser statements, now with cascading keys under them.
            js.delete_user(lin)
            assert store.get_user(lin) is None
            assert store.get_account("github", "9001") is None
            # And the keys auth-store added hold for Next.js's writes too.
            with pytest.raises(psycopg.errors.UniqueViolation):
                js.create_user("Copy", "ADA.lovelace@example.com")
            assert session_id

    def test_migrate_false_leaves_the_auth_js_tables_alone(
        self, authjs: tuple[str, Conn, str], nextjs_rows: dict[str, Any]
    ) -> None:
        url, conn, _ = authjs
        before = snapshot(conn)
        with auth_store.connect(f"{url}&migrate=false") as store:
            assert isinstance(store, PostgresAdapter)
            assert [m.applied_at for m in store.schema_status()] == [None, None]
            assert conn.execute("SELECT to_regclass('auth_store_migrations')").fetchone() == (None,)
            assert snapshot(conn) == before
            assert store.upgrade_schema() == [1, 2]
            assert store.get_user(str(nextjs_rows["ada"])) is not None
        assert snapshot(conn) == before


def _table_types(conn: Conn) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT table_name, column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = current_schema() ORDER BY 1, 2"
    ).fetchall()


class TestRefusedUpgrade:
    def test_case_twins_stop_the_upgrade_naming_the_rows_and_change_nothing(
        self, authjs: tuple[str, Conn, str]
    ) -> None:
        url, conn, _ = authjs
        js = AuthJsPg(conn)
        # Auth.js's unique e-mail is case-sensitive: both sign-ins succeed.
        first = js.create_user("Alice", "alice@example.com")
        js.create_user("Bob", "bob@example.com")
        twin = js.create_user("Alice again", "Alice@Example.com")
        js.create_session(twin, datetime(2030, 1, 1, tzinfo=UTC), "alice-token")
        before, types = snapshot(conn), _table_types(conn)
        with pytest.raises(AuthJsUpgradeError) as caught:
            auth_store.connect(url)
        error = caught.value
        assert isinstance(error, ConfigurationError)
        assert error.rows == {"users": [str(first), str(twin)]}
        assert f"users {first}, {twin}: the same e-mail once normalised" in str(error)
        assert "nothing was changed" in str(error)
        assert "alice@example.com" not in str(error).lower()  # rows named by id only
        assert snapshot(conn) == before
        assert _table_types(conn) == types
        assert conn.execute("SELECT to_regclass('auth_store_migrations')").fetchone() == (None,)
        # Once the operator merges the twins, the same call upgrades the database.
        AuthJsPg(conn).delete_user(twin)
        with auth_store.connect(url) as store:
            assert store.get_user(str(first)) is not None
            assert store.get_user_by_email("ALICE@example.com") is not None

    def test_every_kind_of_problem_is_listed_at_once(self) -> None:
        # Only the documented schema (no keys at all) lets these rows in.
        with fresh_postgres_url() as url, admin_connection(url) as conn:
            in_schema(conn, url)
            create_authjs_tables(conn, "schema-documented.sql")
            js = AuthJsPg(conn)
            one = js.create_user("One", "one@example.com")
            nobody = js.create_user("Nobody", None)  # type: ignore[arg-type]
            expires = datetime(2030, 1, 1, tzinfo=UTC)
            s1 = js.create_session(one, expires, "same-token")
            s2 = js.create_session(one, expires, "same-token")
            orphan = js.create_session(999, expires, "orphan-token")
            a1 = js.link_account(one, "github", "oauth", "42")
            a2 = js.link_account(one, "github", "oauth", "42")
            before, types = snapshot(conn), _table_types(conn)
            with pytest.raises(AuthJsUpgradeError) as caught:
                auth_store.connect(url)
            message = str(caught.value)
            assert caught.value.rows == {
                "users": [str(nobody)],
                "sessions": [str(orphan), str(s1), str(s2)],
                "accounts": [str(a1), str(a2)],
            }
            assert f"users {nobody}: no e-mail" in message
            assert f"sessions {orphan}: userId names no user" in message
            assert f"sessions {s1}, {s2}: the same sessionToken" in message
            assert f"accounts {a1}, {a2}: the same provider account" in message
            assert "same-token" not in message  # session tokens are secrets
            assert snapshot(conn) == before
            assert _table_types(conn) == types

    def test_a_foreign_key_from_an_app_table_stops_the_upgrade(
        self, authjs: tuple[str, Conn, str]
    ) -> None:
        url, conn, _ = authjs
        conn.execute(
            'CREATE TABLE posts (id SERIAL PRIMARY KEY, "userId" INTEGER REFERENCES users)'
        )
        AuthJsPg(conn).create_user("Ada", "ada@example.com")
        before, types = snapshot(conn), _table_types(conn)
        with pytest.raises(
            AuthJsUpgradeError, match=r"table posts references .* posts_userId_fkey"
        ):
            auth_store.connect(url)
        assert snapshot(conn) == before
        assert _table_types(conn) == types

    def test_tables_auth_store_would_create_must_not_exist(
        self, authjs: tuple[str, Conn, str]
    ) -> None:
        url, conn, _ = authjs
        conn.execute("CREATE TABLE credentials (username text, secret text)")
        types = _table_types(conn)
        with pytest.raises(AuthJsUpgradeError, match="a relation named credentials exists"):
            auth_store.connect(url)
        assert _table_types(conn) == types

    def test_a_table_that_is_not_auth_js_is_not_touched(self) -> None:
        with fresh_postgres_url() as url, admin_connection(url) as conn:
            in_schema(conn, url)
            conn.execute("CREATE TABLE users (id SERIAL PRIMARY KEY, username text, pw text)")
            conn.execute("INSERT INTO users (username, pw) VALUES ('root', 'x')")
            types = _table_types(conn)
            with pytest.raises(AuthJsUpgradeError, match=r"users lacks Auth\.js's column"):
                auth_store.connect(url)
            assert _table_types(conn) == types
            assert conn.execute("SELECT username FROM users").fetchall() == [("root",)]


# -- Auth.js sees exactly its own schema ---------------------------------------------

#: Auth.js's tables, as its @auth/pg-adapter reads them.
AUTHJS_TABLES = ("users", "accounts", "sessions", "verification_token")
#: The fields @auth/core's types declare for what getUser & co. return (AdapterUser).
ADAPTER_USER_FIELDS = {"id", "name", "email", "emailVerified", "image"}


def select_star_columns(conn: Conn) -> dict[str, list[str]]:
    """The columns ``select *`` returns from each of Auth.js's tables, in order."""
    found = {}
    for table in AUTHJS_TABLES:
        cursor = conn.execute(sql.SQL("SELECT * FROM {} LIMIT 0").format(sql.Identifier(table)))
        found[table] = [column.name for column in cursor.description or ()]
    return found


@pytest.fixture(scope="module")
def authjs_columns() -> dict[str, list[str]]:
    """What ``select *`` returns on tables made by Auth.js's own schema.sql."""
    with fresh_postgres_url() as url, admin_connection(url) as conn:
        in_schema(conn, url)
        create_authjs_tables(conn, "schema.sql")
        return select_star_columns(conn)


def _fill_through_auth_store(store: auth_store.Adapter) -> dict[str, Any]:
    """A user, an account and a session carrying everything auth-store adds."""
    user = store.create_user(
        User(
            email="ada@example.com",
            name="Ada",
            email_verified=datetime(2024, 3, 1, tzinfo=UTC),
            extra={"tenant": "acme", "internal_note": "x"},
        )
    )
    uid = str(user.id)
    store.link_account(
        Account(
            user_id=uid,
            type="oauth",
            provider="github",
            provider_account_id="8675309",
            access_token="gho_x",
            extra={"ext_expires_in": 3599, "internal_note": "x"},
        )
    )
    session = store.create_session(
        Session(
            session_token="3c9e1f7a-52b4-4d8e-a0c6-9b1d2e3f4a5b",  # as Auth.js makes them
            user_id=uid,
            expires=datetime(2031, 1, 1, tzinfo=UTC),
            created_at=datetime(2030, 12, 1, tzinfo=UTC),
            updated_at=datetime(2030, 12, 2, tzinfo=UTC),
            ip_address="192.0.2.1",
            user_agent="Mozilla/5.0 internal_note",
        )
    )
    return {"user": user, "session": session}


class TestAuthJsSeesItsOwnSchema:
    def test_select_star_on_a_new_store_returns_exactly_auth_js_columns(
        self, postgres_url: str, authjs_columns: dict[str, list[str]]
    ) -> None:
        with auth_store.connect(postgres_url) as store:
            _fill_through_auth_store(store)
        with admin_connection(postgres_url) as conn:
            in_schema(conn, postgres_url)
            assert select_star_columns(conn) == authjs_columns
            rows = [
                conn.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(t))).fetchall()
                for t in AUTHJS_TABLES
            ]
        text = repr(rows)
        for ours in ("acme", "internal_note", "ext_expires_in", "192.0.2.1", "Mozilla"):
            assert ours not in text

    def test_the_in_place_upgrade_adds_no_column_to_auth_js_tables(
        self,
        authjs: tuple[str, Conn, str],
        nextjs_rows: dict[str, Any],
        authjs_columns: dict[str, list[str]],
    ) -> None:
        url, conn, _ = authjs
        before = select_star_columns(conn)
        assert before == authjs_columns  # both of Auth.js's schemas have the same columns
        with auth_store.connect(url) as store:
            _fill_through_auth_store(store)
            ada = store.get_user_by_email("ada@example.com")
            assert ada is not None
            assert ada.extra == {"tenant": "acme", "internal_note": "x"}
        assert select_star_columns(conn) == before

    def test_pg_adapter_reads_return_no_field_auth_js_does_not_declare(
        self, postgres_url: str, authjs_columns: dict[str, list[str]]
    ) -> None:
        with auth_store.connect(postgres_url) as store:
            made = _fill_through_auth_store(store)
        user, session = made["user"], made["session"]
        returned = run_node(
            "authjs_pg_reads.mjs",
            {
                "url": conninfo(postgres_url),
                "schema": schema_of(postgres_url),
                "userId": user.id,
                "email": user.email,
                "provider": "github",
                "providerAccountId": "8675309",
                "sessionToken": session.session_token,
            },
        )
        users = [
            returned["getUser"],
            returned["getUserByEmail"],
            returned["getUserByAccount"],
            returned["getSessionAndUser"]["user"],
        ]
        for found in users:
            assert found is not None
            assert set(found) == ADAPTER_USER_FIELDS
            assert found["id"] == user.id
            assert found["email"] == "ada@example.com"
        # The session: AdapterSession's fields and the id Auth.js's own table has.
        read_session = returned["getSessionAndUser"]["session"]
        assert set(read_session) == set(authjs_columns["sessions"])
        assert set(read_session) - {"id"} == {"sessionToken", "userId", "expires"}
        assert read_session["userId"] == user.id
        everything = json.dumps(returned)
        for ours in ("extra", "acme", "internal_note", "192.0.2.1", "Mozilla", "createdAt"):
            assert ours not in everything

    def test_pg_adapter_reads_the_same_fields_as_on_auth_js_own_schema(self) -> None:
        # The reference: the same reads on tables made by Auth.js's schema.sql.
        with fresh_postgres_url() as url, admin_connection(url) as conn:
            in_schema(conn, url)
            create_authjs_tables(conn, "schema.sql")
            js = AuthJsPg(conn)
            uid = js.create_user("Ada", "ada@example.com", datetime(2024, 3, 1, tzinfo=UTC))
            js.link_account(uid, "github", "oauth", "8675309", access_token="gho_x")
            js.create_session(uid, datetime(2031, 1, 1, tzinfo=UTC), "ref-token")
            payload = {
                "url": conninfo(url),
                "schema": schema_of(url),
                "userId": str(uid),
                "email": "ada@example.com",
                "provider": "github",
                "providerAccountId": "8675309",
                "sessionToken": "ref-token",
            }
            reference = run_node("authjs_pg_reads.mjs", payload)
        with fresh_postgres_url() as url, auth_store.connect(url) as store:
            made = _fill_through_auth_store(store)
            ours = run_node(
                "authjs_pg_reads.mjs",
                {
                    **payload,
                    "url": conninfo(url),
                    "schema": schema_of(url),
                    "userId": made["user"].id,
                    "sessionToken": made["session"].session_token,
                },
            )
        for read in ("getUser", "getUserByEmail", "getUserByAccount"):
            assert set(ours[read]) == set(reference[read]), read
        for part in ("session", "user"):
            assert set(ours["getSessionAndUser"][part]) == set(reference["getSessionAndUser"][part])


# -- a database made by the previous release ------------------------------------------

#: Run by the previous release: fill a store with every kind of extra it keeps.
_OLD_RELEASE_WRITES = """
import json, sys
from datetime import datetime, timezone
import auth_store
from auth_store import Account, Session, User

with auth_store.connect(sys.argv[1]) as store:
    assert store.schema_version() == 1
    made = {}
    for n, extra in enumerate([{"role": "admin", "tags": ["a", "b"]}, {}, {"nested": {"x": 1}}]):
        user = store.create_user(User(id=f"old-user-{n}", email=f"old{n}@example.com", extra=extra))
        store.link_account(Account(
            id=f"old-account-{n}", user_id=user.id, type="oidc", provider="azure-ad",
            provider_account_id=f"oid-{n}", access_token=f"at-{n}",
            extra={"ext_expires_in": 3599 + n} if n != 1 else {},
        ))
        store.create_session(Session(
            id=f"old-session-{n}", session_token=f"old-token-{n}", user_id=user.id,
            expires=datetime(2031, 1, 1, tzinfo=timezone.utc),
        ))
    store.update_user("old-user-1", extra={"set": "later"})
    print(json.dumps([r.__class__.__name__ for r in store.export()]))
"""


def test_a_database_from_the_previous_release_upgrades_keeping_every_extra(
    tmp_path: Path,
) -> None:
    with fresh_postgres_url() as url:
        written = run_previous_release(tmp_path, _OLD_RELEASE_WRITES, url)
        assert json.loads(written).count("User") == 3
        with admin_connection(url) as conn:
            in_schema(conn, url)
            old_columns = select_star_columns(conn)
            assert "extra" in old_columns["users"]  # the previous layout, really
            assert "extra" in old_columns["accounts"]
            before = snapshot(conn)
            with auth_store.connect(url) as store:
                assert isinstance(store, PostgresAdapter)
                assert store.schema_version() == 2
                users = {u: store.get_user(u) for u in ("old-user-0", "old-user-1", "old-user-2")}
                assert {u: found.extra if found else None for u, found in users.items()} == {
                    "old-user-0": {"role": "admin", "tags": ["a", "b"]},
                    "old-user-1": {"set": "later"},
                    "old-user-2": {"nested": {"x": 1}},
                }
                accounts = [store.get_account("azure-ad", f"oid-{n}") for n in range(3)]
                assert [a.extra if a else None for a in accounts] == [
                    {"ext_expires_in": 3599},
                    {},
                    {"ext_expires_in": 3601},
                ]
                found = store.get_session_and_user("old-token-0")
                assert found is not None
                assert found[1] == users["old-user-0"]
                assert found[0].created_at is None  # the previous release kept none
                assert store.counts()["users"] == 3
            assert snapshot(conn) == before  # Auth.js's columns: not a value changed
            assert "extra" not in select_star_columns(conn)["users"]
            assert "extra" not in select_star_columns(conn)["accounts"]
            side = conn.execute(
                "SELECT (SELECT count(*) FROM auth_store_users),"
                " (SELECT count(*) FROM auth_store_accounts)"
            ).fetchone()
            assert side == (3, 2)  # one row per non-empty extra
