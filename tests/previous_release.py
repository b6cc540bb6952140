"""The release before the side tables and the session details, checked out from git.

Tests that promise an in-place upgrade build a store with the code that
really wrote such stores, then open it with this checkout::

    from tests.previous_release import run_previous_release

    run_previous_release(tmp_path, "import auth_store; ...", url)

The previous release is main's last commit before this work (pinned, so a
squash merge of this branch keeps it reachable); the test needs a full clone.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

__all__ = ["PREVIOUS_RELEASE", "previous_release", "run_previous_release"]

ROOT = Path(__file__).resolve().parent.parent
#: main before the Postgres side tables (0002_side_tables) and the session details:
#: Postgres schema version 1 (``extra`` in Auth.js's tables), SQLite schema version 1.
PREVIOUS_RELEASE = "8a64ac61d681e68f3e3a0589d1e64d654b23865b"


def _git(*args: str) -> str:
    result = subprocess.run(
        ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, f"git {' '.join(args)}: {result.stderr}"
    return result.stdout.strip()


def previous_release(target: Path) -> Path:
    """The previous release's package, extracted into ``target`` (a new folder).

    Returns the folder to put on ``PYTHONPATH`` (the checkout's ``auth_store/adapters``
    is a symbolic link to ``adapters``, as the wheel maps them).
    """
    assert _git("cat-file", "-t", PREVIOUS_RELEASE) == "commit"  # needs a full clone
    archive = subprocess.run(
        ["git", "archive", PREVIOUS_RELEASE, "auth_store", "adapters"],
        cwd=ROOT,
        capture_output=True,
        timeout=60,
        check=True,
    ).stdout
    target.mkdir()
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True, timeout=60)
    migrations = target / "adapters" / "migrations"
    assert (target / "auth_store" / "adapters" / "postgres.py").exists()
    assert sorted(p.name for p in (migrations / "postgres").glob("*.sql")) == ["0001_initial.sql"]
    assert sorted(p.name for p in (migrations / "sqlite").glob("*.sql")) == ["0001_initial.sql"]
    return target


def run_previous_release(tmp_path: Path, script: str, *args: str) -> str:
    """Run ``script`` (Python source) under the previous release; its standard output.

    ``sys.argv[1:]`` are ``args``; the script fails (and so the test) unless it
    imported the previous release's ``auth_store``.
    """
    old = previous_release(tmp_path / "previous-release")
    guard = f"import auth_store; assert auth_store.__file__.startswith({str(old)!r})\n"
    result = subprocess.run(
        [sys.executable, "-c", guard + script, *args],
        env={**os.environ, "PYTHONPATH": str(old)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout
