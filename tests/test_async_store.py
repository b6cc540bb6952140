"""The async twin of the store (``auth_store.connect_async``): what only the twin has.

The whole contract runs on the twin of every backend in tests/test_async_conformance.py;
here: the public names, never blocking the loop, many tasks at once, closing, and
opening only an existing store (``create=False``, as tests/test_open_existing.py for
``connect``).
"""

from __future__ import annotations

import asyncio
import inspect
import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest

import auth_store
from auth_store import clock
from auth_store.adapter import Adapter
from auth_store.async_adapter import AsyncAdapter
from auth_store.async_twin import ThreadedAsyncAdapter
from auth_store.errors import NoStoreError
from auth_store.models import Session, User
from auth_store.testing import stores
from auth_store.testing.urls import derive_url
from tests.pg import admin_connection, fresh_postgres_url, schema_of

#: Adapter methods that are not part of the per-call contract.
_NOT_CALLS = {"from_url", "__enter__", "__exit__"}


def _contract_methods() -> list[str]:
    return sorted(
        name
        for name, member in inspect.getmembers(Adapter, inspect.isfunction)
        if not name.startswith("_") or name in {"__enter__", "__exit__"}
    )


def test_every_adapter_method_has_a_twin_with_the_same_signature() -> None:
    for name in _contract_methods():
        if name in _NOT_CALLS:
            continue
        sync = inspect.signature(getattr(Adapter, name))
        twin = getattr(AsyncAdapter, name, None)
        assert twin is not None, f"AsyncAdapter lacks {name}"
        if name == "export":
            assert not inspect.iscoroutinefunction(twin)  # an async iterator
        else:
            assert inspect.iscoroutinefunction(twin), name
        if name == "import_records":
            continue  # also takes an async iterable
        assert list(inspect.signature(twin).parameters) == list(sync.parameters), name
        assert str(inspect.signature(twin).return_annotation).replace(
            "AsyncIterator", "Iterator"
        ) == str(sync.return_annotation), name


def test_the_public_names() -> None:
    assert auth_store.AsyncAdapter is AsyncAdapter
    assert inspect.iscoroutinefunction(auth_store.connect_async)


@pytest.fixture(params=stores.backend_params())
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    url, cleanup = derive_url(request.param, tmp_path)
    yield url
    if cleanup is not None:
        cleanup()


def test_a_session_round_trip_and_async_with(store_url: str) -> None:
    async def main() -> None:
        async with await auth_store.connect_async(store_url) as store:
            assert isinstance(store, AsyncAdapter)
            user = await store.create_user(User(email=" Ada@Example.COM "))
            expires = clock.now() + timedelta(days=1)
            await store.create_session(
                Session(session_token="tok-1", user_id=user.id or "", expires=expires)
            )
            found = await store.get_session_and_user("tok-1")
            assert found is not None
            assert found[1].email == "ada@example.com"
            assert found[0].expires == expires
            assert await store.get_session_and_user("nope") is None
            records = [r async for r in store.export()]
            assert records[:1] == [user]
        with pytest.raises(auth_store.StorageError):
            await store.get_user(user.id or "")

    asyncio.run(main())


def test_many_tasks_at_once_on_one_store(store_url: str) -> None:
    async def main() -> None:
        async with await auth_store.connect_async(store_url) as store:
            users = await asyncio.gather(
                *(store.create_user(User(email=f"u{n}@example.com")) for n in range(40))
            )
            assert len({u.id for u in users}) == 40
            found = await asyncio.gather(*(store.get_user(u.id or "") for u in users))
            assert found == users
            assert (await store.counts())["users"] == 40

    asyncio.run(main())


# -- opening only an existing store: connect_async(url, create=False) ----------------------


def test_connect_async_takes_what_connect_takes() -> None:
    assert inspect.signature(auth_store.connect_async).parameters == (
        inspect.signature(auth_store.connect).parameters
    )


def _what_is_there(url: str, tmp_path: Path) -> object:
    """Everything at the URL a refusal must leave as it was."""
    scheme = urlsplit(url).scheme
    if scheme.startswith("postgres"):
        with admin_connection(url) as conn:
            schemas = conn.execute(
                "SELECT count(*) FROM pg_namespace WHERE nspname = %s", (schema_of(url),)
            ).fetchone()
            tables = conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema_of(url),)
            ).fetchall()
        return schemas, sorted(tables)
    return sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))


def test_create_false_refuses_a_url_with_no_store_and_creates_nothing(
    store_url: str, tmp_path: Path
) -> None:
    before = _what_is_there(store_url, tmp_path)

    async def main() -> None:
        with pytest.raises(NoStoreError, match="no store at"):
            await auth_store.connect_async(store_url, create=False)
        with pytest.raises(NoStoreError):
            await auth_store.connect_async(store_url, create=False)  # nothing made the first time

    asyncio.run(main())
    assert _what_is_there(store_url, tmp_path) == before
    if urlsplit(store_url).scheme != "memory":  # a store there would show
        asyncio.run(_create_and_close(store_url))  # the control: by default one is made
        assert _what_is_there(store_url, tmp_path) != before


async def _create_and_close(url: str) -> User:
    async with await auth_store.connect_async(url) as store:
        return await store.create_user(User(email="ann@example.com"))


@pytest.mark.parametrize("store_url", stores.backend_params(shared=True), indirect=True)
def test_create_false_opens_a_store_that_is_there(store_url: str) -> None:
    ann = asyncio.run(_create_and_close(store_url))

    async def main() -> None:
        async with await auth_store.connect_async(store_url, create=False) as store:
            assert await store.get_user(str(ann.id)) == ann
            native = urlsplit(store_url).scheme.startswith("postgres")
            assert isinstance(store, ThreadedAsyncAdapter) is not native

    asyncio.run(main())


def test_create_false_on_memory_refuses_even_beside_an_open_memory_store() -> None:
    async def main() -> None:
        async with await auth_store.connect_async("memory://") as store:
            await store.create_user(User(email="ann@example.com"))
            with pytest.raises(NoStoreError, match="lives only in the process"):
                await auth_store.connect_async("memory://", create=False)

    asyncio.run(main())


def test_create_false_on_an_empty_file_or_another_apps_sqlite_database(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE notes (body TEXT)")
    before = other.read_bytes()

    async def main() -> None:
        with pytest.raises(NoStoreError, match="holds no auth-store tables"):
            await auth_store.connect_async(f"sqlite:///{empty}", create=False)
        with pytest.raises(NoStoreError, match="not auth-store's"):
            await auth_store.connect_async(f"sqlite:///{other}", create=False)

    asyncio.run(main())
    assert empty.stat().st_size == 0
    assert other.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.db", "other.db"]


def test_create_false_on_an_empty_or_missing_folder(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()

    async def main() -> None:
        with pytest.raises(NoStoreError, match="holds no file store"):
            await auth_store.connect_async(f"file://{empty}", create=False)
        with pytest.raises(NoStoreError, match="no such directory"):
            await auth_store.connect_async(f"file://{tmp_path}/missing", create=False)

    asyncio.run(main())
    assert list(empty.iterdir()) == []  # not even the lock file
    assert not (tmp_path / "missing").exists()


@pytest.mark.parametrize("flavor", ["", "&flavor=better-auth"], ids=["authjs", "better-auth"])
def test_create_false_on_a_postgres_schema_with_other_tables(flavor: str) -> None:
    with fresh_postgres_url() as url:
        schema = schema_of(url)
        with admin_connection(url) as conn:
            conn.execute(f'CREATE TABLE "{schema}".users (id serial PRIMARY KEY)')
        with_password = url.replace("postgresql://postgres@", "postgresql://postgres:hunter2@")
        assert "hunter2" in with_password

        async def main() -> NoStoreError:
            with pytest.raises(NoStoreError) as refused:
                await auth_store.connect_async(with_password + flavor, create=False)
            return refused.value

        refusal = str(asyncio.run(main()))
        assert schema in refusal
        assert "hunter2" not in refusal
        with admin_connection(url) as conn:
            tables = conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,)
            ).fetchall()
        assert tables == [("users",)]
