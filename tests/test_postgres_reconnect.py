"""Dropped connections: the pool recovers on the next call, a caller sees at most one
``StorageError``, and nothing hangs.

Connections are really dropped: by ``pg_terminate_backend`` from another
connection (what an operator or a failover does), and by a TCP relay in
front of the server that cuts every connection and refuses new ones for a
while (what a server restart looks like from the client). Every test has a
hard timeout (pytest-timeout), so a hang fails it; no assertion depends on how
fast the machine is: the pool's own messages say which of its waits ran out.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

import auth_store
from auth_store import Session, StorageError, User, VerificationToken
from auth_store.adapters.postgres import PostgresAdapter
from tests.pg import admin_connection, fresh_postgres_url, require_postgres, schema_of

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(120)]


def _backends(url: str, name: str) -> set[int]:
    with admin_connection(url) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (name,)
        ).fetchall()
    return {int(pid) for (pid,) in rows}


def _terminate(url: str, name: str) -> set[int]:
    """Kill every server process serving ``name``; wait until they are gone."""
    pids = _backends(url, name)  # chosen first: only ever these processes are signalled
    with admin_connection(url) as conn:
        for pid in pids:
            conn.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))
    return pids


def _outcome(call: Callable[[], Any]) -> tuple[str, Any]:
    """("ok", result) or ("error", exc) of one call."""
    try:
        return ("ok", call())
    except StorageError as exc:
        return ("error", exc)


def _operations(store: PostgresAdapter, user: User) -> dict[str, Callable[[], Any]]:
    uid = str(user.id)
    token = uuid.uuid4().hex
    expires = datetime.now(UTC) + timedelta(days=1)
    store.create_session(Session(session_token=token, user_id=uid, expires=expires))
    return {
        "get_session_and_user": lambda: store.get_session_and_user(token),
        "get_user_by_email": lambda: store.get_user_by_email(user.email),
        "create_user": lambda: store.create_user(User(email=f"{uuid.uuid4().hex}@example.com")),
        "use_verification_token": lambda: store.use_verification_token(*_token(store, expires)),
        "counts": store.counts,
    }


def _token(store: PostgresAdapter, expires: datetime) -> tuple[str, str]:
    vt = VerificationToken(identifier="a@example.com", token=uuid.uuid4().hex, expires=expires)
    store.create_verification_token(vt)
    return vt.identifier, vt.token


@pytest.fixture(params=["auto", "always"])
def named_store(request: pytest.FixtureRequest) -> Iterator[tuple[PostgresAdapter, str, str]]:
    """A store whose connections carry a unique application_name: (store, url, that name)."""
    name = f"auth-store-reconnect-{uuid.uuid4().hex[:10]}"
    with fresh_postgres_url(
        application_name=name,
        pool_min=3,
        pool_max=4,
        pool_timeout=5,
        connect_timeout=3,
        pool_check=request.param,
    ) as url:
        store = auth_store.connect(url)
        assert isinstance(store, PostgresAdapter)
        try:
            store._pool.wait(10)
            yield store, url, name
        finally:
            store.close()


OPERATIONS = [
    "get_session_and_user",
    "get_user_by_email",
    "create_user",
    "use_verification_token",
    "counts",
]


@pytest.mark.parametrize("operation", OPERATIONS)
def test_killed_idle_connections_are_replaced_before_use(
    named_store: tuple[PostgresAdapter, str, str], operation: str
) -> None:
    # Stricter than the promise (at most one StorageError): a connection killed
    # while idle is caught by the pool's check and never reaches a caller.
    store, url, name = named_store
    user = store.create_user(User(email="ada@example.com"))
    call = _operations(store, user)[operation]
    assert _outcome(call)[0] == "ok"
    killed = _terminate(url, name)
    assert len(killed) >= 3  # the whole pool
    outcomes = [_outcome(call) for _ in range(6)]
    assert [kind for kind, _ in outcomes] == ["ok"] * 6, outcomes
    assert not _backends(url, name) & killed  # served by new connections
    assert store.get_user(str(user.id)) == user


@contextlib.contextmanager
def _locked(url: str, table: str) -> Iterator[None]:
    """Hold an ACCESS EXCLUSIVE lock on a table of the store's schema (reads wait too)."""
    with admin_connection(url) as locker, locker.transaction():
        name = sql.Identifier(schema_of(url), table)
        locker.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(name))
        yield


def _wait_until_blocked(url: str, name: str) -> int:
    """The server process of the store's call that waits on a lock, once there is one."""
    while True:
        with admin_connection(url) as conn:
            row = conn.execute(
                "SELECT pid FROM pg_stat_activity"
                " WHERE application_name = %s AND wait_event_type = 'Lock'",
                (name,),
            ).fetchone()
        if row:
            return int(row[0])
        time.sleep(0.02)


def _kill(url: str, pid: int) -> None:
    with admin_connection(url) as conn:
        conn.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))


def _in_thread(call: Callable[[], Any], outcome: list[tuple[str, Any]]) -> threading.Thread:
    thread = threading.Thread(target=lambda: outcome.append(_outcome(call)))
    thread.start()
    return thread


def test_a_read_killed_mid_call_is_retried_unseen(
    named_store: tuple[PostgresAdapter, str, str],
) -> None:
    store, url, name = named_store
    user = store.create_user(User(email="ada@example.com"))
    outcome: list[tuple[str, Any]] = []
    with _locked(url, "users"):
        reader = _in_thread(lambda: store.get_user(str(user.id)), outcome)
        killed = _wait_until_blocked(url, name)
        _kill(url, killed)
        retried = _wait_until_blocked(url, name)  # on another connection, waiting again
        assert retried != killed
    reader.join()
    assert outcome == [("ok", user)]


def test_a_write_killed_mid_call_fails_that_call_only(
    named_store: tuple[PostgresAdapter, str, str],
) -> None:
    store, url, name = named_store
    vt = store.create_verification_token(
        VerificationToken(identifier="a@example.com", token="t", expires=datetime.now(UTC))
    )
    outcome: list[tuple[str, Any]] = []
    with _locked(url, "verification_token"):
        writer = _in_thread(lambda: store.use_verification_token(vt.identifier, vt.token), outcome)
        _kill(url, _wait_until_blocked(url, name))
        writer.join()
    [(kind, error)] = outcome
    assert kind == "error"
    assert isinstance(error.__cause__, psycopg.OperationalError)
    # The killed transaction rolled back: the token is still there, and the next call works.
    assert _outcome(lambda: store.use_verification_token(vt.identifier, vt.token)) == ("ok", vt)


# -- a server restart, seen through a TCP relay ----------------------------------------


class Relay:
    """A TCP relay to the Postgres server that can drop everything, like a restart."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.pairs: list[tuple[socket.socket, socket.socket]] = []
        self.lock = threading.Lock()
        self.accepting = True
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.accepting:
                client.close()  # down: refuse, as a restarting server does
                continue
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.pairs.append((client, server))
            for src, dst in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def drop_all(self) -> None:
        """Cut every relayed connection at once (no goodbye from the server)."""
        with self.lock:
            pairs, self.pairs = self.pairs, []
        for pair in pairs:
            for sock in pair:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def close(self) -> None:
        self.accepting = False
        self.listener.close()
        self.drop_all()


@pytest.fixture
def relay() -> Iterator[Relay]:
    server = urlsplit(require_postgres())
    relay = Relay(server.hostname or "127.0.0.1", server.port or 5432)
    try:
        yield relay
    finally:
        relay.close()


def _through(url: str, relay: Relay) -> str:
    """``url`` with the relay as its host."""
    parts = urlsplit(url)
    credentials, _, _ = parts.netloc.rpartition("@")
    host = f"127.0.0.1:{relay.port}"
    return urlunsplit(parts._replace(netloc=f"{credentials}@{host}" if credentials else host))


def test_a_server_restart_is_survived(relay: Relay) -> None:
    with (
        fresh_postgres_url(pool_min=2, pool_max=3, pool_timeout=2, connect_timeout=2) as direct,
        auth_store.connect(_through(direct, relay)) as store,
    ):
        assert isinstance(store, PostgresAdapter)
        user = store.create_user(User(email="ada@example.com"))
        # Down: every connection cut, new ones refused. Calls fail after the
        # pool's 2 s wait (not its 30 s reconnect timeout, nor never).
        relay.accepting = False
        relay.drop_all()
        down = [_outcome(lambda: store.get_user(str(user.id))) for _ in range(2)]
        assert [kind for kind, _ in down] == ["error", "error"]
        for _, error in down:
            assert "couldn't get a connection after 2.00 sec" in str(error)
        # Back up: from the next call on, everything works.
        relay.accepting = True
        while store._pool.get_stats()["pool_size"] < 1:
            time.sleep(0.05)
        after = [_outcome(lambda: store.get_user(str(user.id))) for _ in range(3)]
        after.append(_outcome(lambda: store.create_user(User(email="bob@example.com"))))
        errors = [o for o in after if o[0] == "error"]
        assert len(errors) <= 1, errors
        assert after[-2] == ("ok", user)
        assert after[-1][0] == "ok"
