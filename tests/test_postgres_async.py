"""The native async twin of the Postgres backend: what asyncio adds to the sync backend.

Cancellation, dropped connections, a server restart, closing with calls in
flight, many tasks on one pool. Faults are real, as in
tests/test_postgres_reconnect.py (whose helpers this reuses): a lock held by
another connection keeps a call waiting in the server, ``pg_terminate_backend``
kills its connection, a TCP relay plays a server restart. Every test has a
hard timeout, so a hang fails it; no assertion depends on the machine's speed.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Coroutine, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import psycopg
import pytest

import auth_store
from auth_store import Session, StorageError, User, VerificationToken
from auth_store.adapters.postgres_async import AsyncPostgresAdapter
from tests.pg import fresh_postgres_url
from tests.test_postgres_reconnect import (
    Relay,
    _backends,
    _kill,
    _locked,
    _through,
    _wait_until_blocked,
    relay,
)

__all__ = ["relay"]  # a fixture, used below

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(120)]

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


@pytest.fixture
def named_url() -> Iterator[tuple[str, str]]:
    """A fresh store's URL whose connections carry a unique application_name, and the name."""
    name = f"auth-store-async-{uuid.uuid4().hex[:10]}"
    with fresh_postgres_url(
        application_name=name, pool_min=1, pool_max=1, pool_timeout=5, connect_timeout=3
    ) as url:
        yield url, name


async def _open(url: str) -> AsyncPostgresAdapter:
    store = await auth_store.connect_async(url)
    assert isinstance(store, AsyncPostgresAdapter)
    return store


def _expiry() -> datetime:
    return datetime.now(UTC) + timedelta(days=1)


# -- cancellation ------------------------------------------------------------------


Call = Callable[[AsyncPostgresAdapter, User], Coroutine[Any, Any, Any]]

#: Reads on both paths of the twin: a per-request lookup (off the bridge: the
#: lane's connection on psycopg's async cursor) and any other read (the sync
#: backend's, on the bridge); each with the table whose lock keeps it waiting.
READS: dict[str, tuple[str, Call]] = {
    "lookup": ("users", lambda store, user: store.get_user(str(user.id))),
    "read": ("sessions", lambda store, user: store.list_sessions(str(user.id))),
}

#: What a cancelled call was doing (a read, a one-statement write, a transaction),
#: and the table whose lock keeps it waiting.
CANCELLED: dict[str, tuple[str, Call]] = {
    **READS,
    "write": ("verification_token", lambda store, user: store.use_verification_token("a", "t")),
    "transaction": ("sessions", lambda store, user: store.purge_expired()),
}


@pytest.mark.parametrize("kind", sorted(CANCELLED))
def test_a_cancelled_call_gives_its_connection_back_usable(
    named_url: tuple[str, str], kind: str
) -> None:
    url, name = named_url
    table, call = CANCELLED[kind]

    async def main() -> None:
        async with await _open(url) as store:
            user = await store.create_user(User(email="ada@example.com"))
            await store.create_verification_token(
                VerificationToken(identifier="a", token="t", expires=_expiry())
            )
            before = await asyncio.to_thread(_backends, url, name)
            assert len(before) == 1  # pool_max=1: one connection, lent to every call
            with _locked(url, table):
                task = asyncio.create_task(call(store, user))
                # The loop runs on while the call waits in the server.
                await asyncio.to_thread(_wait_until_blocked, url, name)
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
            # Back in the pool, idle, and lent again: the same server process.
            assert await store.get_user(str(user.id)) == user
            assert await asyncio.to_thread(_backends, url, name) == before
            assert (await store.health())["pool"]["size"] == 1
            # Cancelled means not done: the token is still there to be used.
            assert (await store.use_verification_token("a", "t")) is not None

    run(main())


# -- dropped connections ------------------------------------------------------------


def test_a_write_whose_connection_dies_fails_and_the_next_call_works(
    named_url: tuple[str, str],
) -> None:
    url, name = named_url

    async def main() -> None:
        async with await _open(url) as store:
            vt = await store.create_verification_token(
                VerificationToken(identifier="a@example.com", token="t", expires=_expiry())
            )
            with _locked(url, "verification_token"):
                task = asyncio.create_task(store.use_verification_token(vt.identifier, vt.token))
                pid = await asyncio.to_thread(_wait_until_blocked, url, name)
                await asyncio.to_thread(_kill, url, pid)
                with pytest.raises(StorageError) as caught:
                    await task
            assert isinstance(caught.value.__cause__, psycopg.OperationalError)
            # Rolled back with its connection: the token is there, and the next call works.
            assert await store.use_verification_token(vt.identifier, vt.token) == vt

    run(main())


@pytest.mark.parametrize("kind", sorted(READS))
def test_a_read_whose_connection_dies_is_retried_unseen(
    named_url: tuple[str, str], kind: str
) -> None:
    url, name = named_url
    table, call = READS[kind]

    async def main() -> None:
        async with await _open(url) as store:
            user = await store.create_user(User(email="ada@example.com"))
            expected = await call(store, user)
            with _locked(url, table):
                task = asyncio.create_task(call(store, user))
                killed = await asyncio.to_thread(_wait_until_blocked, url, name)
                await asyncio.to_thread(_kill, url, killed)
                retried = await asyncio.to_thread(_wait_until_blocked, url, name)
                assert retried != killed
            assert await task == expected
            assert expected == (user if kind == "lookup" else [])

    run(main())


def test_a_server_restart_is_survived(relay: Relay) -> None:
    async def main(url: str) -> None:
        async with await _open(url) as store:
            user = await store.create_user(User(email="ada@example.com"))
            relay.accepting = False
            relay.drop_all()
            down = await asyncio.gather(
                store.get_user(str(user.id)), store.get_user(str(user.id)), return_exceptions=True
            )
            assert all(isinstance(outcome, StorageError) for outcome in down), down
            relay.accepting = True
            while (await store.health())["pool"]["size"] < 1:
                await asyncio.sleep(0.05)
            after: list[Any] = []
            for _ in range(3):
                after.append(await _outcome(store.get_user(str(user.id))))
            after.append(await _outcome(store.create_user(User(email="bob@example.com"))))
            errors = [o for o in after if o[0] == "error"]
            assert len(errors) <= 1, errors
            assert after[-2] == ("ok", user)
            assert after[-1][0] == "ok"

    with fresh_postgres_url(pool_min=2, pool_max=3, pool_timeout=2, connect_timeout=2) as direct:
        run(main(_through(direct, relay)))


async def _outcome(call: Coroutine[Any, Any, T]) -> tuple[str, Any]:
    try:
        return ("ok", await call)
    except StorageError as exc:
        return ("error", exc)


# -- closing, and many tasks ---------------------------------------------------------------


def test_closing_with_calls_in_flight_neither_hangs_nor_leaks() -> None:
    name = f"auth-store-async-{uuid.uuid4().hex[:10]}"

    async def main(url: str) -> None:
        store = await _open(url)
        user = await store.create_user(User(email="ada@example.com"))
        with _locked(url, "users"):
            calls = [asyncio.create_task(store.get_user(str(user.id))) for _ in range(10)]
            await asyncio.to_thread(_wait_until_blocked, url, name)
            await store.close()  # returns while calls still wait on the lock
            assert not all(call.done() for call in calls)
        outcomes = await asyncio.gather(*calls, return_exceptions=True)
        # Each call either finished (it held a connection) or was refused; none hangs.
        assert all(o == user or isinstance(o, StorageError) for o in outcomes), outcomes
        assert any(isinstance(o, StorageError) for o in outcomes)
        with pytest.raises(StorageError):
            await store.get_user(str(user.id))
        await store.close()  # idempotent
        # Every connection is closed, those that were in use included.
        while await asyncio.to_thread(_backends, url, name):
            await asyncio.sleep(0.05)

    with fresh_postgres_url(application_name=name, pool_min=2, pool_max=4) as url:
        run(main(url))


def test_500_concurrent_tasks_on_one_store_all_succeed() -> None:
    async def main(url: str) -> None:
        async with await _open(url) as store:
            user = await store.create_user(User(email="ada@example.com"))
            tokens = [uuid.uuid4().hex for _ in range(50)]
            for token in tokens:
                await store.create_session(
                    Session(session_token=token, user_id=str(user.id), expires=_expiry())
                )
            found = await asyncio.gather(
                *(store.get_session_and_user(tokens[n % 50]) for n in range(500))
            )
            assert all(f is not None and f[1] == user for f in found)
            assert (await store.health())["pool"]["size"] <= 4

    # 500 tasks on 4 connections: the rest wait their turn, within the pool's timeout.
    with fresh_postgres_url(pool_min=4, pool_max=4, pool_timeout=30) as url:
        run(main(url))


def test_the_better_auth_flavor_has_a_native_twin() -> None:
    async def main(url: str) -> None:
        async with await _open(url) as store:
            assert type(store.sync).__name__ == "_BetterAuthOnTheLoop"
            user = await store.create_user(User(email="ada@example.com"))
            await store.create_session(
                Session(session_token="tok", user_id=str(user.id), expires=_expiry())
            )
            found = await store.get_session_and_user("tok")
            assert found is not None
            assert found[1] == user

    with fresh_postgres_url(flavor="better-auth") as url:
        run(main(url))
