"""The operations a web app runs most, as cases on any ``Adapter``.

Every case cycles through precomputed keys of existing records and checks
that it found what it looked for, so a benchmark of misses cannot pass for
one of hits. Raw baselines build their cases with the same helpers.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from auth_store.adapter import Adapter
from auth_store.models import Session

from . import dataset
from .timing import Budget, Case

__all__ = [
    "LOOKUPS",
    "WRITES",
    "Budgets",
    "adapter_lookups",
    "create_session",
    "cycle",
    "found",
    "use_verification_token",
]

_LOOKUP = Budget(seconds=0.8, min_n=500, max_n=5000, warmup=100, block=10, floor=100)
_WRITE = Budget(seconds=3.0, min_n=300, max_n=1000, warmup=10, block=10, floor=100)
_SLOW = Budget(seconds=4.0, min_n=60, max_n=100, warmup=3, block=3, floor=60)


@dataclass(frozen=True)
class Budgets:
    """Measuring budgets by kind of operation.

    Lookups: many fast calls. Writes: fewer, each may fsync. Slow: tens of
    milliseconds a call (argon2, table scans, opening a big store).
    """

    lookup: Budget = _LOOKUP
    write: Budget = _WRITE
    slow: Budget = _SLOW

    def scaled(self, factor: float) -> Budgets:
        """Every budget scaled by ``factor`` (a quick smoke run uses a small one)."""
        return Budgets(
            self.lookup.scaled(factor), self.write.scaled(factor), self.slow.scaled(factor)
        )


LOOKUPS = ("get_session_and_user", "get_user_by_email", "get_user_by_account", "get_user")
WRITES = ("create_session", "use_verification_token")

T = TypeVar("T")


def cycle(values: list[T]) -> Callable[[], T]:
    """A call returning the values in turn, forever."""
    return itertools.cycle(values).__next__


def found(value: T | None) -> T:
    """``value``, which must not be ``None`` (a benchmark of hits must hit)."""
    if value is None:
        raise AssertionError("a lookup of an existing record missed")
    return value


def adapter_lookups(store: Adapter, impl: str, sample: list[int]) -> dict[str, Case]:
    """The four lookups on ``store``, over the sampled users."""
    tokens = cycle([dataset.session_token(i) for i in sample])
    emails = cycle([dataset.email(i) for i in sample])
    accounts = cycle([dataset.provider_account_id(i) for i in sample])
    ids = cycle([dataset.user_id(i) for i in sample])
    provider = dataset.PROVIDER
    get_session_and_user = store.get_session_and_user
    get_user_by_email = store.get_user_by_email
    get_user_by_account = store.get_user_by_account
    get_user = store.get_user
    return {
        "get_session_and_user": Case(impl, lambda: found(get_session_and_user(tokens()))),
        "get_user_by_email": Case(impl, lambda: found(get_user_by_email(emails()))),
        "get_user_by_account": Case(impl, lambda: found(get_user_by_account(provider, accounts()))),
        "get_user": Case(impl, lambda: found(get_user(ids()))),
    }


def create_session(store: Adapter, impl: str, tag: str, sample: list[int]) -> Case:
    """``create_session`` of a new token for a sampled user, one per call."""
    users = cycle([dataset.user_id(i) for i in sample])
    counter = itertools.count()
    create = store.create_session

    def call() -> object:
        token = f"{tag}-{next(counter)}"
        return create(Session(session_token=token, user_id=users(), expires=dataset.EXPIRES))

    return Case(impl, call)


def use_verification_token(store: Adapter, impl: str, tag: str, count: int) -> Case:
    """``use_verification_token`` of ``count`` tokens created for it beforehand."""
    tokens = dataset.verification_tokens(tag, count)
    for vt in tokens:
        store.create_verification_token(vt)
    keys = iter([(vt.identifier, vt.token) for vt in tokens])
    use = store.use_verification_token

    def call() -> object:
        return found(use(*next(keys)))

    return Case(impl, call)
