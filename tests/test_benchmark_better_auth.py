"""A smoke run of ``python -m benchmarks.better_auth_sessions``: tiny budgets, real stores.

The benchmark is not part of CI; this keeps it from rotting: both backends
are measured, every backend gets a row with its target, and only the section
between the benchmark's markers in the page changes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import better_auth_sessions
from tests.pg import require_postgres


def test_smoke_run_writes_its_section(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page = tmp_path / "benchmarks.md"
    page.write_text(
        f"# Page\n\nbefore\n\n{better_auth_sessions.BEGIN}\nSTALE\n"
        f"{better_auth_sessions.END}\n\nafter\n",
        encoding="utf-8",
    )
    argv = ["--runs", "2", "--users", "200", "--seconds", "0.05", "--min-calls", "20"]
    argv += ["--postgres-url", require_postgres(), "--docs", str(page)]
    assert better_auth_sessions.main(argv) == 0
    text = page.read_text(encoding="utf-8")
    assert "STALE" not in text
    assert text.startswith("# Page\n\nbefore\n\n")
    assert text.endswith("\n\nafter\n")
    assert "| sqlite | better-auth | 200 |" in text
    assert "| postgres | better-auth | 200 |" in text
    assert "| postgres | authjs (reference) | 200 |" in text
    assert "\u2264 1.5\u00d7" in text
    assert "\u2264 1.2\u00d7" in text
    assert "run 2: postgres (better-auth)" in capsys.readouterr().err


def test_the_docs_page_has_the_markers() -> None:
    page = (better_auth_sessions.ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    assert better_auth_sessions.replace_section(page, "NEW\n").count("NEW") == 1
    with pytest.raises(ValueError, match="markers"):
        better_auth_sessions.replace_section("no markers", "x")
