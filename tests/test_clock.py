"""Every read of the time goes through ``auth_store.clock``: a moved clock moves every stamp."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from auth_store.adapter import Adapter
from auth_store.models import Credential, User
from auth_store.testing import stores
from tests.fake_clock import FakeClock

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(params=stores.backend_params())
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Adapter]:
    with stores.fresh_store(request.param, tmp_path) as (adapter, _url):
        yield adapter


def test_credential_stamps_follow_a_moved_clock(
    store: Adapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeClock.install(monkeypatch)
    user = store.create_user(User(email="ann@example.com"))
    created = store.create_credential(Credential(user_id=user.id, type="password", data={}))
    assert created.created_at == created.updated_at == fake.now
    fake.advance(timedelta(hours=2))
    updated = store.update_credential(created.id, {"n": 1}, expected_version=1)
    assert updated is not None
    assert updated.created_at == fake.now - timedelta(hours=2)
    assert updated.updated_at == fake.now
    stored = store.get_credential(created.id)
    assert stored is not None
    assert stored.updated_at == fake.now


def test_purge_expired_uses_the_moved_clock(
    store: Adapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    from auth_store.models import Session

    fake = FakeClock.install(monkeypatch)
    user = store.create_user(User(email="bo@example.com"))
    # Expired only in the fake clock's future (2030), not by the machine's time.
    store.create_session(
        Session(session_token="t", user_id=user.id, expires=fake.now - timedelta(minutes=1))
    )
    assert store.purge_expired()["sessions"] == 1


def test_nothing_but_the_clock_reads_the_time() -> None:
    """No module of the package or its backends calls ``datetime.now`` or binds ``now``."""
    pattern = re.compile(r"datetime\.now\(|datetime\.utcnow\(|time\.time\(|from [\w.]*clock import")
    offenders = []
    for folder in ("auth_store", "adapters"):
        for path in (ROOT / folder).rglob("*.py"):
            if path.name == "clock.py" or ".venv" in path.parts:
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if pattern.search(line):
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []
