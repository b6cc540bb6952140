"""The conformance suite on the memory backend (the reference)."""

from __future__ import annotations

from pathlib import Path

from auth_store.adapter import Adapter
from auth_store.testing import AdapterConformance, RawStorage
from auth_store.testing.raw import MemoryRaw


class TestMemory(AdapterConformance):
    multiprocess = False

    def new_url(self, tmp_path: Path) -> str:
        return "memory://"

    def raw(self, adapter: Adapter, url: str) -> RawStorage:
        return MemoryRaw(adapter)


def test_purge_follows_updated_expiries_and_reassigned_sessions() -> None:
    from datetime import UTC, datetime, timedelta

    from auth_store import Session, User
    from auth_store.adapters.memory import MemoryAdapter

    now = datetime.now(UTC)
    store = MemoryAdapter()
    ada = store.create_user(User(email="ada@example.com"))
    bob = store.create_user(User(email="bob@example.com"))
    assert ada.id is not None
    assert bob.id is not None
    for n in range(3000):
        store.create_session(
            Session(session_token=f"t{n}", user_id=ada.id, expires=now - timedelta(seconds=1))
        )
        # Extended past the cutoff: the heap entry of the old expiry must not purge it.
        store.update_session(f"t{n}", expires=now + timedelta(days=1))
    store.update_session("t0", expires=now - timedelta(days=2))  # shortened again
    store.update_session("t1", user_id=bob.id)
    assert store.purge_expired(now) == {"sessions": 1, "verification_tokens": 0}
    assert store.get_session_and_user("t0") is None
    assert [s.session_token for s in store.list_sessions(bob.id)] == ["t1"]
    assert len(store.list_sessions(ada.id)) == 2998
    assert store.delete_user(ada.id) is not None
    assert store.counts()["sessions"] == 1
    assert store.purge_expired(now + timedelta(days=2)) == {"sessions": 1, "verification_tokens": 0}
    assert store.counts()["sessions"] == 0
