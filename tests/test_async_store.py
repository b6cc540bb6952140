"""The async twin of the store (``auth_store.connect_async``): what only the twin has.

The whole contract runs on the twin of every backend in tests/test_async_conformance.py;
here: the public names, never blocking the loop, many tasks at once, closing.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

import auth_store
from auth_store import clock
from auth_store.adapter import Adapter
from auth_store.async_adapter import AsyncAdapter
from auth_store.models import Session, User
from auth_store.testing import stores
from auth_store.testing.urls import derive_url

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
