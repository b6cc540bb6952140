"""The better-auth flavor's own rules: models as Better Auth's rows, and adopting its tables.

The whole contract runs on the flavor in tests/test_conformance_cli.py (the
one-line runner) and against the real ``better-auth`` package in
tests/test_better_auth_interop.py; these look at the rows themselves, on
SQLite and on the test Postgres.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row

import auth_store
from auth_store import (
    Account,
    ConfigurationError,
    ConflictError,
    Credential,
    Session,
    User,
    ValidationError,
    VerificationToken,
    better_auth,
    clock,
)
from auth_store.adapter import Adapter
from auth_store.adapters.better_auth_checks import BetterAuthAdoptError
from auth_store.adapters.postgres_better_auth import BetterAuthPostgresAdapter
from auth_store.adapters.sqlite_better_auth import BetterAuthSQLiteAdapter
from auth_store.capabilities import ChecksMapping, SharedWithAnotherApp
from auth_store.passwords import PasswordService, make_context
from auth_store.sessions import SessionManager
from tests.pg import conninfo, fresh_postgres_url, schema_of

KINDS = ["sqlite", "postgres"]


class Raw:
    """Reads and writes Better Auth's rows behind the adapter's back, as the app would."""

    def __init__(self, kind: str, url: str) -> None:
        self.kind, self.url = kind, url

    def rows(self, query: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        if self.kind == "sqlite":
            db = sqlite3.connect(self.url.split("///", 1)[1].split("?")[0])
            db.row_factory = sqlite3.Row
            try:
                return [dict(r) for r in db.execute(query.replace("%s", "?"), params)]
            finally:
                db.close()
        with psycopg.connect(conninfo(self.url), row_factory=dict_row) as pg:
            pg.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema_of(self.url))))
            return pg.execute(query.encode(), params).fetchall()

    def write(self, query: str, params: tuple[Any, ...] = ()) -> None:
        if self.kind == "sqlite":
            db = sqlite3.connect(self.url.split("///", 1)[1].split("?")[0])
            try:
                db.execute("PRAGMA foreign_keys = ON")
                db.execute(query.replace("%s", "?"), params)
                db.commit()
            finally:
                db.close()
            return
        with psycopg.connect(conninfo(self.url), autocommit=True) as pg:
            pg.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema_of(self.url))))
            pg.execute(query.encode(), params)

    def now(self) -> Any:
        """Now as Better Auth writes it on this database."""
        stamp = clock.now()
        if self.kind == "sqlite":
            return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return stamp


@contextmanager
def _url(kind: str, tmp_path: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path}/app.db?flavor=better-auth"
        return
    with fresh_postgres_url() as url:
        yield f"{url}&flavor=better-auth"


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def url(kind: str, tmp_path: Path) -> Iterator[str]:
    with _url(kind, tmp_path) as made:
        yield made


@pytest.fixture
def store(url: str) -> Iterator[Adapter]:
    with auth_store.connect(url) as opened:
        yield opened


@pytest.fixture
def raw(kind: str, url: str, store: Adapter) -> Raw:
    return Raw(kind, url)


# -- the URL option ------------------------------------------------------------------------


def test_the_flavor_option_picks_the_layout(tmp_path: Path) -> None:
    with auth_store.connect(f"sqlite:///{tmp_path}/a.db?flavor=better-auth") as store:
        assert isinstance(store, BetterAuthSQLiteAdapter)
        assert isinstance(store, SharedWithAnotherApp)
        assert isinstance(store, ChecksMapping)
    with auth_store.connect(f"sqlite:///{tmp_path}/b.db?flavor=authjs") as store:
        assert not isinstance(store, SharedWithAnotherApp)
    with pytest.raises(ConfigurationError, match="better-auth"):
        auth_store.connect(f"sqlite:///{tmp_path}/c.db?flavor=lucia")
    with fresh_postgres_url() as pg, auth_store.connect(f"{pg}&flavor=better-auth") as store:
        assert isinstance(store, BetterAuthPostgresAdapter)


def test_a_store_of_the_other_layout_is_refused(tmp_path: Path) -> None:
    with auth_store.connect(f"sqlite:///{tmp_path}/a.db"):
        pass
    with pytest.raises(ConfigurationError, match="another layout"):
        auth_store.connect(f"sqlite:///{tmp_path}/a.db?flavor=better-auth")


# -- users -----------------------------------------------------------------------------------


def test_users_are_better_auths_rows(store: Adapter, raw: Raw) -> None:
    verified = datetime(2025, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    ann = store.create_user(
        User(email="Ann@Example.com", email_verified=verified, extra={"role": "admin"})
    )
    (row,) = raw.rows('SELECT * FROM "user"')
    assert set(row) == {"id", "name", "email", "emailVerified", "image", "createdAt", "updatedAt"}
    assert (row["email"], row["name"], bool(row["emailVerified"])) == ("ann@example.com", "", True)
    assert store.get_user(ann.id) == ann  # the time and the None name come back from the side
    plain = store.update_user(ann.id, name="Ann", email_verified=None, extra={})
    assert store.get_user(ann.id) == plain
    assert raw.rows("SELECT * FROM auth_store_users") == []  # nothing left to keep beside it
    (row,) = raw.rows('SELECT * FROM "user"')
    assert (row["name"], bool(row["emailVerified"])) == ("Ann", False)


def test_rows_better_auth_wrote_read_as_it_means_them(store: Adapter, raw: Raw) -> None:
    now = raw.now()
    raw.write(
        'INSERT INTO "user" VALUES (%s, %s, %s, %s, NULL, %s, %s)',
        ("ba-1", "", "\uff42\uff4f\uff42@example.com", True, now, now),  # full-width, lower-cased
    )
    bob = store.get_user_by_email("\uff22\uff2f\uff22@Example.com")  # as typed, in any case
    assert bob is not None
    assert bob.email == "bob@example.com"  # read back normalised, as every backend returns it
    assert bob.name == ""  # Better Auth's empty name stays empty
    assert bob.email_verified is not None  # verified there, at its last update
    assert abs(bob.email_verified - clock.now()) < timedelta(minutes=1)


def test_accounts_map_scopes_expiries_and_fields_without_a_column(store: Adapter, raw: Raw) -> None:
    user = store.create_user(User(email="ann@example.com"))
    github = store.link_account(
        Account(
            user_id=user.id,
            type="oauth",
            provider="github",
            provider_account_id="1",
            scope="read:user user:email",
            expires_at=1_900_000_000,
            token_type="bearer",
            extra={"refresh_token_expires_at": 1_950_000_000, "ext_expires_in": 3599},
        )
    )
    commas = store.link_account(
        Account(
            user_id=user.id,
            type="oauth",
            provider="gitlab",
            provider_account_id="2",
            scope="read_user,api",
        )
    )
    rows = {r["accountId"]: r for r in raw.rows('SELECT * FROM "account"')}
    assert rows["1"]["scope"] == "read:user,user:email"
    assert rows["2"]["scope"] == "read_user,api"
    expires = rows["1"]["accessTokenExpiresAt"]
    if isinstance(expires, str):
        assert expires == "2030-03-17T17:46:40.000000Z"
    else:
        assert expires == datetime.fromtimestamp(1_900_000_000, UTC)
    assert rows["1"]["refreshTokenExpiresAt"] is not None
    assert store.get_account("github", "1") == github
    assert store.get_account("gitlab", "2") == commas  # the scope as the provider gave it
    # Better Auth changes the scope (linking merges them): its value wins, with spaces.
    raw.write(
        'UPDATE "account" SET scope = %s WHERE "accountId" = %s', ("read_user,api,email", "2")
    )
    changed = store.get_account("gitlab", "2")
    assert changed is not None
    assert changed.scope == "read_user api email"
    # A row Better Auth wrote: oidc when it holds an ID token.
    now = raw.now()
    raw.write(
        'INSERT INTO "account" (id, "accountId", "providerId", "userId", "idToken",'
        ' "createdAt", "updatedAt") VALUES (%s, %s, %s, %s, %s, %s, %s)',
        ("ba-acc", "g-1", "google", user.id, "eyJ.x.y", now, now),
    )
    google = store.get_account("google", "g-1")
    assert google is not None
    assert (google.type, google.extra, google.expires_at) == ("oidc", {}, None)
    with pytest.raises(ValidationError, match="credential"):
        store.link_account(
            Account(user_id=user.id, type="oauth", provider="credential", provider_account_id="x")
        )
    assert store.get_account("credential", user.id) is None


def test_sessions_keep_none_timestamps_and_better_auths_datetimes(
    kind: str, store: Adapter, raw: Raw
) -> None:
    user = store.create_user(User(email="ann@example.com"))
    expires = datetime(2030, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    made = store.create_session(Session(session_token="tok-1", user_id=user.id, expires=expires))
    (row,) = raw.rows('SELECT * FROM "session"')
    assert row["token"] == "tok-1"
    assert row["createdAt"] is not None  # required by Better Auth: a placeholder
    if kind == "sqlite":
        assert row["expiresAt"] == "2030-01-02T03:04:05.678901Z"
    assert store.get_session_and_user("tok-1") == (made, user)
    # Better Auth slides the session: its updatedAt is no placeholder any more.
    raw.write('UPDATE "session" SET "updatedAt" = %s WHERE token = %s', (raw.now(), "tok-1"))
    found = store.get_session_and_user("tok-1")
    assert found is not None
    assert found[0].created_at is None
    assert found[0].updated_at is not None


def test_verification_tokens_are_verification_rows(store: Adapter, raw: Raw) -> None:
    vt = store.create_verification_token(
        VerificationToken(identifier="ann@example.com", token="hashed", expires=clock.now())
    )
    (row,) = raw.rows('SELECT * FROM "verification"')
    assert (row["identifier"], row["value"]) == ("hashed", "ann@example.com")
    with pytest.raises(ConflictError, match="verification token exists"):
        store.create_verification_token(vt)
    assert store.use_verification_token("ann@example.com", "hashed") == vt


# -- passwords -------------------------------------------------------------------------------


def test_passwords_are_better_auths_credential_account(store: Adapter, raw: Raw) -> None:
    user = store.create_user(User(email="ann@example.com"))
    passwords = PasswordService(store)
    passwords.set_password(user.id, "correct horse battery")
    (row,) = raw.rows('SELECT * FROM "account"')
    assert (row["providerId"], row["accountId"], row["userId"]) == ("credential", user.id, user.id)
    assert better_auth.is_better_auth_hash(row["password"])
    assert passwords.verify_password(user.id, "correct horse battery")
    (credential,) = store.list_credentials(user.id, "password")
    assert credential.data == {"hash": row["password"]}
    assert store.counts()["accounts"] == 0
    assert store.counts()["credentials"] == 1
    # An id names one credential, whichever table it is in.
    with pytest.raises(ConflictError):
        store.create_credential(Credential(id=credential.id, user_id=user.id, type="totp", data={}))


def test_a_change_better_auth_makes_is_a_new_version(store: Adapter, raw: Raw) -> None:
    user = store.create_user(User(email="ann@example.com"))
    made = store.create_credential(
        Credential(user_id=user.id, type="password", data={"hash": "old", "n": 1})
    )
    raw.write(  # a reset in the app: new hash, new updatedAt
        'UPDATE "account" SET password = %s, "updatedAt" = %s WHERE id = %s',
        ("reset-there", raw.now(), made.id),
    )
    seen = store.get_credential(made.id)
    assert seen is not None
    assert seen.version == made.version + 1
    assert seen.data == {"hash": "reset-there", "n": 1}
    # A compare-and-set from what was read before the reset loses.
    assert store.update_credential(made.id, {"hash": "stale"}, expected_version=1) is None
    updated = store.update_credential(made.id, {"hash": "new"}, expected_version=seen.version)
    assert updated is not None
    assert updated.version == seen.version + 1
    assert store.get_credential(made.id) == updated


def test_better_auth_passwords_verify_and_old_hashes_move_to_its_format(
    store: Adapter, raw: Raw
) -> None:
    user = store.create_user(User(email="ann@example.com"))
    argon = make_context(memory_cost=1024, time_cost=1).hash("imported password")
    passwords = PasswordService(store)
    passwords.import_hash(user.id, argon)
    assert passwords.verify_password(user.id, "imported password")
    (row,) = raw.rows('SELECT password FROM "account"')
    assert better_auth.is_better_auth_hash(row["password"])  # rewritten for the app
    # A password the app set (an account id of its own making) is found and changed in place.
    other = store.create_user(User(email="bea@example.com"))
    now = raw.now()
    raw.write(
        'INSERT INTO "account" (id, "accountId", "providerId", "userId", password,'
        ' "createdAt", "updatedAt") VALUES (%s, %s, %s, %s, %s, %s, %s)',
        ("ba-cred", other.id, "credential", other.id, passwords.hash("set there"), now, now),
    )
    assert passwords.verify_password(other.id, "set there")
    passwords.set_password(other.id, "changed here!")
    assert [c.id for c in store.list_credentials(other.id, "password")] == ["ba-cred"]
    assert passwords.remove_password(other.id)
    assert not passwords.has_password(other.id)


def test_the_default_context_verifies_better_auth_hashes_and_upgrades_them(tmp_path: Path) -> None:
    with auth_store.connect(f"sqlite:///{tmp_path}/plain.db") as plain:
        user = plain.create_user(User(email="ann@example.com"))
        passwords = PasswordService(plain)
        passwords.import_hash(user.id, better_auth.password_context().hash("from better auth"))
        assert passwords.needs_rehash(user.id)
        assert passwords.verify_password(user.id, "from better auth")
        assert not passwords.needs_rehash(user.id)
        (credential,) = plain.list_credentials(user.id, "password")
        assert credential.data["hash"].startswith("$argon2id$")


def test_sessions_follow_better_auths_conventions(store: Adapter) -> None:
    user = store.create_user(User(email="ann@example.com"))
    manager = SessionManager(store)
    assert (manager.max_age, manager.update_age) == (timedelta(days=7), timedelta(days=1))
    issued = manager.create(user)
    assert issued.session.session_token == issued.token  # Better Auth looks the token up
    assert manager.get(issued.token) is not None
    assert SessionManager(store, max_age=timedelta(days=30)).max_age == timedelta(days=30)


# -- adopting Better Auth's tables ---------------------------------------------------------


@contextmanager
def _adopting(kind: str, tmp_path: Path, script: str) -> Iterator[str]:
    with _url(kind, tmp_path) as url:
        Raw(kind, url).write(script) if kind == "postgres" else _sqlite_script(url, script)
        yield url


def _sqlite_script(url: str, script: str) -> None:
    db = sqlite3.connect(url.split("///", 1)[1].split("?")[0])
    db.executescript(script)
    db.close()


_USER = (
    'create table "user" ("id" {id} not null primary key, "name" text not null,'
    ' "email" text not null unique, "emailVerified" {bool} not null, "image" text,'
    ' "createdAt" {date} not null, "updatedAt" {date} not null{more});'
)


def _user_table(kind: str, *, id: str = "text", more: str = "") -> str:
    bool_, date = ("boolean", "timestamptz") if kind == "postgres" else ("integer", "date")
    return _USER.format(id=id, bool=bool_, date=date, more=more)


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("required column", 'user."tenant" is NOT NULL without a default|user.tenant is NOT NULL'),
        ("our table", "a table named auth_store_users exists"),
        ("missing column", "user lacks Better Auth's column"),
    ],
)
def test_tables_that_cannot_be_adopted_are_refused_unchanged(
    kind: str, tmp_path: Path, case: str, expected: str
) -> None:
    script = {
        "required column": _user_table(kind, more=', "tenant" text not null'),
        "our table": _user_table(kind) + "create table auth_store_users (id text);",
        "missing column": 'create table "user" ("id" text not null primary key, "email" text);',
    }[case]
    with _adopting(kind, tmp_path, script) as url:
        with pytest.raises(BetterAuthAdoptError, match=expected) as refused:
            auth_store.connect(url)
        assert "nothing was changed" in str(refused.value)
        tables = {r["name"] for r in _tables(kind, url)}
        assert "auth_store_migrations" not in tables
        assert "session" not in tables


def test_uuid_ids_are_refused(tmp_path: Path) -> None:
    with (
        _adopting("postgres", tmp_path, _user_table("postgres", id="uuid")) as url,
        pytest.raises(BetterAuthAdoptError, match='generateId set to "uuid"'),
    ):
        auth_store.connect(url)


def test_two_rows_of_one_provider_account_are_refused(kind: str, tmp_path: Path) -> None:
    with _url(kind, tmp_path) as url:
        with auth_store.connect(url):
            pass
        raw = Raw(kind, url)
        raw.write("DROP TABLE auth_store_migrations")
        raw.write("DROP INDEX auth_store_account_provider_key")
        for table in ("auth_store_users", "auth_store_accounts", "auth_store_sessions"):
            raw.write(f"DROP TABLE {table}")
        raw.write("DROP TABLE auth_store_authenticators")
        raw.write("DROP TABLE auth_store_credentials")
        now = raw.now()
        raw.write(
            'INSERT INTO "user" VALUES (%s, %s, %s, %s, NULL, %s, %s)',
            ("u1", "U", "u@example.com", False, now, now),
        )
        for n in (1, 2):
            raw.write(
                'INSERT INTO "account" (id, "accountId", "providerId", "userId", "createdAt",'
                ' "updatedAt") VALUES (%s, %s, %s, %s, %s, %s)',
                (f"a{n}", "same", "github", "u1", now, now),
            )
        with pytest.raises(BetterAuthAdoptError, match="2 rows of one github account"):
            auth_store.connect(url)


def _tables(kind: str, url: str) -> list[dict[str, Any]]:
    if kind == "sqlite":
        return Raw(kind, url).rows("SELECT name FROM sqlite_master WHERE type = 'table'")
    return Raw(kind, url).rows(
        "SELECT table_name AS name FROM information_schema.tables"
        " WHERE table_schema = current_schema()"
    )


# -- cookies -----------------------------------------------------------------------------------

#: Made by Better Auth 1.7.25's own signCookieValue (better-call) for this token and secret.
VECTOR_SECRET = "vector-secret-0123456789abcdefghijklmnopqrstuvwxyz"
VECTOR_TOKEN = "AbCdEfGhIjKlMnOpQrStUvWxYz012345"
VECTOR_VALUE = "AbCdEfGhIjKlMnOpQrStUvWxYz012345.maWkFitz2Rn4KcDsz9UpGDicZdKS1meSIIgyKEFn8ps%3D"


def test_cookies_are_signed_byte_for_byte_as_better_auth_signs_them() -> None:
    signed = better_auth.sign_cookie(VECTOR_TOKEN, VECTOR_SECRET)
    assert better_auth.encode_cookie_value(signed) == VECTOR_VALUE
    assert better_auth.verify_cookie(VECTOR_VALUE, VECTOR_SECRET) == VECTOR_TOKEN
    assert better_auth.verify_cookie(signed, VECTOR_SECRET) == VECTOR_TOKEN
    assert better_auth.verify_cookie(signed, ["newer secret 0123456789", VECTOR_SECRET])
    assert better_auth.verify_cookie(signed, "another secret 0123456789abcdef") is None
    tampered = ("X" + signed[1:], signed[:-2] + "A=", signed.rstrip("="), VECTOR_TOKEN, "", "%ZZ")
    assert [better_auth.verify_cookie(v, VECTOR_SECRET) for v in tampered] == [None] * 6
    assert better_auth.session_cookie_name(secure=True) == "__Secure-better-auth.session_token"
    assert better_auth.session_cookie_name(secure=False, prefix="app") == "app.session_token"


def test_the_secret_is_read_from_the_environment_as_better_auth_reads_it() -> None:
    read = better_auth.secret_from_env
    assert read({"BETTER_AUTH_SECRET": "a", "AUTH_SECRET": "b"}) == ["a"]
    assert read({"AUTH_SECRET": "b"}) == ["b"]
    assert read({"BETTER_AUTH_SECRETS": "2:new,1:old", "BETTER_AUTH_SECRET": "a"}) == ["new", "old"]
    with pytest.raises(ConfigurationError, match="BETTER_AUTH_SECRET"):
        read({})
    with pytest.raises(ConfigurationError, match="BETTER_AUTH_SECRETS"):
        read({"BETTER_AUTH_SECRETS": "new"})


def test_a_backup_of_the_flavor_restores_into_either_layout(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from auth_store.cli import cli

    source = f"sqlite:///{tmp_path}/app.db?flavor=better-auth"
    with auth_store.connect(source) as store:
        ann = store.create_user(User(email="ann@example.com", name="Ann"))
        PasswordService(store).set_password(ann.id, "correct horse battery")
    runner = CliRunner()
    made = runner.invoke(cli, ["--url", source, "backup", str(tmp_path / "backups")])
    assert made.exit_code == 0, made.output
    (backup,) = (tmp_path / "backups").iterdir()
    for target in (
        f"sqlite:///{tmp_path}/plain.db",
        f"sqlite:///{tmp_path}/ba.db?flavor=better-auth",
    ):
        restored = runner.invoke(cli, ["--url", target, "restore", str(backup)])
        assert restored.exit_code == 0, restored.output
        with auth_store.connect(target) as copy:
            assert copy.get_user(ann.id) == ann
            assert PasswordService(copy).verify_password(ann.id, "correct horse battery")
