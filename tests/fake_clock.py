"""A clock the tests move by hand, installed where auth-store reads the time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from auth_store import clock

#: Where a fake clock starts unless told otherwise.
DEFAULT_START = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


class FakeClock:
    """Stands in for ``auth_store.clock.now``; ``now`` is the time it reports."""

    def __init__(self, start: datetime = DEFAULT_START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta | float) -> None:
        """Move the clock forward by a ``timedelta`` or a number of seconds."""
        self.now += delta if isinstance(delta, timedelta) else timedelta(seconds=delta)

    @classmethod
    def install(cls, monkeypatch: pytest.MonkeyPatch, start: datetime = DEFAULT_START) -> FakeClock:
        """A fake clock that ``auth_store.clock.now`` returns until the test ends."""
        fake = cls(start)
        monkeypatch.setattr(clock, "now", fake)
        return fake
