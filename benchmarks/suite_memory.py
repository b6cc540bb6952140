"""The memory backend: the reference, measured alone (there is nothing rawer to compare)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from auth_store import validation
from auth_store.adapters.memory import MemoryAdapter

from . import dataset, ops
from .core import Entry, Group, Row

__all__ = ["MemorySuite"]

IMPL = "memory"


class MemorySuite:
    """``MemoryAdapter`` grown in place from size to size."""

    name = "memory"

    def __init__(self, budgets: ops.Budgets) -> None:
        self.budgets = budgets
        self.notes: list[str] = []
        self.versions: dict[str, str] = {}
        self.store = MemoryAdapter()
        self._size = 0

    def sizes(self, requested: Sequence[int]) -> list[int]:
        return list(requested)

    def grow(self, size: int) -> None:
        # The reference backend checks account and session ids for uniqueness
        # by a scan (linear per insert), so filling 100k users through
        # import_records would take hours. Its dictionaries are filled with
        # exactly what its create_* methods would store instead.
        store = self.store
        for i in range(self._size, size):
            user = validation.prepare_user(dataset.user(i))
            account = validation.prepare_account(dataset.account(i))
            session = validation.prepare_session(dataset.session(i))
            store._users[user.id] = user
            store._user_by_email[user.email] = user.id
            store._accounts[(account.provider, account.provider_account_id)] = account
            store._sessions[session.session_token] = session
        self._size = max(size, self._size)
        if store.counts()["users"] != self._size:
            raise AssertionError("memory store does not hold the expected users")

    def groups(self, size: int) -> Iterator[Group]:
        sample = dataset.sample(size)
        lookups = ops.adapter_lookups(self.store, IMPL, sample)
        for operation in ops.LOOKUPS:
            yield Group(operation, size, (Entry(lookups[operation]),), self.budgets.lookup)
        write = self.budgets.write
        case = ops.create_session(self.store, IMPL, f"memory-{size}", sample)
        yield Group("create_session", size, (Entry(case),), write)
        count = write.warmup + write.max_n
        case = ops.use_verification_token(self.store, IMPL, f"memory-{size}", count)
        yield Group("use_verification_token", size, (Entry(case),), write)

    def derived(self, rows: Sequence[Row]) -> list[Row]:
        return []

    def close(self) -> None:
        self.store.close()
