"""A smoke run of ``python -m benchmarks.async_postgres``: tiny budgets, a real server.

The benchmark is not part of CI; this keeps it from rotting: both parts are
measured, the table names its target, no lookup fails, and only the section
between the benchmark's markers in the page changes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import async_postgres
from tests.pg import require_postgres

pytestmark = pytest.mark.postgres


def test_smoke_run_writes_its_section(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page = tmp_path / "benchmarks.md"
    begin, end = async_postgres.BEGIN, async_postgres.END
    page.write_text(f"# Page\n\nbefore\n\n{begin}\nSTALE\n{end}\n\nafter\n", encoding="utf-8")
    argv = ["--runs", "2", "--users", "200", "--seconds", "0.05", "--min-calls", "20"]
    argv += ["--tasks", "50", "--calls", "3"]
    argv += ["--postgres-url", require_postgres(), "--docs", str(page)]
    assert async_postgres.main(argv) == 0
    text = page.read_text(encoding="utf-8")
    assert "STALE" not in text
    assert text.startswith("# Page\n\nbefore\n\n")
    assert text.endswith("\n\nafter\n")
    assert "| `get_session_and_user` |" in text
    assert "\u2264 1.2\u00d7" in text
    assert "| 50 tasks \u00d7 3 lookups, one store |" in text
    row = next(line for line in text.splitlines() if line.startswith("| auth-store async"))
    assert row.split("|")[4].strip() == "0"  # errors
    assert "run 2: 50 tasks" in capsys.readouterr().err


def test_the_docs_page_has_the_markers() -> None:
    page = (async_postgres.ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    assert async_postgres.replace_section(page, "NEW\n").count("NEW") == 1
    with pytest.raises(ValueError, match="markers"):
        async_postgres.replace_section("no markers", "x")
