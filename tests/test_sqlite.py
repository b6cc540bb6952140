"""The SQLite backend: the conformance suite on a real file, then what only SQLite has."""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import sqlite3
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

import auth_store
from auth_store import (
    Account,
    Authenticator,
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
from auth_store.adapters.sql import CONFLICTS, Dialect, load_migrations
from auth_store.adapters.sql.base import IMPORT_CHUNK
from auth_store.adapters.sql.rows import RowCodec
from auth_store.adapters.sql.rows import _check_plain as check_plain
from auth_store.adapters.sql.statements import Change, Statements
from auth_store.adapters.sqlite import SQLiteAdapter, SQLiteDialect
from auth_store.testing import AdapterConformance, RawStorage
from auth_store.testing.raw import SQLiteRaw, sqlite_path


class TestSQLite(AdapterConformance):
    def new_url(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path}/auth.db"

    def raw(self, adapter: Adapter, url: str) -> RawStorage:
        return SQLiteRaw(sqlite_path(url))


class _NoReturningDialect(SQLiteDialect):
    returning = False


class _NoReturningAdapter(SQLiteAdapter):
    dialect_class = _NoReturningDialect


class TestSQLiteWithoutReturning(TestSQLite):
    """The path SQLite < 3.35 takes: re-read the row inside the write transaction."""

    multiprocess = False  # child processes open by URL, which uses RETURNING

    def open(self, url: str) -> Adapter:
        return _NoReturningAdapter.from_url(url)

    def test_no_statement_uses_returning(self, adapter: Adapter) -> None:
        assert isinstance(adapter, _NoReturningAdapter)
        assert adapter._sql.token_use.returning is None
        assert adapter._sql.credential_update.returning is None


# -- SQLite-specific ----------------------------------------------------------------


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "auth.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[SQLiteAdapter]:
    with SQLiteAdapter(db_path) as opened:
        yield opened


@contextmanager
def _raw(path: Path) -> Iterator[sqlite3.Connection]:
    """A second, independent connection to the file (closed afterwards)."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        yield conn
    finally:
        conn.close()


def _user(store: Adapter, email: str = "a@example.com") -> User:
    return store.create_user(User(email=email))


def _uid(user: User) -> str:
    assert user.id is not None
    return user.id


class TestURLs:
    def test_three_slashes_are_relative_to_the_working_directory(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.chdir(tmp_path)
        (tmp_path / "sub").mkdir()
        with auth_store.connect("sqlite:///sub/rel.db") as opened:
            assert isinstance(opened, SQLiteAdapter)
            assert opened.path == str(tmp_path / "sub" / "rel.db")
        assert (tmp_path / "sub" / "rel.db").is_file()

    def test_four_slashes_are_absolute(self, tmp_path: Path) -> None:
        with auth_store.connect(f"sqlite:///{tmp_path}/abs.db") as opened:
            assert isinstance(opened, SQLiteAdapter)
            assert opened.path == str(tmp_path / "abs.db")

    def test_percent_escapes_are_decoded(self, tmp_path: Path) -> None:
        with auth_store.connect(f"sqlite:///{tmp_path}/with%20space.db") as opened:
            _user(opened)
        assert (tmp_path / "with space.db").is_file()

    def test_options(self, tmp_path: Path) -> None:
        url = f"sqlite:///{tmp_path}/o.db?busy_timeout=250&durability=normal"
        with auth_store.connect(url) as opened:
            health = opened.health()
        assert health["busy_timeout"] == 250
        assert health["durability"] == "normal"
        with auth_store.connect(f"sqlite:///{tmp_path}/p.db?migrate=False") as pending:
            assert pending.health()["schema_version"] == 0

    @pytest.mark.parametrize(
        "url",
        [
            "sqlite:///:memory:",
            "sqlite://",
            "sqlite://host/x.db",
            "sqlite:///x.db?nope=1",
            "sqlite:///x.db?busy_timeout=soon",
            "sqlite:///x.db?busy_timeout=-1",
            "sqlite:///x.db?durability=off",
            "sqlite:///x.db?migrate=maybe",  # not read as false
        ],
    )
    def test_bad_urls_are_configuration_errors(
        self, url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.chdir(tmp_path)
        with pytest.raises(ConfigurationError):
            auth_store.connect(url)

    def test_missing_directory_is_a_storage_error(self, tmp_path: Path) -> None:
        with pytest.raises(StorageError, match="cannot create"):
            SQLiteAdapter(tmp_path / "missing" / "auth.db")

    def test_a_file_that_is_not_a_database_is_a_storage_error(self, db_path: Path) -> None:
        db_path.write_bytes(b"this is not a database, just some bytes" * 100)
        with pytest.raises(StorageError) as caught:
            SQLiteAdapter(db_path)
        assert isinstance(caught.value.__cause__, sqlite3.DatabaseError)


class TestSetup:
    def test_wal_mode_is_on(self, store: SQLiteAdapter, db_path: Path) -> None:
        assert store.health()["journal_mode"] == "wal"
        with _raw(db_path) as other:
            assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"

    def test_foreign_keys_are_on_in_every_thread(self, store: SQLiteAdapter) -> None:
        assert store.health()["foreign_keys"] is True
        seen: list[object] = []

        def in_thread() -> None:
            try:
                store.create_session(
                    Session(session_token="t", user_id="nobody", expires=auth_store.clock.now())
                )
            except NotFoundError as exc:
                seen.append(exc)

        thread = threading.Thread(target=in_thread)
        thread.start()
        thread.join()
        assert len(seen) == 1
        assert store.counts()["sessions"] == 0

    def test_deleting_a_user_cascades_in_the_database(
        self, store: SQLiteAdapter, db_path: Path
    ) -> None:
        user = _user(store)
        store.create_session(
            Session(session_token="tok", user_id=_uid(user), expires=auth_store.clock.now())
        )
        # A raw connection with foreign keys on sees the cascade the schema declares.
        with _raw(db_path) as other:
            other.execute("PRAGMA foreign_keys = ON")
            other.execute("DELETE FROM users WHERE id = ?", (user.id,))
            assert other.execute("SELECT COUNT(*) FROM sessions").fetchone()[0] == 0

    def test_the_database_file_is_private(self, store: SQLiteAdapter, db_path: Path) -> None:
        _user(store)
        for path in (db_path, Path(f"{db_path}-wal")):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path

    def test_datetimes_are_stored_as_fixed_width_utc_text(
        self, store: SQLiteAdapter, db_path: Path
    ) -> None:
        user = _user(store)
        plus_two = timezone(timedelta(hours=2))
        store.create_session(
            Session(
                session_token="tok",
                user_id=_uid(user),
                expires=datetime(2030, 1, 2, 5, 4, 5, tzinfo=plus_two),
            )
        )
        with _raw(db_path) as other:
            stored = other.execute("SELECT expires FROM sessions").fetchone()[0]
        assert stored == "2030-01-02T03:04:05.000000+00:00"
        found = store.get_session_and_user("tok")
        assert found is not None
        assert found[0].expires == datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)

    def test_the_schema_refuses_datetimes_it_cannot_compare(
        self, store: SQLiteAdapter, db_path: Path
    ) -> None:
        user = _user(store)
        with _raw(db_path) as other, pytest.raises(sqlite3.IntegrityError, match="CHECK"):
            other.execute(
                'INSERT INTO sessions (id, "userId", expires, "sessionToken")'
                " VALUES ('s', ?, '2030-01-02 03:04:05', 'tok')",
                (user.id,),
            )
        with _raw(db_path) as other, pytest.raises(sqlite3.IntegrityError, match="CHECK"):
            other.execute(
                'INSERT INTO sessions (id, "userId", expires, "sessionToken", "updatedAt")'
                " VALUES ('s', ?, '2030-01-02T03:04:05.000000+00:00', 'tok', '2030-01-02')",
                (user.id,),
            )

    def test_each_thread_has_its_own_connection_and_close_closes_all(self, db_path: Path) -> None:
        store = SQLiteAdapter(db_path)
        connections: list[sqlite3.Connection] = [store._connection()]
        ready = threading.Event()
        release = threading.Event()

        def worker() -> None:
            connections.append(store._connection())
            ready.set()
            release.wait(10)

        thread = threading.Thread(target=worker)
        thread.start()
        ready.wait(10)
        assert connections[0] is not connections[1]
        store.close()
        release.set()
        thread.join()
        for conn in connections:
            with pytest.raises(sqlite3.ProgrammingError):
                conn.execute("SELECT 1")
        store.close()  # idempotent
        with pytest.raises(StorageError, match="closed"):
            store.get_user("x")

    def test_connections_of_finished_threads_are_released(self, store: SQLiteAdapter) -> None:
        def open_files() -> int:
            return len(os.listdir("/proc/self/fd"))

        _user(store)
        before = open_files()
        for _ in range(30):
            thread = threading.Thread(target=store.counts)
            thread.start()
            thread.join()
        assert open_files() <= before + 3


class TestMigrations:
    def test_opening_applies_every_migration_once_and_records_it(self, db_path: Path) -> None:
        shipped = load_migrations("sqlite")
        with SQLiteAdapter(db_path) as first:
            assert first.schema_version() == first.latest_schema_version == len(shipped)
            status = first.schema_status()
            assert [(s.version, s.name) for s in status] == [(m.version, m.name) for m in shipped]
            assert all(s.applied_at is not None for s in status)
            _user(first)
        with SQLiteAdapter(db_path) as again:
            assert again.upgrade_schema() == []
            assert again.schema_status() == status  # applied_at unchanged: nothing re-ran
            assert again.counts()["users"] == 1
        with _raw(db_path) as other:
            rows = other.execute(
                "SELECT version, name, checksum FROM auth_store_migrations"
            ).fetchall()
        assert rows == [(m.version, m.name, m.checksum) for m in shipped]

    def test_migrate_false_leaves_the_schema_pending(self, db_path: Path) -> None:
        with SQLiteAdapter(db_path, migrate=False) as store:
            assert store.schema_version() == 0
            assert [s.applied_at for s in store.schema_status()] == [None, None]
            assert store.health()["schema_version"] == 0
            assert store.upgrade_schema() == [1, 2]
            assert store.schema_version() == 2
            _user(store)

    def test_a_database_from_a_newer_release_is_refused(self, db_path: Path) -> None:
        SQLiteAdapter(db_path).close()
        with _raw(db_path) as other:
            other.execute(
                "INSERT INTO auth_store_migrations VALUES (99, 'future', 'x', '2030-01-01')"
            )
        with pytest.raises(ConfigurationError, match="newer"):
            SQLiteAdapter(db_path)

    def test_a_changed_migration_file_is_refused(self, db_path: Path) -> None:
        SQLiteAdapter(db_path).close()
        with _raw(db_path) as other:
            other.execute("UPDATE auth_store_migrations SET checksum = 'edited' WHERE version = 1")
        with pytest.raises(ConfigurationError, match="differs"):
            SQLiteAdapter(db_path)

    def test_a_failing_migration_changes_nothing(self, db_path: Path) -> None:
        # A table the first migration wants to create already exists: the
        # whole open transaction rolls back.
        with _raw(db_path) as other:
            other.execute("CREATE TABLE credentials (x)")
        with pytest.raises(StorageError):
            SQLiteAdapter(db_path)
        with _raw(db_path) as other:
            tables = {r[0] for r in other.execute("SELECT name FROM sqlite_master")}
            assert tables == {"credentials"}  # not even the tracking table was kept

    def test_scripts_are_split_into_statements(self) -> None:
        dialect = SQLiteDialect()
        script = "-- c\nCREATE TABLE a (x TEXT DEFAULT ';');\nCREATE TABLE b (y);\n-- end\n"
        assert dialect.split_script(script) == [
            "-- c\nCREATE TABLE a (x TEXT DEFAULT ';');",
            "CREATE TABLE b (y);",
        ]
        with pytest.raises(ConfigurationError):
            dialect.split_script("CREATE TABLE c (z)")


class TestLockingAndErrors:
    def test_reads_go_on_while_another_process_writes(
        self, store: SQLiteAdapter, db_path: Path
    ) -> None:
        user = _user(store)
        with _raw(db_path) as writer:
            writer.execute("BEGIN IMMEDIATE")
            writer.execute("UPDATE users SET name = 'uncommitted'")
            assert store.get_user(_uid(user)) == user
            writer.execute("ROLLBACK")

    def test_a_lock_held_too_long_is_a_storage_error(self, db_path: Path) -> None:
        with SQLiteAdapter(db_path, busy_timeout=50) as store, _raw(db_path) as writer:
            writer.execute("BEGIN IMMEDIATE")
            with pytest.raises(StorageError, match="locked") as caught:
                _user(store)
            assert isinstance(caught.value.__cause__, sqlite3.OperationalError)
            writer.execute("ROLLBACK")
            _user(store)  # the connection is usable again
            assert store.counts()["users"] == 1

    def test_a_corrupt_row_is_a_storage_error(self, store: SQLiteAdapter, db_path: Path) -> None:
        user = _user(store)
        with _raw(db_path) as other:
            other.execute("UPDATE users SET extra = '{not json'")
        with pytest.raises(StorageError, match="users"):
            store.get_user(_uid(user))
        with _raw(db_path) as other:
            other.execute("UPDATE users SET extra = '[1, 2]'")
        with pytest.raises(StorageError, match="users"):
            store.get_user(_uid(user))
        with _raw(db_path) as other:
            other.execute("UPDATE users SET extra = ' {\"a\": 1} '")
        assert store.get_user(_uid(user)) == User(id=user.id, email=user.email, extra={"a": 1})

    def test_text_sqlite_cannot_encode_is_a_validation_error(self, store: SQLiteAdapter) -> None:
        with pytest.raises(ValidationError, match="surrogate"):
            store.create_user(User(email="a@example.com", name="\ud800"))
        with pytest.raises(ValidationError, match="surrogate"):
            store.create_user(User(email="b@example.com", extra={"k": "\udfff"}))
        with pytest.raises(ValidationError, match="surrogate"):
            store.get_session_and_user("\ud800")
        assert store.counts()["users"] == 0
        assert _user(store).email == "a@example.com"  # the connection is fine afterwards

    def test_a_conflict_names_the_key_without_the_value(self, store: SQLiteAdapter) -> None:
        user = _user(store)
        secret = "tok-" + "s3cr3t" * 5
        expires = auth_store.clock.now()
        store.create_session(Session(session_token=secret, user_id=_uid(user), expires=expires))
        with pytest.raises(ConflictError, match="session token") as caught:
            store.create_session(Session(session_token=secret, user_id=_uid(user), expires=expires))
        assert secret not in str(caught.value)
        assert isinstance(caught.value.__cause__, sqlite3.IntegrityError)


class TestExportImport:
    def test_export_is_one_snapshot_and_writes_may_interleave(self, store: SQLiteAdapter) -> None:
        for n in range(3):
            _user(store, f"u{n}@example.com")
        stream = store.export()
        first = next(stream)
        assert isinstance(first, User)
        _user(store, "late@example.com")  # same thread, mid-export: no deadlock
        rest = list(stream)
        assert len([first, *rest]) == 3
        assert store.counts()["users"] == 4

    def test_import_keeps_everything_and_batches(self, tmp_path: Path, db_path: Path) -> None:
        with SQLiteAdapter(db_path) as source:
            users = [_user(source, f"u{n}@example.com") for n in range(1200)]
            for user in users[:5]:
                source.create_credential(Credential(user_id=_uid(user), type="pw", data={"h": 1}))
            records = list(source.export())
        with SQLiteAdapter(tmp_path / "copy.db") as copy:
            counts = copy.import_records(iter(records))
            assert counts["users"] == 1200
            assert counts["credentials"] == 5
            assert list(copy.export()) == records

    def test_a_failing_chunk_rolls_back_alone(self, tmp_path: Path) -> None:
        records = [User(id=f"u{n}", email=f"u{n}@example.com") for n in range(IMPORT_CHUNK + 10)]
        records.append(User(id="dup", email="u0@example.com"))
        with SQLiteAdapter(tmp_path / "i.db") as store:
            with pytest.raises(ConflictError, match="e-mail"):
                store.import_records(records)
            assert store.counts()["users"] == IMPORT_CHUNK  # the first chunk committed


def _fork_child(store: SQLiteAdapter, results: Any) -> None:
    try:
        results.put(hasattr(store._local, "conn"))  # the parent's connection is dropped
        results.put(store.create_user(User(email="child@example.com")).id)
    except Exception as exc:  # reported, not raised: the parent asserts
        results.put(repr(exc))


# Python 3.12+ warns about forking a threaded process; SQLite's own rule (never
# use a connection across fork) is what this checks.
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_a_forked_child_opens_its_own_connection(store: SQLiteAdapter) -> None:
    parent_user = _user(store)
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    child = ctx.Process(target=_fork_child, args=(store, results))
    child.start()
    assert results.get(timeout=60) is False
    child_user_id = results.get(timeout=60)
    child.join(60)
    assert child.exitcode == 0
    assert store.get_user(str(child_user_id)) is not None, child_user_id
    assert store.get_user(_uid(parent_user)) == parent_user


# -- several processes on one file ----------------------------------------------------

# Each child connects, says "ready", waits for the go file, then works; so all
# of them hit the database at the same moment.
_CHILD = """
import os, sys, time
import auth_store
url, go, job, arg = sys.argv[1:5]
if job == "open":  # race on opening (creating, migrating) a file that doesn't exist
    print("ready", flush=True)
    while not os.path.exists(go):  # spin: all start within microseconds of each other
        pass
store = auth_store.connect(url)
if job == "open":
    store.create_user(auth_store.User(email=arg + "@example.com"))
    print(store.schema_version(), flush=True)
    sys.exit(0)
print("ready", flush=True)
while not os.path.exists(go):
    time.sleep(0.001)
retries = 0
for _ in range(int(os.environ["INCREMENTS"])):
    while True:
        current = store.get_credential(arg)
        data = dict(current.data, n=current.data["n"] + 1)
        if store.update_credential(arg, data, expected_version=current.version):
            break
        retries += 1
print(retries, flush=True)
store.close()
"""


def _race(url: str, go: Path, job: str, args: list[str], increments: int = 0) -> list[str]:
    env = dict(os.environ, INCREMENTS=str(increments))
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD, url, str(go), job, arg],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for arg in args
    ]
    try:
        for child in children:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "ready", child.stderr
        go.touch()
        outputs = []
        for child in children:
            out, err = child.communicate(timeout=120)
            assert child.returncode == 0, err
            outputs.append(out.strip())
        return outputs
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()


def test_processes_incrementing_by_compare_and_set_never_lose_one(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/auth.db"
    with auth_store.connect(url) as store:
        user = _user(store)
        credential = store.create_credential(
            Credential(user_id=_uid(user), type="counter", data={"n": 0})
        )
        assert credential.id is not None
        per_process = 100
        outputs = _race(url, tmp_path / "go", "increment", [credential.id] * 4, per_process)
        final = store.get_credential(credential.id)
    assert final is not None
    assert final.data["n"] == 4 * per_process
    assert final.version == 1 + 4 * per_process
    print("compare-and-set retries per process:", outputs)


def test_processes_opening_a_new_file_at_once_migrate_it_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/fresh.db"
    latest = len(load_migrations("sqlite"))
    outputs = _race(url, tmp_path / "go", "open", [f"p{n}" for n in range(6)])
    assert outputs == [str(latest)] * 6
    with _raw(tmp_path / "fresh.db") as other:
        assert other.execute("SELECT COUNT(*) FROM auth_store_migrations").fetchone() == (latest,)
        assert other.execute("SELECT COUNT(*) FROM users").fetchone() == (6,)
        assert other.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_opening_a_new_file_waits_while_another_opener_holds_the_lock(tmp_path: Path) -> None:
    # What a second process sees while the first one switches a new file to WAL
    # mode: the write lock is taken. SQLite answers the switch with an immediate
    # "database is locked", without a busy wait; opening must wait instead.
    path = tmp_path / "fresh.db"
    path.touch()
    first = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    first.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.3, lambda: first.execute("COMMIT"))
    release.start()
    try:
        # A long busy timeout: the lock is given back whenever the timer thread runs.
        with auth_store.connect(f"sqlite:///{path}?busy_timeout=60000") as store:
            store.create_user(User(email="second@example.com"))
            assert store.health()["journal_mode"] == "wal"
    finally:
        release.join()
        first.close()


class TestSharedSQLLayer:
    """The dialect-neutral parts, checked here until a second SQL backend exists."""

    def test_statements_render_for_a_format_style_driver(self) -> None:
        class FormatStyle(Dialect):
            placeholder = "%s"

        def texts(statements: Statements) -> dict[str, str]:
            found: dict[str, str] = {}
            for name, value in vars(statements).items():
                items = value.items() if isinstance(value, dict) else [("", value)]
                for key, item in items:
                    if isinstance(item, Change):
                        parts = {"plain": item.plain, "select": item.select}
                        parts["returning"] = item.returning or ""
                    else:
                        parts = {"": item}
                    found.update({f"{name}.{key}.{part}": text for part, text in parts.items()})
            return found

        qmark = texts(Statements(SQLiteDialect()))
        format_style = texts(Statements(FormatStyle()))
        assert qmark.keys() == format_style.keys()
        assert sum(text.count("?") for text in qmark.values()) > 50
        for name, text in qmark.items():
            assert format_style[name] == text.replace("?", "%s"), name

    @pytest.mark.parametrize("details", [True, False], ids=["details", "no-details"])
    def test_readers_build_what_the_models_init_builds(self, details: bool) -> None:
        codec = RowCodec(SQLiteDialect())
        at = datetime(2030, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
        session = Session(
            id="sid",
            session_token="tok",
            user_id="uid",
            expires=at,
            created_at=at - timedelta(days=1) if details else None,
            updated_at=at - timedelta(hours=1) if details else None,
            ip_address="203.0.113.7" if details else None,
            user_agent="Firefox" if details else None,
        )
        user = User(
            id="uid",
            email="a@example.com",
            email_verified=at if details else None,
            name="A" if details else None,
            image="https://example.com/a.png" if details else None,
            extra={"role": "admin", "n": [1, {"x": None}]} if details else {},
        )
        session_row = codec.session_params(session)
        user_row = codec.user_params(user)
        decoded = [
            *codec.session_and_user((*session_row, *user_row)),
            codec.session(session_row),
            codec.user(user_row),
        ]
        for got, want in zip(decoded, [session, user, session, user], strict=True):
            assert type(got) is type(want)
            assert got == want
            assert list(vars(got).items()) == list(vars(want).items())  # same fields, same order
        got_session, got_user = decoded[:2]
        assert isinstance(got_session, Session)
        assert isinstance(got_user, User)
        got_user.extra["role"] = "member"  # each read gets its own objects
        assert codec.user(user_row).extra == user.extra
        assert "tok" not in repr(got_session)  # field(repr=False) still applies

    def test_readers_refuse_a_model_that_is_not_a_plain_dataclass(self) -> None:
        @dataclasses.dataclass(kw_only=True)
        class Checked:
            a: int

            def __post_init__(self) -> None:
                raise AssertionError("unreachable")

        @dataclasses.dataclass(kw_only=True, slots=True)
        class Slotted:
            a: int

        @dataclasses.dataclass(kw_only=True)
        class Plain:
            a: int
            b: int = 0

        check_plain(Plain, ("a", "b"))
        for cls, names in [(Plain, ("a",)), (Plain, ("b", "a")), (Checked, ("a",))]:
            with pytest.raises(ImportError, match=cls.__name__):
                check_plain(cls, names)
        with pytest.raises(ImportError, match="Slotted"):
            check_plain(Slotted, ("a",))

    def test_every_unique_key_gets_its_own_message(self, store: SQLiteAdapter) -> None:
        user = _user(store)
        uid = _uid(user)
        expires = auth_store.clock.now()
        account = Account(user_id=uid, type="oauth", provider="gh", provider_account_id="1")
        session = Session(session_token="tok", user_id=uid, expires=expires)
        token = VerificationToken(identifier="i", token="t", expires=expires)
        authenticator = Authenticator(
            credential_id="c",
            user_id=uid,
            provider_account_id="p",
            credential_public_key="k",
            counter=0,
            credential_device_type="singleDevice",
            credential_backed_up=True,
        )
        stored_account = store.link_account(account)
        stored_session = store.create_session(session)
        store.create_verification_token(token)
        store.create_authenticator(authenticator)
        credential = store.create_credential(Credential(user_id=uid, type="pw", data={}))
        attempts: list[tuple[str, Any]] = [
            ("users(id)", lambda: store.create_user(User(id=uid, email="other@example.com"))),
            ("users(email)", lambda: store.create_user(User(email=user.email))),
            (
                "accounts(id)",
                lambda: store.link_account(
                    Account(
                        id=stored_account.id,
                        user_id=uid,
                        type="oauth",
                        provider="gh",
                        provider_account_id="2",
                    )
                ),
            ),
            ("accounts(provider,providerAccountId)", lambda: store.link_account(account)),
            (
                "sessions(id)",
                lambda: store.create_session(
                    Session(id=stored_session.id, session_token="x", user_id=uid, expires=expires)
                ),
            ),
            ("sessions(sessionToken)", lambda: store.create_session(session)),
            (
                "verification_token(identifier,token)",
                lambda: store.create_verification_token(token),
            ),
            ("authenticators(credentialID)", lambda: store.create_authenticator(authenticator)),
            (
                "credentials(id)",
                lambda: store.create_credential(
                    Credential(id=credential.id, user_id=uid, type="pw", data={})
                ),
            ),
        ]
        assert sorted(key for key, _ in attempts) == sorted(CONFLICTS)
        for key, attempt in attempts:
            with pytest.raises(ConflictError) as caught:
                attempt()
            assert str(caught.value) == CONFLICTS[key]

    def test_missing_user_behind_a_foreign_key_is_not_found(self, store: SQLiteAdapter) -> None:
        with pytest.raises(NotFoundError, match="no user"):
            store.link_account(
                Account(user_id="ghost", type="oauth", provider="gh", provider_account_id="1")
            )
        user = _user(store)
        session = store.create_session(
            Session(session_token="tok", user_id=_uid(user), expires=auth_store.clock.now())
        )
        with pytest.raises(NotFoundError, match="no user"):
            store.update_session(session.session_token, user_id="ghost")
