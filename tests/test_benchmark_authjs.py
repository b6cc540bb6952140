"""A smoke run of ``python -m benchmarks.authjs_decode``: tiny budgets, real Node, real output.

The benchmark is not part of CI; this keeps it from rotting: both sides
decode, every case gets a row, and only the section between its markers in
the page changes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import authjs_decode


def test_smoke_run_writes_its_section(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page = tmp_path / "benchmarks.md"
    page.write_text(
        f"# Page\n\nbefore\n\n{authjs_decode.BEGIN}\nSTALE\n{authjs_decode.END}\n\nafter\n",
        encoding="utf-8",
    )
    argv = ["--runs", "2", "--samples", "5", "--warmup", "1", "--docs", str(page)]
    assert authjs_decode.main(argv) == 0
    text = page.read_text(encoding="utf-8")
    assert "STALE" not in text
    assert text.startswith("# Page\n\nbefore\n\n")
    assert text.endswith("\n\nafter\n")
    for case in ("session", "rotation", "large"):
        assert f"| {case} |" in text
    assert "@auth/core 0.41.3" in text
    assert "2 runs of 5 calls" in text
    assert "run 2: large" in capsys.readouterr().err


def test_the_docs_page_has_the_markers() -> None:
    page = Path(authjs_decode.ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    assert authjs_decode.replace_section(page, "NEW\n").count("NEW") == 1
    with pytest.raises(ValueError, match="markers"):
        authjs_decode.replace_section("no markers", "x")
