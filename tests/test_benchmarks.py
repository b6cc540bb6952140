"""A smoke run of ``python -m benchmarks``: tiny stores and budgets, every suite, real outputs.

The benchmarks themselves are not part of CI (``make bench``); this keeps the
harness from rotting as the backends change: every suite must run, find
every record it looks up, and produce the table, the docs section and the plot.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from auth_store.adapters.file import FileAdapter
from auth_store.adapters.sqlite import SQLiteAdapter
from benchmarks import dataset, raw_sql, report
from benchmarks.core import Row, Target
from benchmarks.ops import Budgets
from benchmarks.suite_file import FileSuite
from benchmarks.timing import Budget, Case, Stats, measure
from tests.pg import require_postgres

ROOT = Path(__file__).resolve().parent.parent


def test_smoke_run_writes_table_docs_and_plot(tmp_path: Path) -> None:
    # Postgres included: the session always has a server (tests/pg_server.py).
    suites = ["memory", "sqlite", "file", "passwords", "postgres"]
    postgres = require_postgres()
    page = tmp_path / "page.md"
    page.write_text(f"# Page\n\nbefore\n\n{report.BEGIN}\nSTALE RESULTS\n{report.END}\n\nafter\n")
    results = tmp_path / "results" / "latest.md"
    plot = tmp_path / "lookups.png"
    command = [
        sys.executable,
        "-m",
        "benchmarks",
        "--suites",
        ",".join(suites),
        "--sizes",
        "100,300",
        "--file-large",
        "600",
        "--scale",
        "0.02",
        "--require-all",
        "--postgres-url",
        postgres,
        "--postgres-database",
        # Its own database: other runs (other checkouts, other engineers) share the server.
        f"auth_store_bench_smoke_{uuid.uuid4().hex[:12]}",
        "--results",
        str(results),
        "--docs",
        str(page),
        "--plot",
        str(plot),
        "--workdir",
        str(tmp_path / "work"),
    ]
    run = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=240, check=False
    )
    assert run.returncode == 0, run.stderr[-4000:]

    table = results.read_text(encoding="utf-8")
    for operation in (
        "get_session_and_user",
        "get_user_by_email",
        "get_user_by_account",
        "create_session",
        "use_verification_token",
        "password_hash",
        "password_verify",
    ):
        assert f"| {operation} |" in table
    for impl in ("raw sqlite3", "fastapi-users (SQLAlchemy)", "raw argon2-cffi", "raw JSON files"):
        assert f"| {impl} |" in table
    assert "| raw psycopg (prepared) |" in table
    assert "| 300 |" in table
    assert "| 100 |" in table
    assert "not measured" not in table

    text = page.read_text(encoding="utf-8")
    assert text.startswith("# Page\n\nbefore\n")
    assert text.endswith("after\n")
    assert "STALE RESULTS" not in text
    assert "### Targets" in text
    assert "](lookups.png)" in text
    assert plot.read_bytes().startswith(b"\x89PNG")


def test_measure_interleaves_and_counts() -> None:
    calls: list[str] = []
    cases = [Case("a", lambda: calls.append("a")), Case("b", lambda: calls.append("b"))]
    budget = Budget(seconds=0.0, min_n=10, max_n=10, warmup=2, block=5)
    stats = measure(cases, budget)
    assert stats["a"].n == 10
    assert stats["b"].n == 10
    # Warm-up, then alternating blocks of five.
    assert "".join(calls) == "aabb" + "aaaaabbbbb" * 2


def test_stats_and_targets() -> None:
    stats = Stats.of(list(range(1, 101)))
    assert stats.median_ns == 50.5
    assert stats.p99_ns == 99
    assert stats.n == 100
    baseline = Stats(median_ns=100, p99_ns=200, n=10)
    slower = Row("op", "x", 1000, Stats(150, 300, 10), "raw", baseline, Target("", max_ratio=1.5))
    assert slower.ratio == 1.5
    assert slower.met is True
    too_slow = Row("op", "x", 1000, Stats(151, 300, 10), "raw", baseline, Target("", max_ratio=1.5))
    assert too_slow.met is False
    rival = Row("op", "rival", 1000, Stats(299, 300, 10), "x", baseline, Target("", min_ratio=3))
    assert rival.met is False
    assert Row("op", "x", None, baseline).met is None


def test_format_and_markers() -> None:
    assert report.format_time(950) == "950 ns"
    assert report.format_time(12_345) == "12.3 µs"
    assert report.format_time(2_500_000) == "2.50 ms"
    assert report.format_size(100_000) == "100k"
    assert report.format_size(1_000_000) == "1M"
    assert report.format_size(None) == "—"
    assert report.format_size(300) == "300"
    with pytest.raises(ValueError, match="markers"):
        report.replace_between_markers("no markers here", "x")


def test_file_bulk_fill_matches_what_the_adapter_writes(tmp_path: Path) -> None:
    suite = FileSuite(tmp_path / "bulk", Budgets(), 0)
    try:
        suite.grow(40)
        suite.grow(90)
    finally:
        suite.close()
    # The same records through import_records, one at a time, in another store.
    reference = FileAdapter(tmp_path / "reference", durability="normal")
    reference.import_records(dataset.people(0, 90))
    with FileAdapter(suite.root) as bulk:
        report_ = bulk.check()
        assert report_.ok, report_.problems
        assert bulk.counts() == reference.counts()
        assert list(bulk.export()) == list(reference.export())
        assert bulk.get_user_by_email(dataset.email(77)) == dataset.user(77)
    for collection in ("users", "accounts", "sessions"):
        names = sorted(p.name for p in (suite.root / collection).glob("*.json"))
        assert names == sorted(p.name for p in (tmp_path / "reference" / collection).glob("*.json"))
        for name in names[:5]:
            written = (suite.root / collection / name).read_bytes()
            assert written == (tmp_path / "reference" / collection / name).read_bytes()
    reference.close()


def test_raw_sqlite_statements_read_what_the_adapter_reads(tmp_path: Path) -> None:
    """A fair baseline: each raw lookup fetches the adapter's columns, values and all."""
    path = tmp_path / "auth.db"
    with SQLiteAdapter(path) as store:
        store.import_records(dataset.with_details(dataset.people(0, 3)))
        raw = sqlite3.connect(path)
        try:
            pairs = [
                (raw_sql.SESSION_AND_USER, store._sql.session_and_user, dataset.session_token(1)),
                (raw_sql.USER_BY_EMAIL, store._sql.user_by_email, dataset.email(1)),
                (raw_sql.USER_BY_ID, store._sql.user_by_id, dataset.user_id(1)),
            ]
            for mine, theirs, key in pairs:
                ours, adapters = raw.execute(mine, (key,)), raw.execute(theirs, (key,))
                assert [c[0] for c in ours.description] == [c[0] for c in adapters.description]
                row = ours.fetchone()
                assert row == adapters.fetchone()
                assert None not in row  # every detail is there to decode
            account = (dataset.PROVIDER, dataset.provider_account_id(2))
            ours = raw.execute(raw_sql.USER_BY_ACCOUNT, account).fetchone()
            assert ours == raw.execute(store._sql.user_by_account, account).fetchone()
            assert ours is not None
        finally:
            raw.close()


def test_enumeration_benchmark_smoke_run(tmp_path: Path) -> None:
    # The numbers are for benchmarks/ (too few tries here to mean anything);
    # this checks that every level runs and the page has a row for each.
    from benchmarks import enumeration

    page = tmp_path / "enumeration.md"
    enumeration.main(["--tries", "3", "--flows", "reset", "--results", str(page)])
    text = page.read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if line.startswith("| flow") or "HTTP:" in line]
    assert len(rows) == 3 * 2  # levels x (background, baseline)
    for level in ("| flow |", "| HTTP: FastAPI (ASGI) |", "| HTTP: Flask (WSGI) |"):
        assert sum(line.startswith(level) for line in rows) == 2
    assert "95% CI of Δ" in text
