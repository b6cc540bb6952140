"""Auth.js session tokens: ``auth_store.authjs.decode`` against ``@auth/core/jwt``'s ``decode``.

    .venv/bin/python -m benchmarks.authjs_decode [--runs 3] [--samples 3000] [--docs PAGE]

Both sides decode the very same tokens (made by ``@auth/core``), each call
timed on its own: ``time.perf_counter_ns`` here, ``process.hrtime.bigint``
around an awaited call in Node (``tests/js/bench_authjs_decode.mjs``, the
pinned ``@auth/core`` from tests/js, installed by tests/node.py). One run
measures Python, then Node, case by case, one after the other on the same
machine; the ratio of a run is Python's median over Node's. Several runs give
the median ratio and its spread (lowest to highest). Cases:

- ``session``: a token as Auth.js issues it (name, email, picture, sub), one secret;
- ``rotation``: the same, made with the oldest of three secrets (the ``kid``
  picks it out);
- ``large``: a ~10 KB payload (three cookie chunks).

``decode`` keeps derived keys in a small cache, where ``@auth/core`` derives
the key (HKDF, then the ``kid`` thumbprint) on every call; a third column
times ``decode`` with that cache emptied before each call, so the ratio of the
work alike is shown too.

The results table replaces the section between this benchmark's markers in
``--docs`` (default docs/benchmarks.md; ``--docs ''`` leaves it alone).
Standalone on purpose: it does not use the ``python -m benchmarks`` harness.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from auth_store import authjs
from auth_store.authjs.jwt import _derive

__all__ = ["main"]

ROOT = Path(__file__).resolve().parent.parent
JS_DIR = ROOT / "tests" / "js"
BEGIN = "<!-- authjs decode benchmark: begin (written by python -m benchmarks.authjs_decode) -->"
END = "<!-- authjs decode benchmark: end -->"
SALT = "authjs.session-token"
TIMES, DASH = "\u00d7", "\u2013"
SECRETS = [
    "the-newest-secret-0123456789abcdefghijklmnop",
    "the-middle-secret-0123456789abcdefghijklmnop",
    "the-oldest-secret-0123456789abcdefghijklmnop",
]
SESSION = {
    "name": "Ann Example",
    "email": "ann@example.com",
    "picture": "https://avatars.example.com/u/12345",
    "sub": "5f1c0b1e-8f7a-4c55-9c1e-1f9b3a0e2d44",
}


@dataclass(frozen=True)
class Case:
    """One token to decode, and the secrets both sides decode it with."""

    name: str
    token: str
    secret: list[str]


@dataclass(frozen=True)
class Result:
    """A case's medians (ns) on each side in each run."""

    case: Case
    python_ns: list[float]
    cold_ns: list[float]
    node_ns: list[float]

    @property
    def ratios(self) -> list[float]:
        """Python's median over Node's, per run."""
        return [p / n for p, n in zip(self.python_ns, self.node_ns, strict=True)]

    @property
    def cold_ratios(self) -> list[float]:
        """The same with the keys derived on every call, as @auth/core does."""
        return [p / n for p, n in zip(self.cold_ns, self.node_ns, strict=True)]


def _node(script: str, payload: Any) -> Any:
    from tests.node import node_modules  # installs the pinned packages once, into a cache

    node_modules()
    done = subprocess.run(
        ["node", str(JS_DIR / script)],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        cwd=JS_DIR,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"node {script} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout)


def _cases() -> list[Case]:
    """The tokens, made by @auth/core itself."""
    large = {**SESSION, "groups": [f"group-{i:04d}" for i in range(500)]}
    made = _node(
        "authjs_jwt.mjs",
        [
            {"op": "encode", "payload": SESSION, "secret": SECRETS[0], "salt": SALT},
            {"op": "encode", "payload": SESSION, "secret": SECRETS[2], "salt": SALT},
            {"op": "encode", "payload": large, "secret": SECRETS[0], "salt": SALT},
        ],
    )
    tokens = [entry["token"] for entry in made]
    return [
        Case("session", tokens[0], SECRETS[:1]),
        Case("rotation", tokens[1], SECRETS),
        Case("large", tokens[2], SECRETS[:1]),
    ]


def _python(case: Case, warmup: int, samples: int, *, cold: bool = False) -> list[int]:
    token, secret = case.token, case.secret
    # decode keeps derived keys (and their kid) in a small cache; @auth/core
    # derives them on every call. ``cold`` empties the cache before each call.
    forget = _derive.cache_clear if cold else (lambda: None)
    for _ in range(warmup):
        authjs.decode(token, secret=secret, salt=SALT)
    times = []
    for _ in range(samples):
        forget()
        start = time.perf_counter_ns()
        claims = authjs.decode(token, secret=secret, salt=SALT)
        times.append(time.perf_counter_ns() - start)
        if not claims.get("sub"):
            raise AssertionError(f"{case.name}: decode returned no sub")
    return times


def measure(runs: int, warmup: int, samples: int, log: bool = True) -> list[Result]:
    """``runs`` runs of every case on both sides; their per-run medians."""
    cases = _cases()
    python: dict[str, list[float]] = {c.name: [] for c in cases}
    cold: dict[str, list[float]] = {c.name: [] for c in cases}
    node: dict[str, list[float]] = {c.name: [] for c in cases}
    for run in range(1, runs + 1):
        for case in cases:
            python[case.name].append(statistics.median(_python(case, warmup, samples)))
            cold[case.name].append(statistics.median(_python(case, warmup, samples, cold=True)))
        timed = _node(
            "bench_authjs_decode.mjs",
            {
                "cases": [
                    {"name": c.name, "token": c.token, "secret": c.secret, "salt": SALT}
                    for c in cases
                ],
                "warmup": warmup,
                "samples": samples,
            },
        )
        for case in cases:
            node[case.name].append(statistics.median(timed[case.name]))
            if log:
                print(
                    f"run {run}: {case.name}: auth-store {_us(python[case.name][-1])} "
                    f"({_us(cold[case.name][-1])} deriving keys), "
                    f"@auth/core {_us(node[case.name][-1])}",
                    file=sys.stderr,
                    flush=True,
                )
    return [Result(c, python[c.name], cold[c.name], node[c.name]) for c in cases]


def _versions() -> dict[str, str]:
    node_version = subprocess.run(
        ["node", "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    manifest = JS_DIR / "node_modules" / "@auth" / "core" / "package.json"
    core = json.loads(manifest.read_text(encoding="utf-8"))["version"]
    import joserfc

    return {
        "Python": platform.python_version(),
        "joserfc": getattr(joserfc, "__version__", "?"),
        "Node": node_version,
        "@auth/core": core,
    }


def _us(ns: float) -> str:
    return f"{ns / 1e3:.1f} µs"


def markdown(results: Sequence[Result], runs: int, samples: int) -> str:
    """The results section: a table of medians and ratios, and how it was made."""
    versions = ", ".join(f"{k} {v}" for k, v in _versions().items())
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    lines = [
        f"Measured {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} on {os.cpu_count()} cores "
        f"({platform.machine()}, load {load}); {versions}. {runs} runs of {samples} calls "
        "per case and side; each cell is the median over runs of the per-run median, the "
        "ratio's spread is its lowest and highest run.",
        "",
        "| Case | Token | auth-store `decode` | `@auth/core` `decode` "
        "| auth-store, keys derived per call | Ratio (median) | Ratio spread "
        "| Ratio, keys derived per call |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: |",
    ]
    for result in results:
        ratios = result.ratios
        lines.append(
            f"| {result.case.name} | {len(result.case.token):,} chars "
            f"| {_us(statistics.median(result.python_ns))} "
            f"| {_us(statistics.median(result.node_ns))} "
            f"| {_us(statistics.median(result.cold_ns))} "
            f"| {statistics.median(ratios):.2f}{TIMES} "
            f"| {min(ratios):.2f}{DASH}{max(ratios):.2f}{TIMES} "
            f"| {statistics.median(result.cold_ratios):.2f}{TIMES} |"
        )
    return "\n".join(lines) + "\n"


def replace_section(page: str, section: str) -> str:
    """``page`` with the text between this benchmark's markers replaced by ``section``."""
    pattern = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.S)
    if not pattern.search(page):
        raise ValueError(f"the page lacks the markers {BEGIN!r} ... {END!r}")
    return pattern.sub(lambda _: f"{BEGIN}\n\n{section}\n{END}", page, count=1)


def main(argv: Sequence[str] | None = None) -> int:
    """Measure, print the table, update the docs page; the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.authjs_decode",
        description="auth_store.authjs.decode against @auth/core/jwt's decode.",
    )
    parser.add_argument("--runs", type=int, default=3, help="runs (default 3)")
    parser.add_argument("--samples", type=int, default=3000, help="timed calls per case and run")
    parser.add_argument("--warmup", type=int, default=300, help="untimed calls first")
    parser.add_argument(
        "--docs",
        type=Path,
        default=ROOT / "docs" / "benchmarks.md",
        help="page whose section between the markers is replaced ('' to leave it alone)",
    )
    args = parser.parse_args(argv)
    if args.runs < 1 or args.samples < 1 or args.warmup < 0:
        parser.error("--runs and --samples must be positive, --warmup not negative")
    results = measure(args.runs, args.warmup, args.samples)
    section = markdown(results, args.runs, args.samples)
    print(section)
    if str(args.docs) not in {"", "."}:
        page = args.docs.read_text(encoding="utf-8")
        args.docs.write_text(replace_section(page, section), encoding="utf-8")
        print(f"updated {args.docs}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
