"""``connect(url, create=False)`` on each built-in backend: what counts as a store, and
that a refusal leaves what is at the URL exactly as it was (the generic cases are in
the conformance suite, ``auth_store.testing``)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from auth_store import NoStoreError, connect
from auth_store.capabilities import OpensExisting
from auth_store.connect import backend_classes
from tests.pg import admin_connection, fresh_postgres_url, schema_of


def test_every_builtin_backend_can_open_only_an_existing_store() -> None:
    builtin = [c for c in backend_classes() if c.__module__.startswith("auth_store.adapters.")]
    assert {c.backend for c in builtin} >= {"memory", "sqlite", "file", "postgres"}
    assert all(issubclass(c, OpensExisting) for c in builtin)


def test_an_empty_file_or_another_apps_database_is_no_sqlite_store(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    with pytest.raises(NoStoreError, match="holds no auth-store tables"):
        connect(f"sqlite:///{empty}", create=False)
    assert empty.stat().st_size == 0

    other = tmp_path / "other.db"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE notes (body TEXT)")
    before = other.read_bytes()
    with pytest.raises(NoStoreError, match="not auth-store's"):
        connect(f"sqlite:///{other}", create=False)
    assert other.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.db", "other.db"]


def test_a_sqlite_store_opened_without_migrations_is_a_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/auth.db"
    connect(f"{url}?migrate=false").close()
    with connect(f"{url}?migrate=false", create=False) as store:
        assert store.health()["ok"] is True


def test_an_empty_or_foreign_folder_is_no_file_store(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(NoStoreError, match="holds no file store"):
        connect(f"file://{empty}", create=False)
    assert list(empty.iterdir()) == []  # not even the lock file

    with pytest.raises(NoStoreError, match="no such directory"):
        connect(f"file://{tmp_path}/missing", create=False)
    assert not (tmp_path / "missing").exists()


def test_a_postgres_schema_with_other_tables_is_no_store_and_stays_as_it_was() -> None:
    with fresh_postgres_url() as url:
        schema = schema_of(url)
        with admin_connection(url) as conn:
            conn.execute(f'CREATE TABLE "{schema}".users (id serial PRIMARY KEY)')
        with pytest.raises(NoStoreError, match="schema upgrade` adopts them") as refused:
            connect(url, create=False)
        assert schema in str(refused.value)
        with admin_connection(url) as conn:
            tables = conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,)
            ).fetchall()
        assert tables == [("users",)]


def test_a_postgres_password_never_shows_in_the_refusal() -> None:
    with fresh_postgres_url() as url:
        with_password = url.replace("postgresql://postgres@", "postgresql://postgres:hunter2@")
        assert "hunter2" in with_password
        with pytest.raises(NoStoreError) as refused:
            connect(with_password, create=False)
        assert "hunter2" not in str(refused.value)
        assert "no store at postgresql://postgres@" in str(refused.value)
