"""Attempt limits: consecutive failed checks per (user, kind), growing delays, lockout.

The count lives in a credential of type ``attempts`` (one per user and kind,
``{"kind": ..., "failures": n, "last_failure": ISO time}``), so every process
sharing the store sees it. ``begin`` counts an attempt as failed *before* the
check runs and ``record_success`` clears the count, so concurrent guesses cannot
slip past the limit between a check and its bookkeeping.

Defaults (``AttemptLimiter()``), with n the consecutive failures so far:

- n < 5: no delay;
- 5 <= n < 10: wait 1, 2, 4, 8, 16 seconds after the last failure;
- 10 <= n < 100: locked for 15 minutes after each failure;
- n >= 100: locked until ``reset`` (NIST 800-63B allows at most 100).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from . import clock
from ._slots import change_slot, slot_id
from ._twins import Steps, StoreT, Twin, twin
from .adapter import Adapter
from .errors import NotFoundError, TooManyAttemptsError, ValidationError
from .models import Credential
from .records import dump_datetime, load_datetime
from .validation import validate_id

__all__ = [
    "CREDENTIAL_TYPE",
    "NIST_MAX_FAILURES",
    "AttemptLimiter",
    "AttemptLimiterCore",
    "AttemptStatus",
]

CREDENTIAL_TYPE = "attempts"
#: NIST SP 800-63B 5.2.2: no more than 100 consecutive failed attempts on one account.
NIST_MAX_FAILURES = 100


@dataclass(frozen=True)
class AttemptStatus:
    """Where a (user, kind) stands: ``failures`` so far and seconds until the next try.

    ``retry_after`` is 0 when a try is allowed now and ``None`` when the
    account is locked until ``reset``.
    """

    failures: int
    retry_after: int | None

    @property
    def allowed(self) -> bool:
        """Whether a check may run now."""
        return self.retry_after == 0


class AttemptLimiterCore(Twin[StoreT]):
    """Throttle consecutive failures of one kind of check (password, totp, backup_code).

    Parameters (defaults in the module docstring): ``free_failures`` failures
    cost nothing; then each failure doubles a delay starting at ``base_delay``
    seconds, until ``lockout_after`` failures, from where each failure locks
    for ``lockout_seconds``; at ``max_failures`` (at most 100) the lock holds
    until ``reset``.
    """

    def __init__(
        self,
        adapter: StoreT,
        *,
        free_failures: int = 5,
        base_delay: int = 1,
        lockout_after: int = 10,
        lockout_seconds: int = 15 * 60,
        max_failures: int = NIST_MAX_FAILURES,
    ) -> None:
        if not 0 <= free_failures <= lockout_after <= max_failures <= NIST_MAX_FAILURES:
            raise ValidationError(
                "attempt limits need 0 <= free_failures <= lockout_after <= max_failures <= 100"
            )
        if max_failures < 1 or base_delay < 0 or lockout_seconds < 0:
            raise ValidationError("attempt limits need max_failures >= 1 and delays >= 0")
        super().__init__(adapter)
        self.free_failures = free_failures
        self.base_delay = base_delay
        self.lockout_after = lockout_after
        self.lockout_seconds = lockout_seconds
        self.max_failures = max_failures

    def delay_after(self, failures: int) -> int | None:
        """Seconds to wait after the last of ``failures`` failures; ``None`` = until reset."""
        if failures >= self.max_failures:
            return None
        if failures >= self.lockout_after:
            return self.lockout_seconds
        if failures >= self.free_failures:
            return min(self.base_delay << (failures - self.free_failures), self.lockout_seconds)
        return 0

    @twin
    def status(self, user_id: str, kind: str) -> Steps[AttemptStatus]:
        """The current failures and wait of a user for one kind of check."""
        return self._status(
            (yield from self._store(Adapter.get_credential, self._id(user_id, kind)))
        )

    @twin
    def check(self, user_id: str, kind: str) -> Steps[None]:
        """Raise ``TooManyAttemptsError`` if a check may not run now (counts nothing)."""
        self._raise_if_blocked((yield from self.status.steps(user_id, kind)))

    @twin
    def begin(self, user_id: str, kind: str) -> Steps[None]:
        """Start a check: raise ``TooManyAttemptsError`` if blocked, else count it as failed.

        Call ``record_success`` when the check passes. Counting first is what keeps
        concurrent attempts within the limits. A user that does not exist is
        not counted (there is nowhere to keep the count).
        """

        def count(current: Credential | None) -> dict[str, Any]:
            status = self._status(current)
            self._raise_if_blocked(status)
            return self._data(kind, status.failures + 1)

        yield from self._change(user_id, kind, count)

    @twin
    def record_failure(self, user_id: str, kind: str) -> Steps[int]:
        """Count one failure without checking limits; return the consecutive failures."""
        result = yield from self._change(
            user_id, kind, lambda current: self._data(kind, self._status(current).failures + 1)
        )
        return 0 if result is None else self._status(result).failures

    @twin
    def record_success(self, user_id: str, kind: str) -> Steps[None]:
        """A check passed: clear the count of this kind."""
        yield from self._store(Adapter.delete_credential, self._id(user_id, kind))

    @twin
    def reset(self, user_id: str, kind: str | None = None) -> Steps[int]:
        """Clear the count of one kind, or of every kind; return how many counts were cleared.

        The way out of a lock at ``max_failures`` (an administrator, or a
        password reset by e-mail).
        """
        validate_id(user_id, "user_id")
        if kind is not None:
            removed = yield from self._store(Adapter.delete_credential, self._id(user_id, kind))
            return int(removed is not None)
        cleared = 0
        for credential in (
            yield from self._store(Adapter.list_credentials, user_id, CREDENTIAL_TYPE)
        ):
            if (
                credential.id
                and (yield from self._store(Adapter.delete_credential, credential.id)) is not None
            ):
                cleared += 1
        return cleared

    # -- internals -----------------------------------------------------------

    @staticmethod
    def _id(user_id: str, kind: str) -> str:
        validate_id(user_id, "user_id")
        validate_id(kind, "kind")
        return slot_id(CREDENTIAL_TYPE, user_id, kind)

    @staticmethod
    def _data(kind: str, failures: int) -> dict[str, Any]:
        return {"kind": kind, "failures": failures, "last_failure": dump_datetime(clock.now())}

    def _change(
        self, user_id: str, kind: str, change: Callable[[Credential | None], dict[str, Any] | None]
    ) -> Steps[Credential | None]:
        try:
            return (
                yield from change_slot(
                    self.adapter,
                    user_id=user_id,
                    type=CREDENTIAL_TYPE,
                    id=self._id(user_id, kind),
                    change=change,
                )
            )
        except NotFoundError:
            return None

    def _status(self, credential: Credential | None) -> AttemptStatus:
        if credential is None:
            return AttemptStatus(failures=0, retry_after=0)
        failures = credential.data.get("failures")
        last = credential.data.get("last_failure")
        if not isinstance(failures, int) or failures < 0:
            failures = self.max_failures  # an unreadable count fails closed
        delay = self.delay_after(failures)
        if delay is None:
            return AttemptStatus(failures=failures, retry_after=None)
        if delay == 0:
            return AttemptStatus(failures=failures, retry_after=0)
        try:
            last_at: datetime = load_datetime(last) if isinstance(last, str) else clock.now()
        except ValidationError:
            last_at = clock.now()
        remaining = (last_at + timedelta(seconds=delay) - clock.now()).total_seconds()
        return AttemptStatus(failures=failures, retry_after=max(0, math.ceil(remaining)))

    @staticmethod
    def _raise_if_blocked(status: AttemptStatus) -> None:
        if status.retry_after is None:
            raise TooManyAttemptsError(
                f"locked after {status.failures} failed attempts; a reset is needed",
                retry_after=None,
            )
        if status.retry_after > 0:
            raise TooManyAttemptsError(
                f"too many failed attempts; try again in {status.retry_after} s",
                retry_after=status.retry_after,
            )


class AttemptLimiter(AttemptLimiterCore[Adapter]):
    """Attempt limits on a sync store (``auth_store.aio.AttemptLimiter`` is the async twin)."""
