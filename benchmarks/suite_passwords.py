"""Passwords: ``PasswordService`` against raw argon2-cffi at the very same parameters.

The raw hasher's parameters are read back from a hash the service made
(``argon2.extract_parameters``), so both sides do identical argon2id work and
the ratio is the service's own overhead. Verification goes through a memory
store: argon2 dominates, and a store's credential read costs what a lookup
costs (see the other rows).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import argon2

from auth_store import User
from auth_store.adapters.memory import MemoryAdapter
from auth_store.passwords import PasswordService

from . import ops
from .core import TIMES, Entry, Group, Row, Target
from .timing import Case

__all__ = ["PasswordSuite"]

IMPL = "PasswordService (libpass)"
RAW = "raw argon2-cffi"
TARGET = Target(f"≤ 1.05{TIMES} raw argon2-cffi", max_ratio=1.05)
PASSWORD = "correct horse battery staple"


class PasswordSuite:
    """Hashing and verification; independent of the store size, so measured once."""

    name = "passwords"

    def __init__(self, budgets: ops.Budgets) -> None:
        self.budgets = budgets
        self.store = MemoryAdapter()
        self.service = PasswordService(self.store)
        user = self.store.create_user(User(email="bench@example.com"))
        self.user_id = user.id
        self.service.set_password(self.user_id, PASSWORD)
        self.stored = self.service.hash(PASSWORD)
        self.parameters = argon2.extract_parameters(self.stored)
        self.raw = argon2.PasswordHasher.from_parameters(self.parameters)
        p = self.parameters
        self.notes = [
            f"passwords: argon2id m={p.memory_cost} KiB, t={p.time_cost}, p={p.parallelism}, "
            f"salt {p.salt_len} B, hash {p.hash_len} B on both sides; verification by "
            "PasswordService.verify_password includes reading the credential from a "
            "memory store.",
        ]
        self.versions: dict[str, str] = {}

    def sizes(self, requested: Sequence[int]) -> list[int]:
        return [0]

    def grow(self, size: int) -> None:
        return None

    def groups(self, size: int) -> Iterator[Group]:
        service, raw, user_id, stored = self.service, self.raw, self.user_id, self.stored

        def verify_service() -> object:
            if not service.verify_password(user_id, PASSWORD):
                raise AssertionError("PasswordService rejected the right password")
            return True

        def verify_raw() -> object:
            return raw.verify(stored, PASSWORD)

        slow = self.budgets.slow
        yield Group(
            "password_hash",
            None,
            (
                Entry(Case(IMPL, lambda: service.hash(PASSWORD)), RAW, TARGET),
                Entry(Case(RAW, lambda: raw.hash(PASSWORD))),
            ),
            slow,
        )
        yield Group(
            "password_verify",
            None,
            (Entry(Case(IMPL, verify_service), RAW, TARGET), Entry(Case(RAW, verify_raw))),
            slow,
        )

    def derived(self, rows: Sequence[Row]) -> list[Row]:
        return []

    def close(self) -> None:
        self.store.close()
