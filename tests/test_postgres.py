"""The Postgres backend: the conformance suite in a fresh schema per test, then what only
Postgres has (schema, URL options, constraints, prepared one-round-trip reads, timeouts)."""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Generator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import errors as pg_errors
from psycopg import pq, sql

import auth_store
from auth_store import (
    Account,
    ConfigurationError,
    ConflictError,
    Credential,
    NotFoundError,
    Session,
    StorageError,
    User,
    ValidationError,
    VerificationToken,
)
from auth_store.adapter import Adapter
from auth_store.adapters.postgres import PostgresAdapter
from auth_store.testing import AdapterConformance, RawStorage
from auth_store.testing.raw import PostgresRaw, raw_storage_for
from auth_store.testing.urls import SCHEMA_PREFIX, derive_url
from tests.pg import (
    admin_connection,
    conninfo,
    fresh_postgres_url,
    postgres_url,
    require_postgres,
    schema_of,
)

__all__ = ["postgres_url"]  # a fixture, used below

pytestmark = pytest.mark.postgres


class TestPostgres(AdapterConformance):
    """Every case of the contract, each in a schema of its own (multi-process races included)."""

    def new_url(self, tmp_path: Path) -> str:
        url, drop = derive_url(require_postgres(), tmp_path)
        assert drop is not None
        self.add_cleanup(drop)
        return url

    def raw(self, adapter: Adapter, url: str) -> RawStorage:
        raw = raw_storage_for(adapter, url)
        assert isinstance(raw, PostgresRaw)
        assert raw.schema is not None
        assert raw.schema.startswith(SCHEMA_PREFIX)
        return raw


# -- Postgres-specific ------------------------------------------------------------------


@pytest.fixture
def store(postgres_url: str) -> Iterator[PostgresAdapter]:
    adapter = auth_store.connect(postgres_url)
    assert isinstance(adapter, PostgresAdapter)
    try:
        yield adapter
    finally:
        adapter.close()


def _user(store: Adapter, email: str = "ada@example.com") -> User:
    return store.create_user(User(email=email, name="Ada"))


def _uid(user: User) -> str:
    assert user.id is not None
    return user.id


def _rows(url: str, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Rows of a query run in the store's schema, behind the adapter's back."""
    with admin_connection(url) as conn:
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema_of(url))))
        return conn.execute(query, params).fetchall()


class TestSchema:
    def test_tables_use_authjs_names_and_postgres_types(
        self, store: PostgresAdapter, postgres_url: str
    ) -> None:
        found = {
            (table, column): data_type
            for table, column, data_type in _rows(
                postgres_url,
                "SELECT table_name, column_name, data_type FROM information_schema.columns"
                " WHERE table_schema = current_schema()",
            )
        }
        expected = {
            "users": ["id", "name", "email", "emailVerified", "image"],
            "accounts": [
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
            ],
            "sessions": ["id", "userId", "expires", "sessionToken"],
            "verification_token": ["identifier", "expires", "token"],
            "authenticators": [
                "credentialID",
                "userId",
                "providerAccountId",
                "credentialPublicKey",
                "counter",
                "credentialDeviceType",
                "credentialBackedUp",
                "transports",
            ],
            "credentials": ["id", "userId", "type", "data", "version", "createdAt", "updatedAt"],
            "auth_store_migrations": ["version", "name", "checksum", "applied_at"],
            # What auth-store adds to Auth.js's rows, beside them (never in them).
            "auth_store_users": ["id", "extra"],
            "auth_store_accounts": ["id", "extra"],
            "auth_store_sessions": ["id", "createdAt", "updatedAt", "ipAddress", "userAgent"],
        }
        assert {t for t, _ in found} == set(expected)
        for table, columns in expected.items():
            assert {c for t, c in found if t == table} == set(columns), table
        tz = "timestamp with time zone"
        assert found["users", "emailVerified"] == tz
        assert found["sessions", "expires"] == tz
        assert found["verification_token", "expires"] == tz
        assert found["credentials", "createdAt"] == tz
        assert found["auth_store_users", "extra"] == "jsonb"
        assert found["auth_store_accounts", "extra"] == "jsonb"
        assert found["auth_store_sessions", "createdAt"] == tz
        assert found["credentials", "data"] == "jsonb"
        assert found["accounts", "expires_at"] == "bigint"
        assert found["users", "id"] == "text"
        assert found["authenticators", "credentialBackedUp"] == "boolean"

    def test_keys_cascade_and_carry_the_names_errors_map(
        self, store: PostgresAdapter, postgres_url: str
    ) -> None:
        constraints = dict(
            _rows(
                postgres_url,
                "SELECT conname, contype::text || ':' || confdeltype::text FROM pg_constraint"
                " WHERE connamespace = current_schema()::regnamespace",
            )
        )
        for fkey in (
            "accounts_user_fkey",
            "sessions_user_fkey",
            "authenticators_user_fkey",
            "credentials_user_fkey",
            "auth_store_users_id_fkey",
            "auth_store_accounts_id_fkey",
            "auth_store_sessions_id_fkey",
        ):
            assert constraints[fkey] == "f:c"  # ON DELETE CASCADE
        assert constraints["accounts_provider_key"].startswith("u")
        assert constraints["sessions_token_key"].startswith("u")
        assert constraints["verification_token_pkey"].startswith("p")
        index = _rows(
            postgres_url,
            "SELECT indexdef FROM pg_indexes"
            " WHERE schemaname = current_schema() AND indexname = 'users_email_key'",
        )
        assert index
        assert "UNIQUE" in index[0][0]
        assert "lower(email)" in index[0][0]

    def test_everything_lives_in_the_schema_the_url_names(
        self, store: PostgresAdapter, postgres_url: str
    ) -> None:
        schema = schema_of(postgres_url)
        assert store.schema == schema
        _user(store)
        tables = _rows(
            postgres_url,
            "SELECT table_schema, count(*) FROM information_schema.tables"
            " WHERE table_name IN ('users', 'auth_store_migrations')"
            " AND table_schema = %s GROUP BY 1",
            (schema,),
        )
        assert tables == [(schema, 2)]
        assert _rows(postgres_url, "SELECT count(*) FROM users") == [(1,)]
        assert store.health()["schema"] == schema

    def test_the_url_schema_is_created_when_missing(self) -> None:
        base = require_postgres()
        schema = f"{SCHEMA_PREFIX}made_{os.getpid()}_{time.monotonic_ns()}"
        try:
            with auth_store.connect(f"{conninfo(base)}?schema={schema}") as store:
                _user(store)
                assert store.counts()["users"] == 1
            with admin_connection(base) as conn:
                found = conn.execute(
                    "SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)
                ).fetchone()
            assert found is not None
        finally:
            with admin_connection(base) as conn:
                conn.execute(
                    sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
                )

    def test_two_schemas_are_two_stores(self) -> None:
        with (
            fresh_postgres_url() as one_url,
            fresh_postgres_url() as two_url,
            auth_store.connect(one_url) as one,
            auth_store.connect(two_url) as two,
        ):
            user = _user(one)
            assert two.get_user(_uid(user)) is None
            assert _user(two) != user  # the same e-mail is free in the other schema
            assert one.counts()["users"] == two.counts()["users"] == 1

    def test_concurrent_first_opens_migrate_once(self, postgres_url: str) -> None:
        opened: list[Adapter] = []
        failures: list[BaseException] = []

        def open_it() -> None:
            try:
                opened.append(auth_store.connect(postgres_url))
            except BaseException as exc:
                failures.append(exc)

        threads = [threading.Thread(target=open_it) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        try:
            assert not failures
            assert len(opened) == 4
            assert _rows(postgres_url, "SELECT version FROM auth_store_migrations") == [
                (1,),
                (2,),
            ]
        finally:
            for adapter in opened:
                adapter.close()

    def test_migrate_false_changes_nothing_until_upgrade(self, postgres_url: str) -> None:
        with auth_store.connect(f"{postgres_url}&migrate=false") as store:
            assert isinstance(store, PostgresAdapter)
            assert store.schema_version() == 0
            assert [s.applied_at for s in store.schema_status()] == [None, None]
            assert _rows(postgres_url, "SELECT to_regclass('users') IS NULL") == [(True,)]
            assert store.upgrade_schema() == [1, 2]
            assert store.schema_version() == 2
            assert store.upgrade_schema() == []
            _user(store)

    def test_a_changed_migration_file_is_refused(
        self, store: PostgresAdapter, postgres_url: str
    ) -> None:
        _rows(postgres_url, "UPDATE auth_store_migrations SET checksum = 'edited' RETURNING 1")
        with pytest.raises(ConfigurationError, match="must never change"):
            auth_store.connect(postgres_url)


class TestStorage:
    def test_rows_another_app_wrote_with_capitals_are_found_and_collide(
        self, store: PostgresAdapter, postgres_url: str
    ) -> None:
        # As @auth/pg-adapter's createUser writes it: no id, the e-mail as given.
        ((new_id,),) = _rows(
            postgres_url,
            'INSERT INTO users (name, email, "emailVerified", image)'
            " VALUES (%s, %s, %s, %s) RETURNING id",
            ("Grace", "Grace.Hopper@Example.COM", None, None),
        )
        assert new_id.isdigit()  # the SERIAL default, as text
        found = store.get_user_by_email("grace.hopper@example.com")
        assert found is not None
        assert found.id == new_id
        assert found.email == "grace.hopper@example.com"  # returned normalised, stored as written:
        assert _rows(postgres_url, "SELECT email FROM users") == [("Grace.Hopper@Example.COM",)]
        with pytest.raises(ConflictError, match="e-mail"):
            store.create_user(User(email="grace.hopper@example.com"))

    def test_unique_keys_map_to_their_conflict_messages(self, store: PostgresAdapter) -> None:
        user = _user(store)
        with pytest.raises(ConflictError, match="a user with this e-mail exists") as caught:
            _user(store, "ADA@example.com")
        assert isinstance(caught.value.__cause__, pg_errors.UniqueViolation)
        with pytest.raises(ConflictError, match="a user with this id exists"):
            store.create_user(User(id=user.id, email="other@example.com"))
        expires = datetime.now(UTC) + timedelta(days=1)
        store.create_session(Session(session_token="t", user_id=_uid(user), expires=expires))
        with pytest.raises(ConflictError, match="this session token exists"):
            store.create_session(Session(session_token="t", user_id=_uid(user), expires=expires))

    def test_a_missing_user_is_not_found_from_the_foreign_key(self, store: PostgresAdapter) -> None:
        expires = datetime.now(UTC)
        with pytest.raises(NotFoundError) as caught:
            store.create_session(Session(session_token="t", user_id="ghost", expires=expires))
        assert isinstance(caught.value.__cause__, pg_errors.ForeignKeyViolation)

    def test_json_postgres_cannot_hold_is_a_validation_error(self, store: PostgresAdapter) -> None:
        # jsonb refuses \u0000 inside strings; shared validation refuses it first,
        # so every backend answers alike and no value reaches the message.
        with pytest.raises(ValidationError, match="NUL") as caught:
            store.create_user(User(email="nul@example.com", extra={"a": "x\x00y"}))
        assert "x\\u0000y" not in str(caught.value)
        assert store.counts()["users"] == 0

    def test_a_value_postgres_refuses_is_a_validation_error(self, store: PostgresAdapter) -> None:
        # A version at the bigint ceiling passes shared validation; the server's
        # refusal to step past it must come back as a ValidationError, cause kept.
        user = _user(store)
        ceiling = 2**63 - 1
        credential = store.create_credential(
            Credential(user_id=_uid(user), type="t", data={"a": 1}, version=ceiling)
        )
        assert credential.id is not None
        with pytest.raises(ValidationError, match="cannot store this value") as caught:
            store.update_credential(credential.id, {"a": 2}, expected_version=ceiling)
        assert isinstance(caught.value.__cause__, psycopg.DataError)
        kept = store.get_credential(credential.id)
        assert kept is not None
        assert (kept.version, kept.data) == (ceiling, {"a": 1})

    def test_datetimes_come_back_utc_whatever_the_server_zone(
        self, store: PostgresAdapter, postgres_url: str
    ) -> None:
        user = _user(store)
        with admin_connection(postgres_url) as conn:
            conn.execute(
                sql.SQL("SET search_path TO {}").format(sql.Identifier(schema_of(postgres_url)))
            )
            conn.execute("SET TimeZone TO 'Asia/Kolkata'")
            conn.execute(
                """INSERT INTO sessions ("userId", expires, "sessionToken")"""
                " VALUES (%s, '2030-01-02 08:34:05.000006', 'zoned')",
                (user.id,),
            )
        found = store.get_session_and_user("zoned")
        assert found is not None
        assert found[0].expires == datetime(2030, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
        assert found[0].expires.tzinfo is UTC

    def test_get_session_and_user_is_one_prepared_round_trip(self, postgres_url: str) -> None:
        with auth_store.connect(f"{postgres_url}&pool_max=1&pool_min=1") as store:
            assert isinstance(store, PostgresAdapter)
            user = _user(store)
            expires = datetime.now(UTC)
            store.create_session(Session(session_token="hot", user_id=_uid(user), expires=expires))
            store.get_session_and_user("hot")  # prepares the statement on the one connection
            with tempfile.TemporaryFile("w+") as trace:
                # libpq's own trace of every protocol message on the pool's only connection.
                with store._lease() as conn:
                    conn.pgconn.trace(trace.fileno())
                    conn.pgconn.set_trace_flags(
                        pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE
                    )
                found = store.get_session_and_user("hot")
                with store._lease() as conn:
                    conn.pgconn.untrace()
                trace.seek(0)
                sent = [line.split("\t")[2].split()[0] for line in trace if line.startswith("F")]
        assert found is not None
        assert found[1] == user
        # One Bind/Execute of an already prepared statement, one Sync: one round trip.
        assert sent == ["Bind", "Describe", "Execute", "Sync"]

    @pytest.mark.parametrize(
        "operation",
        [
            "create_user",
            "update_user",
            "delete_user",
            "link_account",
            "update_account",
            "unlink_account",
            "create_session",
            "update_session",
            "delete_session",
        ],
    )
    def test_writes_to_a_row_and_its_side_row_are_one_round_trip(
        self, postgres_url: str, operation: str
    ) -> None:
        # Each writes one of Auth.js's rows and auth-store's side row beside it,
        # in one statement: one Execute, one Sync.
        expires = datetime.now(UTC) + timedelta(days=1)

        def call(store: PostgresAdapter, n: int) -> object:
            uid = f"u{n}"
            store.create_user(User(id=uid, email=f"u{n}@example.com", extra={"n": n}))
            account = Account(
                user_id=uid, type="oauth", provider="gh", provider_account_id=str(n), extra={"a": n}
            )
            session = Session(
                session_token=f"t{n}", user_id=uid, expires=expires, ip_address="192.0.2.1"
            )
            if operation == "link_account":
                return lambda: store.link_account(account)
            if operation == "create_session":
                return lambda: store.create_session(session)
            store.link_account(account)
            store.create_session(session)
            return {
                "create_user": lambda: store.create_user(
                    User(email=f"new{n}@example.com", extra={"n": n})
                ),
                "update_user": lambda: store.update_user(uid, name="N", extra={"m": n}),
                "delete_user": lambda: store.delete_user(uid),
                "update_account": lambda: store.update_account(
                    "gh", str(n), access_token="x", extra={"b": n}
                ),
                "unlink_account": lambda: store.unlink_account("gh", str(n)),
                "update_session": lambda: store.update_session(
                    f"t{n}", updated_at=expires, user_agent="ua"
                ),
                "delete_session": lambda: store.delete_session(f"t{n}"),
            }[operation]

        with auth_store.connect(f"{postgres_url}&pool_max=1&pool_min=1") as store:
            assert isinstance(store, PostgresAdapter)
            warm = call(store, 1)
            assert callable(warm)
            warm()  # prepares the statement on the one connection
            traced = call(store, 2)
            assert callable(traced)
            with tempfile.TemporaryFile("w+") as trace:
                with store._lease() as conn:
                    conn.pgconn.trace(trace.fileno())
                    conn.pgconn.set_trace_flags(
                        pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE
                    )
                traced()
                with store._lease() as conn:
                    conn.pgconn.untrace()
                trace.seek(0)
                sent = [line.split("\t")[2].split()[0] for line in trace if line.startswith("F")]
        assert sent == ["Bind", "Describe", "Execute", "Sync"]

    def test_health_reports_server_pool_and_round_trip(self, store: PostgresAdapter) -> None:
        report = store.health()
        assert report["ok"] is True
        assert report["backend"] == "postgres"
        assert report["server_version"][:2].isdigit()
        assert report["round_trip_ms"] > 0
        assert report["pool"]["max"] == 10
        assert report["pool"]["size"] >= 1
        assert report["schema_version"] == report["latest_schema_version"] == 2
        assert "password" not in repr(report)

    def test_a_single_caller_is_served_by_one_connection(self, postgres_url: str) -> None:
        # The pool's first connection is ready when connect() returns: the first
        # calls do not race it into opening a second one (lent in turn, each colder).
        with auth_store.connect(postgres_url) as store:
            user = _user(store)
            for _ in range(20):
                assert store.get_user(_uid(user)) == user
            assert store.health()["pool"]["size"] == 1

    def test_health_of_a_closed_store_is_not_ok(self, postgres_url: str) -> None:
        store = auth_store.connect(postgres_url)
        store.close()
        report = store.health()
        assert report["ok"] is False
        assert "closed" in report["error"]
        with pytest.raises(StorageError, match="closed"):
            store.get_user("x")


class TestTimeouts:
    def test_a_statement_blocked_by_a_lock_fails_after_statement_timeout(
        self, postgres_url: str
    ) -> None:
        with auth_store.connect(f"{postgres_url}&statement_timeout=200") as store:
            vt = store.create_verification_token(
                VerificationToken(identifier="a@example.com", token="t", expires=datetime.now(UTC))
            )
            with admin_connection(postgres_url) as other, other.transaction():
                other.execute(
                    sql.SQL("LOCK TABLE {}.verification_token").format(
                        sql.Identifier(schema_of(postgres_url))
                    )
                )
                # The lock is held until this block ends: without the statement
                # timeout the call would wait for it forever.
                with pytest.raises(StorageError) as caught:
                    store.use_verification_token(vt.identifier, vt.token)
            assert isinstance(caught.value.__cause__, pg_errors.QueryCanceled)
            assert store.use_verification_token(vt.identifier, vt.token) == vt

    def test_an_exhausted_pool_fails_after_pool_timeout(self, postgres_url: str) -> None:
        with auth_store.connect(f"{postgres_url}&pool_max=1&pool_timeout=0.3") as store:
            _user(store)
            _user(store, "bob@example.com")
            export = store.export()
            next(export)  # the export holds the only connection
            # The pool's own message names the wait that ran out: 0.3 s, not its default.
            with pytest.raises(StorageError, match=r"no connection free.*after 0\.30 sec"):
                store.counts()
            assert isinstance(export, Generator)
            export.close()  # gives the connection back
            assert store.counts()["users"] == 2


class TestURL:
    def test_options_reach_the_pool_and_libpq_keywords_reach_libpq(self) -> None:
        name = f"auth-store-test-{os.getpid()}-{time.monotonic_ns()}"
        with (
            fresh_postgres_url(
                pool_min=2, pool_max=3, pool_timeout=7, application_name=name, pool_check="always"
            ) as url,
            auth_store.connect(url) as store,
        ):
            assert isinstance(store, PostgresAdapter)
            assert store._pool.min_size == 2
            assert store._pool.max_size == 3
            assert store._pool.timeout == 7
            store._pool.wait(10)
            with admin_connection(url) as conn:
                (count,) = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                    (name,),
                ).fetchone() or (0,)
            assert count >= 2

    def test_postgres_scheme_works_too(self, postgres_url: str) -> None:
        url = postgres_url.replace("postgresql://", "postgres://", 1)
        with auth_store.connect(url) as store:
            assert store.backend == "postgres"

    @pytest.mark.parametrize(
        ("option", "message"),
        [
            ("pool_mx=3", "unknown Postgres URL option"),
            ("schema=1bad", "schema must be"),
            ("schema=pg_mine", "schema must be"),
            ("schema=a-b", "schema must be"),
            ("pool_min=5&pool_max=2", "pool sizes"),
            ("pool_max=0", "pool sizes"),
            ("pool_timeout=0", "pool_timeout must be positive"),
            ("pool_max=lots", "is not a int"),
            ("pool_check=never", "pool_check must be one of"),
            ("statement_timeout=-1", "must not be negative"),
        ],
    )
    def test_bad_options_are_configuration_errors(self, option: str, message: str) -> None:
        with pytest.raises(ConfigurationError, match=message):
            auth_store.connect(f"postgresql://postgres@127.0.0.1:5432/test?{option}")

    def test_an_unreachable_server_fails_without_showing_the_password(self) -> None:
        with pytest.raises(StorageError, match="cannot connect to Postgres") as caught:
            auth_store.connect("postgresql://app:s3cret-pw@127.0.0.1:1/auth?connect_timeout=2")
        assert "s3cret-pw" not in str(caught.value)
        assert "app@127.0.0.1:1/auth" in str(caught.value)
        assert isinstance(caught.value.__cause__, psycopg.OperationalError)

    @pytest.mark.parametrize(
        "url",
        [
            # libpq's own message would quote the token with the bad %-escape.
            "postgresql://app:s3cret%zzpw@127.0.0.1:5432/auth",
            "postgresql://app:s3cret%zzpw@[::1/auth",
        ],
    )
    def test_an_unparsable_url_is_a_configuration_error_without_the_password(
        self, url: str
    ) -> None:
        with pytest.raises(ConfigurationError, match="cannot be parsed") as caught:
            PostgresAdapter.from_url(url)
        assert "s3cret" not in str(caught.value)
        assert caught.value.__cause__ is None

    def test_repr_and_health_hide_the_password(self, postgres_url: str) -> None:
        # The test server trusts local connections, so any password connects.
        url = postgres_url.replace("://postgres@", "://postgres:hunter2-pw@", 1)
        assert "hunter2-pw" in url
        with auth_store.connect(url) as store:
            assert repr(store).startswith("PostgresAdapter('postgres@")
            assert schema_of(postgres_url) in repr(store)
            assert "hunter2-pw" not in repr(store)
            assert "hunter2-pw" not in repr(store.health())
