"""Attempt limits: growing delays, lockout, the 100-failure ceiling, reset, shared state."""

from __future__ import annotations

import pickle
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

import auth_store
from auth_store import AuthStoreError, TooManyAttemptsError, User, ValidationError
from auth_store.adapter import Adapter
from auth_store.attempts import NIST_MAX_FAILURES, AttemptLimiter, AttemptStatus
from auth_store.testing import stores
from tests.fake_clock import FakeClock


@pytest.fixture
def fake_clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    return FakeClock.install(monkeypatch, datetime(2030, 1, 1, tzinfo=UTC))


@pytest.fixture(params=stores.backend_params())
def store_and_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Adapter, str]]:
    with stores.fresh_store(request.param, tmp_path) as opened:
        yield opened


@pytest.fixture
def store(store_and_url: tuple[Adapter, str]) -> Adapter:
    return store_and_url[0]


@pytest.fixture
def user_id(store: Adapter) -> str:
    user = store.create_user(User(email="ann@example.com"))
    assert user.id is not None
    return user.id


def fail(limiter: AttemptLimiter, user_id: str, times: int, kind: str = "password") -> None:
    for _ in range(times):
        limiter.begin(user_id, kind)


def test_default_schedule(store: Adapter) -> None:
    limiter = AttemptLimiter(store)
    assert [limiter.delay_after(n) for n in range(5)] == [0, 0, 0, 0, 0]
    assert [limiter.delay_after(n) for n in range(5, 10)] == [1, 2, 4, 8, 16]
    assert limiter.delay_after(10) == 15 * 60
    assert limiter.delay_after(99) == 15 * 60
    assert limiter.delay_after(100) is None
    assert limiter.max_failures == NIST_MAX_FAILURES == 100


@pytest.mark.parametrize(
    "options",
    [
        {"max_failures": 101},
        {"max_failures": 0, "lockout_after": 0, "free_failures": 0},
        {"free_failures": 11},
        {"lockout_after": 101},
        {"base_delay": -1},
    ],
)
def test_limits_past_nist_or_inconsistent_are_refused(
    store: Adapter, options: dict[str, int]
) -> None:
    with pytest.raises(ValidationError):
        AttemptLimiter(store, **options)


def test_delays_grow_then_lock(store: Adapter, user_id: str, fake_clock: FakeClock) -> None:
    limiter = AttemptLimiter(store)
    fail(limiter, user_id, 5)
    assert limiter.status(user_id, "password") == AttemptStatus(failures=5, retry_after=1)
    with pytest.raises(TooManyAttemptsError) as info:
        limiter.begin(user_id, "password")
    assert info.value.retry_after == 1
    assert limiter.status(user_id, "password").failures == 5  # a refused try is not counted
    for expected in (1, 2, 4, 8, 16):
        fake_clock.advance(expected - 0.5)
        with pytest.raises(TooManyAttemptsError):
            limiter.check(user_id, "password")
        fake_clock.advance(0.5)
        limiter.begin(user_id, "password")
    assert limiter.status(user_id, "password") == AttemptStatus(failures=10, retry_after=900)
    fake_clock.advance(899)
    with pytest.raises(TooManyAttemptsError) as info:
        limiter.begin(user_id, "password")
    assert info.value.retry_after == 1


def test_success_resets_and_kinds_and_users_are_separate(
    store: Adapter, user_id: str, fake_clock: FakeClock
) -> None:
    bob = store.create_user(User(email="bob@example.com")).id
    assert bob is not None
    limiter = AttemptLimiter(store)
    fail(limiter, user_id, 5)
    assert limiter.status(user_id, "totp").allowed
    assert limiter.status(bob, "password").allowed
    limiter.begin(user_id, "totp")
    fake_clock.advance(1)
    limiter.begin(user_id, "password")
    limiter.record_success(user_id, "password")
    assert limiter.status(user_id, "password") == AttemptStatus(failures=0, retry_after=0)
    assert limiter.status(user_id, "totp").failures == 1
    assert limiter.reset(user_id) == 1
    assert limiter.status(user_id, "totp").failures == 0


def test_record_failure_counts_without_checking(store: Adapter, user_id: str) -> None:
    limiter = AttemptLimiter(store, free_failures=1, lockout_after=1, max_failures=2)
    assert limiter.record_failure(user_id, "password") == 1
    assert limiter.record_failure(user_id, "password") == 2
    with pytest.raises(TooManyAttemptsError) as info:
        limiter.check(user_id, "password")
    assert info.value.retry_after is None


def test_never_more_than_100_consecutive_failures(
    store: Adapter, user_id: str, fake_clock: FakeClock
) -> None:
    limiter = AttemptLimiter(store)
    allowed = 0
    for _ in range(130):
        try:
            limiter.begin(user_id, "password")
            allowed += 1
        except TooManyAttemptsError:
            pass
        fake_clock.advance(15 * 60)  # wait out every delay and lockout
    assert allowed == 100
    fake_clock.advance(365 * 24 * 3600)
    with pytest.raises(TooManyAttemptsError) as info:
        limiter.begin(user_id, "password")
    assert info.value.retry_after is None
    assert "reset" in str(info.value)
    assert limiter.reset(user_id, "password") == 1
    limiter.begin(user_id, "password")


def test_concurrent_attempts_cannot_pass_the_ceiling(store: Adapter, user_id: str) -> None:
    # No delays, only the ceiling: 16 threads racing get exactly max_failures tries.
    limiter = AttemptLimiter(store, free_failures=30, lockout_after=30, max_failures=30)
    allowed: list[int] = []
    barrier = threading.Barrier(16)

    def worker() -> None:
        barrier.wait()
        for _ in range(5):
            try:
                limiter.begin(user_id, "password")
                allowed.append(1)
            except TooManyAttemptsError:
                pass

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(allowed) == 30
    assert limiter.status(user_id, "password").failures == 30


def test_the_count_is_kept_in_the_store(store_and_url: tuple[Adapter, str], user_id: str) -> None:
    store, url = store_and_url
    AttemptLimiter(store).record_failure(user_id, "password")
    (credential,) = store.list_credentials(user_id, "attempts")
    assert credential.data["failures"] == 1
    assert credential.data["kind"] == "password"
    if not url.startswith("memory:"):
        with auth_store.connect(url) as other:  # another handle, as another process would
            assert AttemptLimiter(other).status(user_id, "password").failures == 1


def test_unknown_users_are_not_counted(store: Adapter) -> None:
    limiter = AttemptLimiter(store)
    limiter.begin("nobody", "password")
    assert limiter.record_failure("nobody", "password") == 0
    assert limiter.status("nobody", "password").failures == 0


def test_the_error_is_public_and_pickles() -> None:
    error = TooManyAttemptsError("wait", retry_after=5)
    assert isinstance(error, AuthStoreError)
    assert TooManyAttemptsError.__module__ == "auth_store"
    assert auth_store.TooManyAttemptsError is TooManyAttemptsError
    copy = pickle.loads(pickle.dumps(error))
    assert copy.retry_after == 5
    assert str(copy) == "wait"
