"""The lane of idle connections in front of the pool, on a real server (adapters/postgres_lane.py).

Its rules: nothing waits for a connection idling in the lane, a connection
goes back through the pool at the latest ``hold`` seconds after the pool lent
it, a connection given back outside the idle state goes to the pool, a dead
one is never lent, and closing hands everything back.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

import auth_store
from auth_store import Session, StorageError, User
from auth_store.adapters import postgres_lane
from auth_store.adapters.postgres import PostgresAdapter
from tests.pg import fresh_postgres_url


@pytest.fixture
def store() -> Iterator[PostgresAdapter]:
    with fresh_postgres_url(pool_min=1, pool_max=1, pool_timeout=5) as url:
        opened = auth_store.connect(url)
        assert isinstance(opened, PostgresAdapter)
        try:
            yield opened
        finally:
            opened.close()


def _requests(store: PostgresAdapter) -> int:
    """How many times the pool lent a connection."""
    return int(store._pool.get_stats().get("requests_num", 0))


def test_calls_after_the_first_borrow_from_the_lane_not_the_pool(store: PostgresAdapter) -> None:
    user = store.create_user(User(email="ada@example.com"))
    assert store._lane.idle == 1
    before = _requests(store)
    for _ in range(20):
        assert store.get_user(str(user.id)) == user
    assert _requests(store) == before
    assert store._lane.idle == 1


def test_a_caller_waiting_on_the_pool_gets_the_connection_given_back(
    store: PostgresAdapter,
) -> None:
    # pool_max=1: while this thread holds the only connection, another caller
    # waits on the pool; giving it back must reach that caller (not the lane),
    # or it would wait out pool_timeout and fail.
    user = store.create_user(User(email="ada@example.com"))
    lent = store._lane.take()
    outcome: list[object] = []
    waiter = threading.Thread(target=lambda: outcome.append(store.get_user(str(user.id))))
    waiter.start()
    while not store._lane._waiting:
        waiter.join(0.01)
    store._lane.give_back(lent)
    waiter.join(30)
    assert outcome == [user]
    assert store._lane.idle == 1  # and the waiter's call kept it in the lane after


def test_many_threads_share_one_connection_without_a_timeout(store: PostgresAdapter) -> None:
    users = [store.create_user(User(email=f"u{n}@example.com")) for n in range(8)]
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for _ in range(50):
                assert store.get_user(str(users[n].id)) == users[n]
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert store._pool.get_stats()["pool_size"] == 1


def test_a_connection_goes_back_through_the_pool_after_hold_seconds(
    store: PostgresAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = store.create_user(User(email="ada@example.com"))
    now = [time.monotonic()]
    monkeypatch.setattr(postgres_lane, "monotonic", lambda: now[0])
    store.get_user(str(user.id))
    before = _requests(store)
    store.get_user(str(user.id))
    assert _requests(store) == before  # within hold: from the lane
    now[0] += 1.5  # past the lane's hold (1 s)
    assert store.get_user(str(user.id)) == user
    assert _requests(store) == before + 1  # through the pool's housekeeping
    assert store.get_user(str(user.id)) == user
    assert _requests(store) == before + 1  # and in the lane again


def test_a_connection_given_back_in_a_transaction_goes_to_the_pool(
    store: PostgresAdapter,
) -> None:
    lent = store._lane.take()
    lent.conn.execute("BEGIN")
    lent.conn.execute("CREATE TEMP TABLE left_open (n int)")
    store._lane.give_back(lent)
    assert store._lane.idle == 0
    # The pool rolled it back: the next call works and sees no half transaction.
    with store._lease() as conn:
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        assert conn.execute("SELECT to_regclass('pg_temp.left_open')").fetchone() == (None,)


def test_an_idle_connection_killed_in_the_lane_is_not_lent(store: PostgresAdapter) -> None:
    user = store.create_user(User(email="ada@example.com"))
    expires = datetime.now(UTC) + timedelta(days=1)
    store.create_session(Session(session_token="tok", user_id=str(user.id), expires=expires))
    assert store._lane.idle == 1
    pid = store._lane._idle[-1].conn.info.backend_pid
    with psycopg.connect(store._conninfo, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        # Wait until the server has closed it (its socket turns readable).
        while admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone():
            pass
    # A write is not retried: it only works if the dead connection was never lent.
    assert store.update_session("tok", user_agent="after") is not None
    found = store.get_session_and_user("tok")
    assert found is not None
    assert found[0].user_agent == "after"
    with store._lease() as conn:
        assert conn.info.backend_pid != pid


def test_health_counts_the_lanes_idle_connections_as_available(store: PostgresAdapter) -> None:
    store.create_user(User(email="ada@example.com"))
    assert store._lane.idle == 1
    pool = store.health()["pool"]
    assert pool["size"] == 1
    assert pool["available"] == 1


def test_closing_hands_the_lane_back_and_later_calls_fail_cleanly(store: PostgresAdapter) -> None:
    user = store.create_user(User(email="ada@example.com"))
    assert store._lane.idle == 1
    store.close()
    assert store._lane.idle == 0
    with pytest.raises(StorageError, match="closed"):
        store.get_user(str(user.id))


def test_an_import_replaces_the_connections_it_used(store: PostgresAdapter) -> None:
    # A server process that ran a bulk import answers prepared lookups slower
    # afterwards (measured, docs/benchmarks.md): the store moves on to new ones.
    store.create_user(User(email="ada@example.com"))
    with store._lease() as conn:
        before = conn.info.backend_pid
    store.import_records([User(email=f"u{n}@example.com") for n in range(5)])
    with store._lease() as conn:
        after = conn.info.backend_pid
    assert after != before
    assert store.get_user_by_email("u4@example.com") is not None
