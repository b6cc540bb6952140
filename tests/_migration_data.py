"""Shared by the migration, backup and CLI tests: fresh stores of every backend,
a store filled with every kind of record, and byte-level checksums of a store."""

from __future__ import annotations

import hashlib
import importlib.util
import secrets
import shutil
import sqlite3
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from auth_store import connect
from auth_store.adapter import Adapter
from auth_store.crypto import FieldCipher, Keyring
from auth_store.migration import store_path
from auth_store.models import (
    Account,
    Authenticator,
    Credential,
    Session,
    User,
    VerificationToken,
)

ROOT = Path(__file__).resolve().parent.parent
#: The interpreter running the tests (whatever venv or tool made it), for child processes.
PYTHON = sys.executable
#: The ``auth-store`` console script installed beside that interpreter.
AUTH_STORE = shutil.which("auth-store", path=str(Path(PYTHON).parent)) or "auth-store"
PG_ENV = "AUTH_STORE_TEST_POSTGRES_URL"


def _has(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:
        return False


#: The backends in this checkout that a test can open by URL.
BACKENDS = [
    name
    for name, module in (
        ("file", "auth_store.adapters.file"),
        ("sqlite", "auth_store.adapters.sqlite"),
        ("postgres", "auth_store.adapters.postgres"),
    )
    if _has(module)
]

#: Every ordered pair of two different backends.
DIRECTIONS = [(a, b) for a in BACKENDS for b in BACKENDS if a != b]


# -- Postgres: a fresh database per store ------------------------------------


def _pg_admin_url() -> str:
    # The session's server (tests/pg_server.py); none, or unreachable, fails the test.
    from tests.pg import require_postgres

    return require_postgres()


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + database, query=""))


class PostgresDatabases:
    """Creates throwaway databases on the test server and drops them afterwards."""

    def __init__(self) -> None:
        self.admin_url = _pg_admin_url()
        self.created: list[str] = []

    def _admin(self) -> object:
        import psycopg

        try:
            return psycopg.connect(self.admin_url, autocommit=True, connect_timeout=5)
        except psycopg.OperationalError as exc:
            pytest.fail(f"Postgres at {PG_ENV} is unreachable: {exc}")

    def new(self) -> str:
        name = f"auth_store_t_{secrets.token_hex(6)}"
        conn = self._admin()
        with conn:  # type: ignore[attr-defined]
            conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[attr-defined]
        self.created.append(name)
        return _with_database(self.admin_url, name)

    def drop_all(self) -> None:
        if not self.created:
            return
        conn = self._admin()
        with conn:  # type: ignore[attr-defined]
            for name in self.created:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[attr-defined]
        self.created.clear()


class StoreFactory:
    """``new(backend)`` returns the URL of a new, empty store of that backend."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self._n = 0
        self._pg: PostgresDatabases | None = None

    def new(self, backend: str) -> str:
        self._n += 1
        if backend == "sqlite":
            return f"sqlite:///{self.tmp_path}/store{self._n}.db"
        if backend == "file":
            return f"file://{self.tmp_path}/store{self._n}"
        if backend == "postgres":
            if self._pg is None:
                self._pg = PostgresDatabases()
            return self._pg.new()
        raise AssertionError(backend)

    def close(self) -> None:
        if self._pg is not None:
            self._pg.drop_all()


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[StoreFactory]:
    factory = StoreFactory(tmp_path)
    try:
        yield factory
    finally:
        factory.close()


# -- a store with every kind of record ---------------------------------------

T0 = datetime(2026, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)


def populate(store: Adapter, keyring: Keyring, *, users: int = 6) -> dict[str, str]:
    """Fill ``store`` with users and everything that points at them.

    Returns ``{credential id: plaintext}`` of the encrypted values written, to
    check after a migration that every ciphertext still decrypts in its place.
    """
    cipher = FieldCipher(keyring)
    plain: dict[str, str] = {}
    records: list[object] = []
    for i in range(users):
        uid = f"user-{i:04d}"
        records.append(
            User(
                id=uid,
                email=f"Person.{i}@Example.org" if i % 2 else f"p{i}@example.com",
                email_verified=T0 + timedelta(seconds=i) if i % 3 else None,
                name=f"Pérson {i} ✓",
                image=None if i % 2 else f"https://img.example/{i}.png",
                extra={"role": "admin" if i == 0 else "member", "n": i, "tags": ["a", "b"]},
            )
        )
    for record in records:
        store.create_user(record)  # type: ignore[arg-type]
    for i in range(users):
        uid = f"user-{i:04d}"
        store.link_account(
            Account(
                id=f"acct-{i}",
                user_id=uid,
                type="oauth",
                provider="github",
                provider_account_id=str(1000 + i),
                access_token=f"gho_{i}",
                refresh_token=None if i % 2 else f"ghr_{i}",
                expires_at=1_800_000_000 + i,
                token_type="bearer",
                scope="read:user",
                extra={"ext_expires_in": 3600, "not-before-policy": 0},
            )
        )
        # Odd sessions carry the details the session layer records; even ones,
        # like sessions an Auth.js app or an older release wrote, have none.
        store.create_session(
            Session(
                id=f"sess-{i}",
                session_token=f"token-{i}-{secrets.token_hex(8)}",
                user_id=uid,
                expires=T0 + timedelta(days=30 if i % 2 else -1),
                created_at=T0 - timedelta(days=1, microseconds=i) if i % 2 else None,
                updated_at=T0 + timedelta(minutes=i) if i % 2 else None,
                ip_address=f"2001:db8::{i:x}" if i % 2 else None,
                user_agent=f"Mozilla/5.0 (device {i}) Firefox/128.0" if i % 2 else None,
            )
        )
        store.create_authenticator(
            Authenticator(
                credential_id=f"cred-id-{i}",
                user_id=uid,
                provider_account_id=f"pa-{i}",
                credential_public_key=f"pk-{i}",
                counter=i,
                credential_device_type="multiDevice" if i % 2 else "singleDevice",
                credential_backed_up=bool(i % 2),
                transports="internal,usb" if i % 2 else None,
            )
        )
        secret_id = f"apikey-{i}"
        plain[secret_id] = f"sk-live-{i}-{secrets.token_hex(8)}"
        store.create_credential(
            Credential(
                id=secret_id,
                user_id=uid,
                type="api_key",
                data={
                    "label": f"key {i}",
                    "key": cipher.encrypt(
                        plain[secret_id],
                        collection="credentials",
                        record_id=secret_id,
                        field="key",
                    ),
                },
                version=1 + i % 3,
                created_at=T0,
                updated_at=T0 + timedelta(microseconds=i),
            )
        )
        store.create_credential(
            Credential(
                id=f"pw-{i}",
                user_id=uid,
                type="password",
                data={"hash": "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"},
                created_at=T0,
                updated_at=T0,
            )
        )
    for i in range(3):
        store.create_verification_token(
            VerificationToken(
                identifier=f"p{i}@example.com",
                token=hashlib.sha256(f"vt{i}".encode()).hexdigest(),
                expires=T0 + timedelta(hours=i - 1),
            )
        )
    return plain


def check_decrypts(store: Adapter, keyring: Keyring, plain: dict[str, str]) -> None:
    """Every encrypted value written by ``populate`` decrypts in its place in ``store``."""
    cipher = FieldCipher(keyring)
    for credential_id, text in plain.items():
        credential = store.get_credential(credential_id)
        assert credential is not None, credential_id
        value = cipher.decrypt_str(
            credential.data["key"],
            collection="credentials",
            record_id=credential_id,
            field="key",
        )
        assert value == text


# -- byte-level checksums ----------------------------------------------------


def checksum(url: str) -> str:
    """A hash of every byte a store holds: its files, its SQLite file, or its rows."""
    scheme = urlsplit(url).scheme
    digest = hashlib.sha256()
    if scheme == "sqlite":
        path = store_path(url)
        assert path is not None
        for candidate in (path, Path(f"{path}-wal")):
            if candidate.exists() and candidate.stat().st_size:
                digest.update(candidate.name.encode() + b"\0" + candidate.read_bytes())
        return digest.hexdigest()
    if scheme == "file":
        root = store_path(url)
        assert root is not None
        for path in sorted(root.rglob("*")):
            if path.is_file():
                digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
        return digest.hexdigest()
    return _pg_checksum(url)


def _pg_checksum(url: str) -> str:
    import psycopg

    digest = hashlib.sha256()
    with psycopg.connect(_with_database(url, urlsplit(url).path.lstrip("/"))) as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables"
            " WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
            " AND table_type = 'BASE TABLE' ORDER BY 1, 2"
        ).fetchall()
        for schema, table in tables:
            rows = conn.execute(
                f'SELECT row_to_json(t)::text FROM "{schema}"."{table}" AS t'
            ).fetchall()
            digest.update(f"{schema}.{table}\0".encode())
            for (row,) in sorted(rows):
                digest.update(row.encode() + b"\n")
    return digest.hexdigest()


def sqlite_exec(url: str, sql: str, params: tuple[object, ...] = ()) -> None:
    """Run raw SQL on a SQLite store with foreign keys off (to plant damage)."""
    path = store_path(url)
    assert path is not None
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA foreign_keys = OFF")
        conn.execute(sql, params)
        conn.commit()
    finally:
        conn.close()


def open_store(url: str) -> Adapter:
    """Open a store by URL (a helper so tests read alike)."""
    return connect(url)


OpenStore = Callable[[str], Adapter]
