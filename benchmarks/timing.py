"""Measuring calls: each call timed alone with ``perf_counter_ns``, rivals interleaved.

A comparison on a shared machine is only fair if both sides see the same
load, so the cases of one group run in short alternating blocks until each
has enough samples, rather than one after the other.
"""

from __future__ import annotations

import asyncio
import gc
import math
import statistics
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from time import perf_counter_ns

__all__ = ["AnyCase", "AsyncCase", "Budget", "Case", "Stats", "measure"]


@dataclass(frozen=True)
class Stats:
    """Per-call times of one case, in nanoseconds."""

    median_ns: float
    p99_ns: float
    n: int

    @classmethod
    def of(cls, samples: Sequence[int]) -> Stats:
        """Median and 99th percentile (nearest rank) of per-call samples."""
        ordered = sorted(samples)
        rank = max(1, math.ceil(0.99 * len(ordered)))
        return cls(statistics.median(ordered), float(ordered[rank - 1]), len(ordered))


@dataclass(frozen=True)
class Case:
    """One implementation of an operation: a call taking no arguments."""

    impl: str
    call: Callable[[], object]


@dataclass(frozen=True)
class AsyncCase:
    """An async implementation: the awaitable it returns is awaited inside the
    timed region, as an async app pays for the await too."""

    impl: str
    call: Callable[[], Awaitable[object]]


AnyCase = Case | AsyncCase


@dataclass(frozen=True)
class Budget:
    """How long to measure a group.

    Every case gets at most ``max_n`` samples. Measuring stops once
    ``seconds`` have passed and every case has ``min_n``, or, for cases too
    slow for that (a table scan), once ``cap_seconds`` have passed and every
    case has ``floor`` samples.
    """

    seconds: float = 1.0
    min_n: int = 200
    max_n: int = 5000
    warmup: int = 20
    block: int = 20
    cap_seconds: float = 6.0
    floor: int = 100

    def scaled(self, factor: float) -> Budget:
        """The same budget with every count and time multiplied by ``factor``."""
        return Budget(
            seconds=self.seconds * factor,
            min_n=max(5, int(self.min_n * factor)),
            max_n=max(5, int(self.max_n * factor)),
            warmup=max(1, int(self.warmup * factor)),
            block=max(1, int(self.block * factor)),
            cap_seconds=self.cap_seconds * factor,
            floor=max(5, int(self.floor * factor)),
        )


@dataclass
class _Samples:
    case: AnyCase
    times: list[int] = field(default_factory=list)


async def _run(case: AnyCase, count: int, into: list[int] | None) -> None:
    if isinstance(case, AsyncCase):
        acall = case.call
        for _ in range(count):
            start = perf_counter_ns()
            await acall()
            took = perf_counter_ns() - start
            if into is not None:
                into.append(took)
    else:
        call = case.call
        for _ in range(count):
            start = perf_counter_ns()
            call()
            took = perf_counter_ns() - start
            if into is not None:
                into.append(took)


async def _measure(cases: Sequence[AnyCase], budget: Budget) -> dict[str, Stats]:
    runs = [_Samples(case) for case in cases]
    for run in runs:
        await _run(run.case, budget.warmup, None)
    gc.collect()
    start = perf_counter_ns()
    deadline = start + int(budget.seconds * 1e9)
    cap = start + int(budget.cap_seconds * 1e9)
    while True:
        for run in runs:
            await _run(run.case, min(budget.block, budget.max_n - len(run.times)), run.times)
        fewest = min(len(run.times) for run in runs)
        now = perf_counter_ns()
        if fewest >= budget.max_n:
            break
        if fewest >= budget.min_n and now >= deadline:
            break
        if fewest >= budget.floor and now >= cap:
            break
    return {run.case.impl: Stats.of(run.times) for run in runs}


def measure(
    cases: Sequence[AnyCase], budget: Budget, runner: asyncio.Runner | None = None
) -> dict[str, Stats]:
    """Time every case, interleaved, and return its stats by ``impl``.

    Async cases must run on the loop their resources were made on: pass that
    loop's ``runner``.
    """
    if len({case.impl for case in cases}) != len(cases):
        raise ValueError("two cases of one group share an impl name")
    if runner is None:
        with asyncio.Runner() as own:
            return own.run(_measure(cases, budget))
    return runner.run(_measure(cases, budget))
