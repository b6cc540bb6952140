"""The real JavaScript packages, for tests that promise compatibility with them.

``tests/js/package.json`` pins the packages (``@auth/core``, ``@auth/pg-adapter``,
``better-auth``, ``@simplewebauthn/server``, ``next-auth@4`` as ``next-auth-v4``,
``pg``, ``better-sqlite3``) and ``package-lock.json`` locks them. The first use
installs them with ``npm ci`` into a cache folder outside the checkout, named by
the lock file's hash (``$AUTH_STORE_JS_CACHE``, default
``~/.cache/auth-store/js/<hash>``), so fresh clones and CI runs on this machine
reuse one install; ``tests/js/node_modules`` is a symlink to it. Several test
processes installing at once wait on one lock.

Scripts live in ``tests/js/*.mjs``; ``run_node`` runs one with a JSON value on
standard input and returns the JSON value it prints::

    from tests.node import run_node

    token = run_node("authjs_encode.mjs", {"secret": "s", "payload": {...}})

A missing ``node``/``npm`` or a failed install fails the test (it never skips).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

__all__ = ["JS_DIR", "node_modules", "run_node"]

JS_DIR = Path(__file__).resolve().parent / "js"

#: Packages with a native part that npm's install scripts would build; npm 11 does
#: not run install scripts by default, and their prebuilt binaries are downloaded
#: from GitHub, which this machine cannot reach, so they are built from source
#: against the installed Node's headers.
_NATIVE = ("better-sqlite3",)


def _cache_root() -> Path:
    configured = os.environ.get("AUTH_STORE_JS_CACHE")
    if configured:
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "auth-store" / "js"


def _lock_hash() -> str:
    digest = hashlib.sha256()
    for name in ("package.json", "package-lock.json"):
        digest.update((JS_DIR / name).read_bytes())
    return digest.hexdigest()[:16]


def _run(args: list[str], cwd: Path) -> None:
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        pytest.fail(
            f"{' '.join(args)} failed in {cwd} (exit {result.returncode}):\n"
            f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}",
            pytrace=False,
        )


def _node_headers() -> list[str]:
    """``--nodedir`` for node-gyp: the headers of the Node that runs the tests."""
    node = shutil.which("node")
    assert node is not None
    prefix = Path(node).resolve().parent.parent
    return [f"--nodedir={prefix}"] if (prefix / "include" / "node" / "node.h").exists() else []


def _install(target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copyfile(JS_DIR / name, target / name)
    _run(
        [
            "npm",
            "ci",
            "--legacy-peer-deps",
            "--ignore-scripts",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
        ],
        target,
    )
    gyp = target / "node_modules" / "node-gyp" / "bin" / "node-gyp.js"
    for package in _NATIVE:
        _run(
            ["node", str(gyp), "rebuild", "--release", *_node_headers()],
            target / "node_modules" / package,
        )
    (target / ".installed").touch()


@functools.cache
def node_modules() -> Path:
    """The installed ``node_modules`` folder (installing it on first use)."""
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not on PATH; the JavaScript interop tests need it")
    target = _cache_root() / _lock_hash()
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f"{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / ".installed").exists():
            shutil.rmtree(target, ignore_errors=True)
            _install(target)
    link = JS_DIR / "node_modules"
    if link.is_symlink() and link.resolve() != (target / "node_modules").resolve():
        link.unlink()
    if not link.exists():
        # another test process may make the same link first
        with contextlib.suppress(FileExistsError):
            link.symlink_to(target / "node_modules", target_is_directory=True)
    return target / "node_modules"


def run_node(
    script: str,
    payload: Any = None,
    *,
    env: dict[str, str] | None = None,
    timeout: float = 120,
) -> Any:
    """Run ``tests/js/<script>`` with ``payload`` as JSON on stdin; return its JSON output.

    The script prints one JSON value on stdout. A non-zero exit fails the test
    with the script's stderr.
    """
    node_modules()
    result = subprocess.run(
        ["node", str(JS_DIR / script)],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=JS_DIR,
        env={**os.environ, **(env or {})},
    )
    if result.returncode != 0:
        pytest.fail(
            f"node {script} failed (exit {result.returncode}):\n{result.stderr[-6000:]}",
            pytrace=False,
        )
    try:
        return json.loads(result.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"node {script} printed no JSON:\n{result.stdout[-4000:]}", pytrace=False)
