"""``get_session_and_user`` on the better-auth flavor, against the raw join of the same rows.

    .venv/bin/python -m benchmarks.better_auth_sessions [--runs 3] [--users 10000]
        [--seconds 1.0] [--postgres-url URL] [--docs PAGE]

On each backend a store in Better Auth's tables (``?flavor=better-auth``)
holds ``--users`` users, each with an OAuth account and a session carrying
the details the session layer records (``benchmarks.dataset``). The adapter's
``get_session_and_user`` is timed against a hand-written join fetching the
same values in one statement: Better Auth's ``session`` and ``"user"`` rows and
auth-store's side rows beside them. SQLite's baseline is a plain autocommit
``sqlite3`` connection to the same file with the same pragmas; Postgres's is
one autocommit psycopg connection with ``prepare=True`` (one round trip), the
adapter opened with its default options. Both sides look up the same tokens
in the same order, interleaved in short blocks (``benchmarks.timing``).

One run measures both sides; the ratio of a run is the adapter's median over
the baseline's. Several runs give the median ratio and its spread (lowest to
highest run), set against the default flavor's targets: SQLite at most 1.5
times the raw join, Postgres at most 1.2 times the raw prepared join. The
default flavor (Auth.js's tables) is measured the same way in the same
process against its own baseline (``benchmarks.raw_sql``, and the Postgres
suite's join of its side tables), as a reference (``--no-reference`` skips it).

The results table replaces the section between this benchmark's markers in
``--docs`` (default docs/benchmarks.md; ``--docs ''`` leaves it alone).
Standalone on purpose: it does not use the ``python -m benchmarks`` harness.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import sqlite3
import statistics
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import auth_store
from auth_store.models import Model

from . import dataset, ops, raw_sql, suite_postgres
from .timing import Budget, Case, measure

__all__ = ["BEGIN", "END", "TARGETS", "main", "markdown", "replace_section"]

ROOT = Path(__file__).resolve().parent.parent
BEGIN = (
    "<!-- better-auth sessions benchmark: begin"
    " (written by python -m benchmarks.better_auth_sessions) -->"
)
END = "<!-- better-auth sessions benchmark: end -->"
TIMES, DASH = "\u00d7", "\u2013"
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
#: The default flavor's targets, which the better-auth flavor must meet as well.
TARGETS = {"sqlite": 1.5, "postgres": 1.2}
_BASELINE = {"sqlite": "raw sqlite3 join", "postgres": "raw prepared psycopg join"}

#: The hand-written read: the same values, in one statement, without the mapping.
RAW_JOIN = (
    's.id, s.token, s."userId", s."expiresAt", s."createdAt", s."updatedAt", s."ipAddress",'
    ' s."userAgent", sx."createdAtUnset", sx."updatedAtUnset", u.id, u.name, u.email,'
    ' u."emailVerified", u.image, u."updatedAt", ux.extra, ux."emailVerifiedAt", ux."nameUnset"'
)
RAW_SQL = (
    f'SELECT {RAW_JOIN} FROM "session" s JOIN "user" u ON u.id = s."userId"'
    " LEFT JOIN auth_store_sessions sx ON sx.id = s.id"
    " LEFT JOIN auth_store_users ux ON ux.id = u.id WHERE s.token = ?"
)
#: Flavor -> backend -> the baseline's statement.
BASELINES = {
    "better-auth": {"sqlite": RAW_SQL, "postgres": RAW_SQL},
    "authjs": {"sqlite": raw_sql.SESSION_AND_USER, "postgres": suite_postgres.SESSION_AND_USER},
}


@dataclass(frozen=True)
class Result:
    """One backend's medians (ns) per run."""

    backend: str
    flavor: str
    users: int
    adapter_ns: list[float]
    raw_ns: list[float]

    @property
    def ratios(self) -> list[float]:
        """The adapter's median over the baseline's, per run."""
        return [a / r for a, r in zip(self.adapter_ns, self.raw_ns, strict=True)]

    @property
    def ratio(self) -> float:
        """The median ratio over runs."""
        return statistics.median(self.ratios)

    @property
    def meets_target(self) -> bool:
        """Whether the median ratio is within the default flavor's target."""
        return self.ratio <= TARGETS[self.backend]


def _population(users: int) -> Iterator[Model]:
    """Users with accounts and sessions; each session with the details sessions record."""
    return dataset.with_details(dataset.people(0, users))


@contextmanager
def _sqlite(
    users: int, flavor: str
) -> Iterator[tuple[auth_store.Adapter, Callable[[str], object]]]:
    with tempfile.TemporaryDirectory(prefix="bench-better-auth-") as work:
        path = Path(work) / "app.db"
        store = auth_store.connect(f"sqlite:///{path}?flavor={flavor}")
        statement = BASELINES[flavor]["sqlite"]
        raw = sqlite3.connect(path, isolation_level=None)
        try:
            store.import_records(_population(users))
            raw.execute("PRAGMA foreign_keys = ON")
            raw.execute("PRAGMA synchronous = FULL")
            raw.execute("ANALYZE")
            execute = raw.execute

            def read(token: str) -> object:
                return execute(statement, (token,)).fetchone()

            yield store, read
        finally:
            raw.close()
            store.close()


@contextmanager
def _postgres(
    users: int, flavor: str, server: str
) -> Iterator[tuple[auth_store.Adapter, Callable[[str], object]]]:
    import psycopg
    from psycopg import sql

    schema = f"auth_store_bench_ba_{uuid.uuid4().hex[:8]}"
    admin = psycopg.connect(server, autocommit=True)
    admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        store = auth_store.connect(f"{server}?schema={schema}&flavor={flavor}")
        raw = psycopg.connect(server, autocommit=True)
        try:
            store.import_records(_population(users))
            raw.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
            raw.execute("ANALYZE")
            cursor = raw.cursor()
            statement = raw_sql.psycopg_style(BASELINES[flavor]["postgres"])

            def read(token: str) -> object:
                cursor.execute(statement, (token,), prepare=True)
                return cursor.fetchone()

            yield store, read
        finally:
            raw.close()
            store.close()
    finally:
        admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
        admin.close()


def _cases(
    store: auth_store.Adapter, read: Callable[[str], object], users: int
) -> tuple[Case, Case]:
    sample = list(range(0, users, max(1, users // 1000)))
    tokens = [dataset.session_token(i) for i in sample]
    adapter_next = ops.cycle(tokens)
    raw_next = ops.cycle(tokens)
    lookup = store.get_session_and_user
    return (
        Case("auth-store", lambda: ops.found(lookup(adapter_next()))),
        Case("raw", lambda: ops.found(read(raw_next()))),
    )


def measure_backend(
    backend: str,
    users: int,
    runs: int,
    budget: Budget,
    postgres_url: str,
    *,
    flavor: str = "better-auth",
    log: bool = True,
) -> Result:
    """``runs`` interleaved measurements of both sides on one freshly filled store."""
    opened = (
        _sqlite(users, flavor) if backend == "sqlite" else _postgres(users, flavor, postgres_url)
    )
    adapter_ns: list[float] = []
    raw_ns: list[float] = []
    with opened as (store, read):
        mine, raw = _cases(store, read, users)
        for run in range(1, runs + 1):
            if log:
                print(f"run {run}: {backend} ({flavor})", file=sys.stderr, flush=True)
            stats = measure([mine, raw], budget)
            adapter_ns.append(stats["auth-store"].median_ns)
            raw_ns.append(stats["raw"].median_ns)
    return Result(backend, flavor, users, adapter_ns, raw_ns)


def _us(ns: float) -> str:
    return f"{ns / 1000:.1f}"


def markdown(results: Sequence[Result], runs: int, budget: Budget) -> str:
    """The results as the docs page shows them."""
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"Measured {stamp} on {os.cpu_count()} cores ({platform.machine()}, load {load});"
        f" Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}."
        f" {runs} runs of at least {budget.min_n} calls per side and backend; each time is"
        " the median over runs of the per-run median, the ratio's spread is its lowest and"
        " highest run.",
        "",
        "| backend | flavor | users | auth-store (µs) | baseline | baseline (µs) | ratio"
        " | spread | target |",
        "| --- | --- | ---: | ---: | --- | ---: | ---: | --- | --- |",
    ]
    for r in results:
        target = TARGETS[r.backend]
        verdict = "met" if r.meets_target else "**missed**"
        flavor = r.flavor if r.flavor == "better-auth" else f"{r.flavor} (reference)"
        lines.append(
            f"| {r.backend} | {flavor} | {r.users:,} | {_us(statistics.median(r.adapter_ns))}"
            f" | {_BASELINE[r.backend]} | {_us(statistics.median(r.raw_ns))}"
            f" | {r.ratio:.2f}{TIMES} | {min(r.ratios):.2f}{DASH}{max(r.ratios):.2f}"
            f" | ≤ {target}{TIMES}: {verdict} |"
        )
    return "\n".join(lines) + "\n"


def replace_section(page: str, section: str) -> str:
    """``page`` with the text between this benchmark's markers replaced by ``section``."""
    pattern = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.S)
    if not pattern.search(page):
        raise ValueError(f"the page lacks the markers {BEGIN!r} ... {END!r}")
    return pattern.sub(lambda _: f"{BEGIN}\n\n{section}\n{END}", page, count=1)


def main(argv: Iterable[str] | None = None) -> int:
    """Measure, print the table, and write it into the docs page."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.better_auth_sessions")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=1.0, help="per run and backend")
    parser.add_argument("--min-calls", type=int, default=500)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--postgres-url", default=None)
    parser.add_argument(
        "--no-reference", action="store_true", help="skip the default flavor's reference rows"
    )
    parser.add_argument("--docs", default=str(ROOT / "docs" / "benchmarks.md"))
    args = parser.parse_args(list(argv) if argv is not None else None)
    postgres_url = (
        args.postgres_url or os.environ.get("AUTH_STORE_TEST_POSTGRES_URL") or DEFAULT_POSTGRES
    )
    budget = Budget(
        seconds=args.seconds,
        min_n=args.min_calls,
        max_n=max(args.min_calls, 20_000),
        warmup=min(50, args.min_calls),
        block=20,
        cap_seconds=args.seconds * 3,
        floor=args.min_calls,
    )
    flavors = ["better-auth"] if args.no_reference else ["better-auth", "authjs"]
    results = [
        measure_backend(backend, args.users, args.runs, budget, postgres_url, flavor=flavor)
        for backend in args.backends.split(",")
        for flavor in flavors
    ]
    table = markdown(results, args.runs, budget)
    print(table)
    if args.docs:
        page = Path(args.docs)
        page.write_text(replace_section(page.read_text(encoding="utf-8"), table), "utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
