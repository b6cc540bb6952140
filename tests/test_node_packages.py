"""The JavaScript packages the interop tests use install as pinned, and load."""

from __future__ import annotations

import json

from tests.node import JS_DIR, run_node


def test_the_pinned_javascript_packages_install_and_load() -> None:
    pinned = json.loads((JS_DIR / "package.json").read_text())["dependencies"]
    result = run_node("versions.mjs")
    expected = {name: spec.rsplit("@", 1)[-1] for name, spec in pinned.items()}
    assert result["installed"] == expected
    # better-sqlite3 is a native module: it was really built, and it runs.
    assert result["sqlite"].startswith("3.")
