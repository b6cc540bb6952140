"""A copy of the source tree, for tests that build or install the project.

Builds write ``build/`` and ``*.egg-info`` into the tree they build; two test
runs building in one checkout at once would trip over each other's files.
"""

from __future__ import annotations

import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def source_copy(dest: Path) -> Path:
    """Copy the checkout (without its venv, caches and build output) to ``dest``."""
    shutil.copytree(
        ROOT,
        dest,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "build", "*.egg-info", "__pycache__", ".*_cache", "site", "*.db*"
        ),
        symlinks=True,
    )
    return dest
