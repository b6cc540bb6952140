"""Counting password-hash work, to show that two paths do the same work.

"The same time whether or not an account exists" is measured in
``benchmarks/`` (timing assertions have no place in tests). What a test can
assert is its cause: both paths run the same argon2 computations, with the
same parameters. The ``hash_work`` fixture records every computation argon2
runs (through argon2-cffi's low-level API, which libpass calls), so a dummy
verification that skipped the work could not pass for one::

    from tests.hash_work import hash_work  # noqa: F401  (a fixture)

    def test_x(hash_work: HashWork) -> None:
        do_something()
        assert hash_work.take() == [("verify", "m=19456,t=2,p=1")]
"""

from __future__ import annotations

import re
import threading
from typing import Any

import argon2.low_level
import pytest

__all__ = ["HashWork", "hash_work"]

_PARAMS = re.compile(rb"\$(m=\d+,t=\d+,p=\d+)\$")


class HashWork:
    """The argon2 computations run so far: ("hash" | "verify", "m=...,t=...,p=...")."""

    def __init__(self) -> None:
        self._calls: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def record(self, kind: str, params: str) -> None:
        with self._lock:
            self._calls.append((kind, params))

    def take(self) -> list[tuple[str, str]]:
        """The computations since the last ``take`` (and forget them)."""
        with self._lock:
            calls, self._calls = self._calls, []
        return calls


@pytest.fixture
def hash_work(monkeypatch: pytest.MonkeyPatch) -> HashWork:
    """Record every argon2 hash and verification for the rest of the test."""
    work = HashWork()
    real_verify = argon2.low_level.verify_secret
    real_hash = argon2.low_level.hash_secret

    def verify_secret(hash: bytes, secret: bytes, type: Any) -> Any:
        found = _PARAMS.search(hash)
        work.record("verify", found.group(1).decode() if found else "?")
        return real_verify(hash, secret, type)

    def hash_secret(**kwargs: Any) -> Any:
        params = f"m={kwargs['memory_cost']},t={kwargs['time_cost']},p={kwargs['parallelism']}"
        work.record("hash", params)
        return real_hash(**kwargs)

    monkeypatch.setattr(argon2.low_level, "verify_secret", verify_secret)
    monkeypatch.setattr(argon2.low_level, "hash_secret", hash_secret)
    return work
