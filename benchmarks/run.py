"""``python -m benchmarks``: measure every available suite, write the table and the plot."""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from . import machine, ops, report
from .core import Row, Suite, Unavailable, rows_of
from .timing import measure

__all__ = ["main"]

ROOT = Path(__file__).resolve().parent.parent
SUITES = ("memory", "sqlite", "file", "postgres", "passwords")
OPERATION_ORDER = (
    "get_session_and_user",
    "get_user_by_email",
    "get_user_by_account",
    "get_user",
    "create_session",
    "create_user",
    "use_verification_token",
    "password_hash",
    "password_verify",
    "open_store",
)

SuiteFactory = Callable[[Path, ops.Budgets, asyncio.Runner, argparse.Namespace], Suite]


def _factory(name: str) -> SuiteFactory:
    # Each suite imports its backend only when asked for, so a missing
    # backend or driver makes that suite unavailable rather than the run fail.
    if name == "memory":
        from .suite_memory import MemorySuite

        return lambda work, budgets, runner, args: MemorySuite(budgets)
    if name == "sqlite":
        from .suite_sqlite import SQLiteSuite

        return lambda work, budgets, runner, args: SQLiteSuite(work, budgets, runner)
    if name == "file":
        from .suite_file import FileSuite

        return lambda work, budgets, runner, args: FileSuite(work, budgets, args.file_large)
    if name == "postgres":
        from .suite_postgres import PostgresSuite

        return lambda work, budgets, runner, args: PostgresSuite(
            budgets, args.postgres_url, args.postgres_database
        )
    if name == "passwords":
        from .suite_passwords import PasswordSuite

        return lambda work, budgets, runner, args: PasswordSuite(budgets)
    raise ValueError(f"unknown suite {name!r}")


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _sort_key(row: Row) -> tuple[int, int]:
    operation = row.operation.split(" ")[0]
    order = OPERATION_ORDER.index(operation) if operation in OPERATION_ORDER else 99
    return order, row.size or 0


def _relative(target: Path, start: Path) -> str:
    return Path(os.path.relpath(target.resolve(), start.resolve())).as_posix()


def _parse_sizes(text: str) -> list[int]:
    sizes = sorted({int(part) for part in text.split(",") if part.strip()})
    if not sizes or sizes[0] < 1:
        raise argparse.ArgumentTypeError("sizes are positive integers, comma-separated")
    return sizes


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Measure auth-store's backends side by side with raw baselines.",
    )
    parser.add_argument(
        "--sizes",
        type=_parse_sizes,
        default=[1_000, 10_000, 100_000],
        help="store sizes in users (default: 1000,10000,100000)",
    )
    parser.add_argument(
        "--file-large",
        type=int,
        default=1_000_000,
        help="records in the largest file store, for the flatness of its lookups "
        "(users, accounts and sessions; 0: none; default 1000000)",
    )
    parser.add_argument(
        "--suites",
        default=",".join(SUITES),
        help=f"comma-separated suites to run (default: {','.join(SUITES)})",
    )
    parser.add_argument(
        "--postgres-url",
        default=None,
        help="server to create the benchmark database on (default: "
        "AUTH_STORE_TEST_POSTGRES_URL, then postgresql://postgres@127.0.0.1:5432/test)",
    )
    parser.add_argument(
        "--postgres-database",
        default="auth_store_bench",
        help="database the postgres suite creates and drops (default: auth_store_bench)",
    )
    parser.add_argument(
        "--require-all",
        action="store_true",
        help="fail (exit 2) when a requested suite cannot run, instead of noting it",
    )
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="multiply every measuring budget (0.05 for a smoke run)",
    )
    parser.add_argument(
        "--results",
        type=Path,
        default=ROOT / "benchmarks" / "results" / "latest.md",
        help="where to write the Markdown results",
    )
    parser.add_argument(
        "--docs",
        type=Path,
        default=ROOT / "docs" / "benchmarks.md",
        help="docs page whose results section is replaced (use '' to leave it alone)",
    )
    parser.add_argument(
        "--plot",
        type=Path,
        default=ROOT / "docs" / "benchmarks-lookups.png",
        help="where to save the PNG plot of lookup cost against store size",
    )
    parser.add_argument("--workdir", type=Path, default=None, help="keep stores here")
    args = parser.parse_args(argv)
    args.suites = [name.strip() for name in args.suites.split(",") if name.strip()]
    unknown = set(args.suites) - set(SUITES)
    if unknown:
        parser.error(f"unknown suites: {', '.join(sorted(unknown))}")
    return args


def _run_suite(suite: Suite, args: argparse.Namespace, runner: asyncio.Runner) -> list[Row]:
    rows: list[Row] = []
    for size in suite.sizes(args.sizes):
        started = time.perf_counter()
        suite.grow(size)
        if size:
            _log(f"[{suite.name}] {size} users ready in {time.perf_counter() - started:.1f} s")
        for group in suite.groups(size):
            started = time.perf_counter()
            stats = measure([entry.case for entry in group.entries], group.budget, runner)
            measured = rows_of(group, stats)
            rows += measured
            summary = ", ".join(
                f"{row.impl} {report.format_time(row.stats.median_ns)}" for row in measured
            )
            took = time.perf_counter() - started
            _log(f"[{suite.name}] {group.operation} @ {size}: {summary} ({took:.1f} s)")
    rows += suite.derived(rows)
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks; return the process exit status."""
    args = _arguments(argv)
    started = time.perf_counter()
    budgets = ops.Budgets().scaled(args.scale)
    host = machine.describe()
    rows: list[Row] = []
    notes: list[str] = []
    work = args.workdir or Path(tempfile.mkdtemp(prefix="auth-store-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        with machine.LoadSampler() as load, asyncio.Runner() as runner:
            for name in args.suites:
                try:
                    suite = _factory(name)(work / name, budgets, runner, args)
                except (ImportError, Unavailable) as exc:
                    if args.require_all:
                        _log(f"[{name}] cannot run: {exc}")
                        return 2
                    notes.append(f"{name}: not measured ({exc})")
                    _log(f"[{name}] skipped: {exc}")
                    continue
                try:
                    rows += _run_suite(suite, args, runner)
                finally:
                    suite.close()
                notes += suite.notes
                host.update(suite.versions)
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    host["Load average during the run (1 min)"] = load.summary()
    rows.sort(key=_sort_key)
    elapsed = time.perf_counter() - started
    notes.append(f"The whole run took {elapsed / 60:.1f} minutes.")

    plotted = bool(args.plot) and report.plot_lookups(rows, args.plot)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    plot = _relative(args.plot, args.results.parent) if plotted else None
    section = report.markdown(host, rows, notes, plot=plot, heading_level=2)
    args.results.write_text("# Benchmark results\n\n" + section, encoding="utf-8")
    _log(f"wrote {args.results}")
    if args.docs and str(args.docs) not in {"", "."}:
        page = args.docs.read_text(encoding="utf-8")
        plot = _relative(args.plot, args.docs.parent) if plotted else None
        docs_section = report.markdown(host, rows, notes, plot=plot, heading_level=3)
        args.docs.write_text(report.replace_between_markers(page, docs_section), "utf-8")
        _log(f"updated {args.docs}")
    missed = [row for row in rows if row.met is False]
    _log(f"done in {elapsed:.0f} s; {len(missed)} target(s) missed")
    return 0
