"""The async twin on Postgres: a direct coroutine call against raw async psycopg, and 500 tasks.

    .venv/bin/python -m benchmarks.async_postgres [--runs 3] [--users 10000]
        [--seconds 1.0] [--tasks 500] [--calls 20] [--postgres-url URL] [--docs PAGE]

A store in a schema of its own holds ``--users`` users, each with an OAuth
account and a session carrying the details the session layer records. Two
measurements, each repeated ``--runs`` times (median, and the spread from the
lowest to the highest run):

**One call.** ``await store.get_session_and_user(token)`` on the twin
(``auth_store.connect_async``, default options) against the ceiling: one
autocommit ``psycopg.AsyncConnection`` running the same join (Auth.js's rows
and auth-store's side rows) prepared, on a reused cursor; one round trip
each. Both look up the same tokens in the same order, interleaved in short
blocks on one event loop (``benchmarks.timing``). Target: at most 1.2 times.

**Concurrency.** ``--tasks`` tasks started at once on one store, each
looking up ``--calls`` sessions in a row, against the same tasks on raw
psycopg's ``AsyncConnectionPool`` of the same size (10) running the prepared
join. Reported: lookups per second of each, errors (none allowed: a task
starved of a connection beyond the pool's timeout would raise), and the
pool's own counter of requests waiting (the most at once). Each part has a
twin of its own, so the one-call part's pool holds the one connection that
calls made one at a time need (see docs/benchmarks.md for why it matters).

The table replaces the section between this benchmark's markers in
``--docs`` (default docs/benchmarks.md; ``--docs ''`` leaves it alone).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

import auth_store
from auth_store.async_adapter import AsyncAdapter

from . import dataset, ops, raw_sql, suite_postgres
from .better_auth_sessions import _population
from .report import replace_marked
from .timing import AsyncCase, Budget, measure

__all__ = ["BEGIN", "END", "TARGET", "main", "markdown", "replace_section"]

ROOT = Path(__file__).resolve().parent.parent
BEGIN = "<!-- async postgres benchmark: begin (written by python -m benchmarks.async_postgres) -->"
END = "<!-- async postgres benchmark: end -->"
TIMES, DASH, NONE = "\u00d7", "\u2013", "\u2013"
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
TARGET = 1.2
POOL = 10
STATEMENT = raw_sql.psycopg_style(suite_postgres.SESSION_AND_USER)


@dataclass
class Results:
    """Per-run medians (ns) of one call, and per-run throughput (lookups/s) of the tasks."""

    users: int
    tasks: int
    calls: int
    twin_ns: list[float]
    raw_ns: list[float]
    twin_rate: list[float]
    raw_rate: list[float]
    errors: int
    most_waiting: int

    @property
    def ratios(self) -> list[float]:
        return [t / r for t, r in zip(self.twin_ns, self.raw_ns, strict=True)]

    @property
    def rate_ratios(self) -> list[float]:
        return [t / r for t, r in zip(self.twin_rate, self.raw_rate, strict=True)]


async def _tasks(
    lookup: Callable[[str], Awaitable[object]], tokens: list[str], tasks: int, calls: int
) -> tuple[float, int]:
    """Lookups per second of ``tasks`` tasks doing ``calls`` lookups each; and errors."""
    errors = 0

    async def one(n: int) -> None:
        nonlocal errors
        for k in range(calls):
            try:
                ops.found(await lookup(tokens[(n * calls + k) % len(tokens)]))
            except auth_store.AuthStoreError:
                errors += 1

    start = time.perf_counter()
    await asyncio.gather(*(one(n) for n in range(tasks)))
    return tasks * calls / (time.perf_counter() - start), errors


async def _watch_pool(store: AsyncAdapter, most: list[int], stop: asyncio.Event) -> None:
    """Sample how many requests wait for a connection, while the tasks run."""
    while not stop.is_set():
        stats = (await store.health())["pool"]
        most[0] = max(most[0], int(stats["waiting"]))
        await asyncio.sleep(0.005)


def run(
    server: str, users: int, runs: int, budget: Budget, tasks: int, calls: int, log: bool = True
) -> Results:
    """Fill a fresh schema, then measure ``runs`` times; the schema is dropped after."""
    schema = f"auth_store_bench_async_{uuid.uuid4().hex[:8]}"
    url = f"{server}{'&' if '?' in server else '?'}schema={schema}"
    admin = psycopg.connect(server, autocommit=True)
    admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        with auth_store.connect(url) as filler:
            filler.import_records(_population(users))
        admin.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        admin.execute("ANALYZE")
        with asyncio.Runner() as runner:
            return _runs(runner, url, server, schema, users, runs, budget, tasks, calls, log)
    finally:
        admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
        admin.close()


def _runs(
    runner: asyncio.Runner,
    url: str,
    server: str,
    schema: str,
    users: int,
    runs: int,
    budget: Budget,
    tasks: int,
    calls: int,
    log: bool,
) -> Results:
    setup = sql.SQL("SET search_path TO {}").format(sql.Identifier(schema))

    async def open_all() -> tuple[
        AsyncAdapter, AsyncAdapter, psycopg.AsyncConnection[Any], AsyncConnectionPool
    ]:
        # Two twins: the one-call part's pool never grows past the one connection
        # a call at a time needs; the 500 tasks fill the other's.
        store = await auth_store.connect_async(url)
        busy = await auth_store.connect_async(url)
        raw = await psycopg.AsyncConnection.connect(server, autocommit=True)
        await raw.execute(setup)

        async def configure(conn: psycopg.AsyncConnection[Any]) -> None:
            await conn.execute(setup)

        pool = AsyncConnectionPool(
            server,
            min_size=POOL,
            max_size=POOL,
            kwargs={"autocommit": True, "prepare_threshold": 0},
            configure=configure,
            open=False,
        )
        await pool.open(wait=True)
        return store, busy, raw, pool

    store, busy, raw, pool = runner.run(open_all())
    try:
        sample = list(range(0, users, max(1, users // 1000)))
        tokens = [dataset.session_token(i) for i in sample]
        cursor = raw.cursor()

        async def raw_read(token: str) -> object:
            await cursor.execute(STATEMENT, (token,), prepare=True)
            return await cursor.fetchone()

        async def pooled_read(token: str) -> object:
            async with pool.connection() as conn:
                cur = await conn.execute(STATEMENT, (token,), prepare=True)
                return await cur.fetchone()

        twin_next, raw_next = ops.cycle(tokens), ops.cycle(tokens)
        lookup = store.get_session_and_user

        async def twin_call() -> object:
            return ops.found(await lookup(twin_next()))

        async def raw_call() -> object:
            return ops.found(await raw_read(raw_next()))

        cases = [AsyncCase("auth-store async", twin_call), AsyncCase("raw", raw_call)]
        result = Results(users, tasks, calls, [], [], [], [], 0, 0)
        for n in range(1, runs + 1):
            if log:
                print(f"run {n}: one call", file=sys.stderr, flush=True)
            stats = measure(cases, budget, runner)
            result.twin_ns.append(stats["auth-store async"].median_ns)
            result.raw_ns.append(stats["raw"].median_ns)
            if log:
                print(f"run {n}: {tasks} tasks", file=sys.stderr, flush=True)

            async def concurrency(most: list[int]) -> tuple[tuple[float, int], tuple[float, int]]:
                stop = asyncio.Event()
                watcher = asyncio.create_task(_watch_pool(busy, most, stop))
                mine = await _tasks(busy.get_session_and_user, tokens, tasks, calls)
                stop.set()
                await watcher
                theirs = await _tasks(pooled_read, tokens, tasks, calls)
                return mine, theirs

            most = [0]
            (rate, errors), (raw_rate, _) = runner.run(concurrency(most))
            result.twin_rate.append(rate)
            result.raw_rate.append(raw_rate)
            result.errors += errors
            result.most_waiting = max(result.most_waiting, most[0])
        return result
    finally:

        async def close_all() -> None:
            await store.close()
            await busy.close()
            await raw.close()
            await pool.close()

        runner.run(close_all())


def _us(ns: float) -> str:
    return f"{ns / 1000:.1f}"


def _spread(values: Sequence[float], fmt: str) -> str:
    return f"{format(min(values), fmt)}{DASH}{format(max(values), fmt)}"


def markdown(r: Results, runs: int, budget: Budget) -> str:
    """The results as the docs page shows them."""
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    ratio = statistics.median(r.ratios)
    verdict = "met" if ratio <= TARGET else "**missed**"
    rate, raw_rate = statistics.median(r.twin_rate), statistics.median(r.raw_rate)
    return "\n".join(
        [
            f"Measured {stamp} on {os.cpu_count()} cores ({platform.machine()}, load {load});"
            f" Python {platform.python_version()}, psycopg {psycopg.__version__}."
            f" {r.users:,} users; {runs} runs, each of at least {budget.min_n} calls per side;"
            " times are the median over runs of each run's median, spreads the lowest and"
            " highest run.",
            "",
            "| one call | auth-store async (µs) | raw async psycopg, prepared (µs) | ratio"
            " | spread | target |",
            "| --- | ---: | ---: | ---: | --- | --- |",
            f"| `get_session_and_user` | {_us(statistics.median(r.twin_ns))}"
            f" | {_us(statistics.median(r.raw_ns))} | {ratio:.2f}{TIMES}"
            f" | {_spread(r.ratios, '.2f')} | ≤ {TARGET}{TIMES}: {verdict} |",
            "",
            f"| {r.tasks} tasks {TIMES} {r.calls} lookups, one store | lookups/s | spread | errors"
            " | most tasks waiting for a connection |",
            "| --- | ---: | --- | ---: | ---: |",
            f"| auth-store async (pool of {POOL}) | {rate:,.0f} | {_spread(r.twin_rate, ',.0f')}"
            f" | {r.errors} | {r.most_waiting} |",
            f"| raw psycopg `AsyncConnectionPool` ({POOL}) | {raw_rate:,.0f}"
            f" | {_spread(r.raw_rate, ',.0f')} | {NONE} | {NONE} |",
            f"| ratio | {rate / raw_rate:.2f}{TIMES} | {_spread(r.rate_ratios, '.2f')} | | |",
            "",
        ]
    )


def replace_section(page: str, section: str) -> str:
    """``page`` with the text between this benchmark's markers replaced by ``section``."""
    return replace_marked(page, section, BEGIN, END)


def main(argv: Iterable[str] | None = None) -> int:
    """Measure, print the table, and write it into the docs page."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.async_postgres")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=1.0, help="per run, one-call part")
    parser.add_argument("--min-calls", type=int, default=500)
    parser.add_argument("--tasks", type=int, default=500)
    parser.add_argument("--calls", type=int, default=20, help="lookups per task")
    parser.add_argument("--postgres-url", default=None)
    parser.add_argument("--docs", default=str(ROOT / "docs" / "benchmarks.md"))
    args = parser.parse_args(list(argv) if argv is not None else None)
    server = args.postgres_url or os.environ.get("AUTH_STORE_TEST_POSTGRES_URL") or DEFAULT_POSTGRES
    calls = args.min_calls
    budget = Budget(
        args.seconds, calls, max(calls, 20_000), min(50, calls), 20, args.seconds * 3, calls
    )
    table = markdown(
        run(server, args.users, args.runs, budget, args.tasks, args.calls), args.runs, budget
    )
    print(table)
    if args.docs:
        Path(args.docs).write_text(
            replace_section(Path(args.docs).read_text("utf-8"), table), "utf-8"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
