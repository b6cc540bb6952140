"""What a benchmark run is made of: groups of rival cases, targets, result rows.

A ``Group`` is one operation at one store size with the implementations that
compete on it; each ``Entry`` may name another entry of its group as its
baseline and carry a DESIGN.md target for the ratio to it. A ``Suite`` is one
storage family (SQLite with its raw ``sqlite3`` and fastapi-users rivals, the
file store with its raw JSON reads, ...) that can grow its population and
yield the groups to measure at each size.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from .timing import AnyCase, Budget, Stats

#: The multiplication sign of ratios ("1.5\N{MULTIPLICATION SIGN}").
TIMES = "\N{MULTIPLICATION SIGN}"

__all__ = ["TIMES", "Entry", "Group", "Row", "Suite", "Target", "Unavailable", "rows_of"]


@dataclass(frozen=True)
class Target:
    """A performance target from DESIGN.md, as a bound on a ratio or a time.

    ``max_ratio``: this entry's median at most that many times its baseline's.
    ``min_ratio``: at least that many times (a rival that must be slower).
    ``max_seconds``: an absolute bound on the median.
    """

    text: str
    max_ratio: float | None = None
    min_ratio: float | None = None
    max_seconds: float | None = None

    def met(self, ratio: float | None, median_ns: float) -> bool:
        """Whether a measurement meets every bound this target sets."""
        ok = True
        if self.max_ratio is not None:
            ok = ok and ratio is not None and ratio <= self.max_ratio
        if self.min_ratio is not None:
            ok = ok and ratio is not None and ratio >= self.min_ratio
        if self.max_seconds is not None:
            ok = ok and median_ns <= self.max_seconds * 1e9
        return ok


@dataclass(frozen=True)
class Entry:
    """One competitor in a group: its case, what it is compared to, the target."""

    case: AnyCase
    baseline: str | None = None
    target: Target | None = None

    @property
    def impl(self) -> str:
        return self.case.impl


@dataclass(frozen=True)
class Group:
    """One operation at one size and everything measured on it, interleaved."""

    operation: str
    size: int | None
    entries: tuple[Entry, ...]
    budget: Budget


@dataclass(frozen=True)
class Row:
    """One line of the results table."""

    operation: str
    impl: str
    size: int | None
    stats: Stats
    baseline: str | None = None
    baseline_stats: Stats | None = None
    target: Target | None = None

    @property
    def ratio(self) -> float | None:
        """Median over the baseline's median (``None`` without a baseline)."""
        if self.baseline_stats is None:
            return None
        return self.stats.median_ns / self.baseline_stats.median_ns

    @property
    def met(self) -> bool | None:
        """Whether the target is met (``None`` without a target)."""
        if self.target is None:
            return None
        return self.target.met(self.ratio, self.stats.median_ns)


class Suite(Protocol):
    """A storage family under test.

    ``notes`` collects what a reader of the results should know about how it
    was measured; ``versions`` names server software to state beside the
    machine (``{"Postgres": "16.4"}``).
    """

    name: str
    notes: list[str]
    versions: dict[str, str]

    def sizes(self, requested: Sequence[int]) -> list[int]:
        """The store sizes to measure, given the ones the run asks for."""
        ...

    def grow(self, size: int) -> None:
        """Make the store hold ``size`` synthetic users (it never shrinks)."""
        ...

    def groups(self, size: int) -> Iterator[Group]:
        """The groups to measure at this size, each prepared just before it is yielded."""
        ...

    def derived(self, rows: Sequence[Row]) -> list[Row]:
        """Rows computed from this suite's measured rows (flatness across sizes)."""
        ...

    def close(self) -> None:
        """Release connections and remove what the suite created."""
        ...


class Unavailable(Exception):
    """A suite cannot run here (its backend is not installed or not reachable)."""


def rows_of(group: Group, stats: dict[str, Stats]) -> list[Row]:
    """The table rows of a measured group."""
    return [
        Row(
            operation=group.operation,
            impl=entry.impl,
            size=group.size,
            stats=stats[entry.impl],
            baseline=entry.baseline,
            baseline_stats=stats[entry.baseline] if entry.baseline else None,
            target=entry.target,
        )
        for entry in group.entries
    ]
