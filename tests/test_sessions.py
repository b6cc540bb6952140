"""Sessions: Auth.js timing, hashed storage, revocation (on a real SQLite file)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

import auth_store
from auth_store import clock
from auth_store.models import Session, User
from auth_store.sessions import SessionManager
from tests.fake_clock import FakeClock


@pytest.fixture
def fake_clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    return FakeClock.install(monkeypatch)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[auth_store.Adapter]:
    with auth_store.connect(f"sqlite:///{tmp_path}/auth.db") as adapter:
        yield adapter


@pytest.fixture
def user(store: auth_store.Adapter) -> User:
    return store.create_user(User(email="ann@example.com"))


@pytest.fixture
def sessions(store: auth_store.Adapter) -> SessionManager:
    return SessionManager(store)


def test_token_is_random_and_long(sessions: SessionManager, user: User) -> None:
    tokens = {sessions.create(user).token for _ in range(20)}
    assert len(tokens) == 20
    for token in tokens:
        # 32 bytes in URL-safe base64 is 43 characters: 256 bits.
        assert len(token) >= 43


def test_token_is_stored_hashed_by_default(
    store: auth_store.Adapter, sessions: SessionManager, user: User
) -> None:
    issued = sessions.create(user)
    assert store.get_session_and_user(issued.token) is None
    digest = hashlib.sha256(issued.token.encode()).hexdigest()
    found = store.get_session_and_user(digest)
    assert found is not None
    assert found[1].id == user.id
    assert issued.token not in repr(issued)


def test_authjs_compat_stores_the_token_as_is(store: auth_store.Adapter, user: User) -> None:
    compat = SessionManager(store, authjs_compat=True)
    issued = compat.create(user)
    assert store.get_session_and_user(issued.token) is not None
    # A session row written by an Auth.js app (plain token) is read too.
    assert user.id is not None
    store.create_session(
        Session(
            session_token="authjs-written-token",
            user_id=user.id,
            expires=clock.now() + timedelta(days=3),
        )
    )
    active = compat.get("authjs-written-token")
    assert active is not None
    assert active.user.email == "ann@example.com"
    # Plain tokens are compared as they are, any text included.
    assert compat.is_current(active.session, "authjs-written-token")
    assert not compat.is_current(active.session, "authjs-written-tøken")
    assert compat.revoke_all(user.id, except_token="authjs-written-token") == 1
    assert compat.get(issued.token) is None
    assert compat.get("authjs-written-token") is not None


def test_expiry_is_thirty_days(fake_clock: FakeClock, sessions: SessionManager, user: User) -> None:
    issued = sessions.create(user)
    assert issued.expires == fake_clock.now + timedelta(days=30)


def test_sliding_expiry_moves_after_update_age(
    fake_clock: FakeClock, sessions: SessionManager, user: User
) -> None:
    issued = sessions.create(user)
    first_expiry = issued.expires

    fake_clock.advance(timedelta(hours=23))
    active = sessions.get(issued.token)
    assert active is not None
    assert not active.refreshed
    assert active.expires == first_expiry

    fake_clock.advance(timedelta(hours=1, seconds=1))
    active = sessions.get(issued.token)
    assert active is not None
    assert active.refreshed
    assert active.expires == fake_clock.now + timedelta(days=30)

    # Right after a refresh the next read does not write again.
    fake_clock.advance(timedelta(minutes=5))
    again = sessions.get(issued.token)
    assert again is not None
    assert not again.refreshed


def test_a_session_used_daily_never_expires(
    fake_clock: FakeClock, sessions: SessionManager, user: User
) -> None:
    issued = sessions.create(user)
    for _ in range(40):
        fake_clock.advance(timedelta(days=2))
        assert sessions.get(issued.token) is not None


def test_expired_session_is_deleted_on_read(
    fake_clock: FakeClock, store: auth_store.Adapter, sessions: SessionManager, user: User
) -> None:
    issued = sessions.create(user)
    fake_clock.advance(timedelta(days=30, seconds=1))
    assert sessions.get(issued.token) is None
    assert store.get_session_and_user(sessions.stored_token(issued.token)) is None
    assert store.counts()["sessions"] == 0


def test_revoke_one(sessions: SessionManager, user: User) -> None:
    first = sessions.create(user)
    second = sessions.create(user)
    assert sessions.revoke(first.token)
    assert sessions.get(first.token) is None
    assert sessions.get(second.token) is not None
    assert not sessions.revoke(first.token)


def test_revoke_all_and_all_but_current(
    store: auth_store.Adapter, sessions: SessionManager, user: User
) -> None:
    other = store.create_user(User(email="bob@example.com"))
    assert user.id is not None
    mine = [sessions.create(user) for _ in range(3)]
    theirs = sessions.create(other)

    assert sessions.revoke_all(user.id, except_token=mine[0].token) == 2
    assert sessions.get(mine[0].token) is not None
    assert sessions.get(mine[1].token) is None
    assert sessions.revoke_all(user.id) == 1
    assert sessions.get(mine[0].token) is None
    assert sessions.get(theirs.token) is not None


def test_list_and_revoke_by_id(
    fake_clock: FakeClock, store: auth_store.Adapter, sessions: SessionManager, user: User
) -> None:
    other = store.create_user(User(email="bob@example.com"))
    assert user.id is not None
    assert other.id is not None
    old = sessions.create(user)
    fake_clock.advance(timedelta(days=29))
    current = sessions.create(user)
    listed = sessions.list(user.id)
    assert [s.id for s in listed] == [old.session.id, current.session.id]
    assert sessions.is_current(listed[1], current.token)
    assert not sessions.is_current(listed[0], current.token)

    # Another user can't revoke my session by its id.
    assert old.session.id is not None
    assert not sessions.revoke_by_id(other.id, old.session.id)
    assert sessions.revoke_by_id(user.id, old.session.id)
    assert sessions.get(old.token) is None
    assert [s.id for s in sessions.list(user.id)] == [current.session.id]

    fake_clock.advance(timedelta(days=31))
    assert sessions.list(user.id) == []


def test_deleting_the_user_ends_the_session(
    store: auth_store.Adapter, sessions: SessionManager, user: User
) -> None:
    issued = sessions.create(user)
    assert user.id is not None
    store.delete_user(user.id)
    assert sessions.get(issued.token) is None


@pytest.mark.parametrize("token", [None, "", "x" * 10_000, "not-a-session"])
def test_garbage_tokens_are_misses(sessions: SessionManager, token: str | None) -> None:
    assert sessions.get(token) is None
    assert not sessions.revoke(token)


def test_bad_timing_configuration_is_refused(store: auth_store.Adapter) -> None:
    with pytest.raises(auth_store.ValidationError):
        SessionManager(store, max_age=timedelta(0))
    with pytest.raises(auth_store.ValidationError):
        SessionManager(store, max_age=timedelta(days=1), update_age=timedelta(days=2))


# -- what a "your sessions" page shows ----------------------------------------------

_SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15"
    " (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
)


def test_a_new_session_records_its_client_and_when_it_started(
    fake_clock: FakeClock, store: auth_store.Adapter, sessions: SessionManager, user: User
) -> None:
    uid = str(user.id)
    issued = sessions.create(user, ip_address="2001:DB8:0:0::1", user_agent=_SAFARI)
    session = issued.session
    assert (session.created_at, session.updated_at) == (fake_clock.now, fake_clock.now)
    assert session.ip_address == "2001:db8::1"  # canonical form
    assert session.user_agent == _SAFARI
    assert sessions.list(uid) == [session]
    found = store.get_session_and_user(sessions.stored_token(issued.token))
    assert found is not None
    assert found[0] == session


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("203.0.113.7", "203.0.113.7"),
        (" 203.0.113.7 ", "203.0.113.7"),
        ("::ffff:203.0.113.7", "203.0.113.7"),  # dual-stack servers report IPv4 like this
        ("fe80::1%eth0", "fe80::1%eth0"),
        ("testclient", None),  # a host name is not an address
        ("203.0.113.7, 10.0.0.1", None),  # a proxy's list: the caller must pick one
        ("", None),
        (None, None),
    ],
)
def test_only_ip_addresses_are_kept(
    sessions: SessionManager, user: User, given: str | None, stored: str | None
) -> None:
    assert sessions.create(user, ip_address=given).session.ip_address == stored


def test_the_user_agent_is_kept_printable_and_bounded(sessions: SessionManager, user: User) -> None:
    odd = sessions.create(user, user_agent="curl/8.5\x00\x1b[31m \ud800")
    assert odd.session.user_agent == "curl/8.5[31m"
    long = sessions.create(user, user_agent="A" * 5000)
    assert long.session.user_agent == "A" * 1024
    assert sessions.create(user, user_agent=" \t ").session.user_agent is None
    assert sessions.create(user).session.user_agent is None


def test_last_seen_costs_a_write_at_most_every_five_minutes(
    fake_clock: FakeClock,
    tmp_path: Path,
    store: auth_store.Adapter,
    sessions: SessionManager,
    user: User,
) -> None:
    import sqlite3

    db_path = tmp_path / "auth.db"
    issued = sessions.create(user, ip_address="192.0.2.1")
    started = fake_clock.now
    stored = sessions.stored_token(issued.token)
    # SQLite's data_version, read on another connection, moves when a write commits.
    with sqlite3.connect(f"{db_path.resolve().as_uri()}?mode=ro", uri=True) as watcher:

        def version() -> int:
            return int(watcher.execute("PRAGMA data_version").fetchone()[0])

        before = version()
        for _ in range(10):  # requests within five minutes: reads only
            fake_clock.advance(timedelta(seconds=29))
            active = sessions.get(issued.token)
            assert active is not None
            assert active.session.updated_at == started
        assert version() == before
        found = store.get_session_and_user(stored)
        assert found is not None
        assert found[0].updated_at == started

        fake_clock.advance(timedelta(seconds=11))  # five minutes since the last write
        active = sessions.get(issued.token)
        assert active is not None
        assert not active.refreshed  # the expiry did not move: no new cookie
        assert active.session.updated_at == fake_clock.now
        assert active.session.expires == issued.expires
        assert version() != before
        found = store.get_session_and_user(stored)
        assert found is not None
        assert found[0] == active.session
        assert (found[0].created_at, found[0].ip_address) == (started, "192.0.2.1")


def test_the_sliding_refresh_also_records_last_seen(
    fake_clock: FakeClock, sessions: SessionManager, user: User
) -> None:
    uid = str(user.id)
    issued = sessions.create(user)
    fake_clock.advance(timedelta(days=1, seconds=1))
    active = sessions.get(issued.token)
    assert active is not None
    assert active.refreshed
    assert active.session.updated_at == fake_clock.now
    assert active.session.expires == fake_clock.now + timedelta(days=30)
    assert sessions.list(uid) == [active.session]


def test_a_session_without_details_gets_last_seen_on_first_read(
    fake_clock: FakeClock, store: auth_store.Adapter, user: User
) -> None:
    # As an Auth.js app (or an older auth-store) writes it: no details at all.
    uid = str(user.id)
    compat = SessionManager(store, authjs_compat=True)
    store.create_session(
        Session(session_token="plain", user_id=uid, expires=clock.now() + timedelta(days=3))
    )
    active = compat.get("plain")
    assert active is not None
    assert active.session.updated_at == fake_clock.now
    assert active.session.created_at is None  # not known, not invented


def test_last_seen_interval_is_configurable(
    fake_clock: FakeClock, store: auth_store.Adapter, user: User
) -> None:
    every_read = SessionManager(store, last_seen_interval=timedelta(0))
    issued = every_read.create(user)
    fake_clock.advance(timedelta(seconds=1))
    active = every_read.get(issued.token)
    assert active is not None
    assert active.session.updated_at == fake_clock.now
    with pytest.raises(auth_store.ValidationError):
        SessionManager(store, last_seen_interval=timedelta(seconds=-1))
