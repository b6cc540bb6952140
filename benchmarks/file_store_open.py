"""File store: open time and e-mail lookup cost as the store grows (standalone script).

    .venv/bin/python benchmarks/file_store_open.py [--sizes 1000,100000,1000000] [--work DIR]

For each size N it builds a store of N users (plus N sessions up to
``--sessions-max``) by writing record files and index lines through the
file engine's own primitives in bulk (one lock, no fsyncs: the same bytes
``create_user`` writes, hours faster than one durable create at a time),
then measures with the page cache warm:

- ``open``: ``FileAdapter(root)`` (recovery on open included; indices load lazily);
- ``open + first lookups``: open, then one e-mail lookup and one session
  lookup, which load the e-mail and session-token indices from disk;
- ``get_user_by_email`` and ``get_session_and_user``: median and p99 of
  warm lookups of random existing records, next to reading the user's
  JSON file directly by path (no index), the floor any file store pays.

It prints a Markdown table. Building 1M records takes a few minutes and
about 4 GB of disk (one 4 KB block per record file).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from auth_store.adapters.file import FileAdapter
from auth_store.adapters.file._store import FileStore
from auth_store.models import Session, User
from auth_store.records import to_dict

T = TypeVar("T")
EXPIRES = datetime(2031, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)
BATCH = 5000


def user_id(i: int) -> str:
    return str(uuid.UUID(int=(i * 0x9E3779B97F4A7C15) % (1 << 128), version=4))


def email(i: int) -> str:
    return f"user{i}@example.com"


def token(i: int) -> str:
    return f"tok-{uuid.UUID(int=(i * 0xC2B2AE3D27D4EB4F + 7) % (1 << 128)).hex}{i}"


def build(root: Path, start: int, stop: int, with_sessions: bool) -> None:
    """Add users ``start..stop-1`` (and their sessions) as the adapter would store them."""
    store = FileAdapter(root, durability="normal")
    engine = store._store
    try:
        with engine.write():
            for low in range(start, stop, BATCH):
                high = min(low + BATCH, stop)
                users = [
                    User(id=user_id(i), email=email(i), name=f"User {i}", extra={"role": "member"})
                    for i in range(low, high)
                ]
                _write(engine, "users", [to_dict(u) for u in users])
                if with_sessions:
                    sessions = [
                        Session(
                            id=f"s{i}", session_token=token(i), user_id=user_id(i), expires=EXPIRES
                        )
                        for i in range(low, high)
                    ]
                    _write(engine, "sessions", [to_dict(s) for s in sessions])
                print(f"  built {high:,}/{stop:,}", end="\r", file=sys.stderr, flush=True)
    finally:
        store.close()
    print(file=sys.stderr)
    os.sync()


def _write(engine: FileStore, name: str, raws: list[dict[str, Any]]) -> None:
    collection = engine.collections[name]
    lines = [
        ("+", field, key, raw["id"])
        for raw in raws
        for field, key in engine.keys(collection, raw).items()
    ]
    collection.index.append(lines, durable=False)  # index lines first: the engine's invariant
    for raw in raws:
        collection.write(raw["id"], raw, durable=False)
    engine.maintain(collection)


def time_one(call: Callable[[T], object], arg: T) -> float:
    """Microseconds one call takes."""
    start = time.perf_counter_ns()
    call(arg)
    return (time.perf_counter_ns() - start) / 1000


def p99(values: list[float]) -> float:
    return sorted(values)[max(0, int(len(values) * 0.99) - 1)]


def measure(root: Path, size: int, with_sessions: bool, lookups: int) -> dict[str, Any]:
    rng = random.Random(size)
    picks = [rng.randrange(size) for _ in range(lookups)]
    gc.collect()
    opens = []
    for _ in range(5):
        start = time.perf_counter()
        FileAdapter(root).close()
        opens.append(time.perf_counter() - start)
    firsts = []
    for _ in range(3):
        start = time.perf_counter()
        with FileAdapter(root) as store:
            assert store.get_user_by_email(email(picks[0])) is not None
            if with_sessions:
                assert store.get_session_and_user(token(picks[0])) is not None
        firsts.append(time.perf_counter() - start)
    result: dict[str, Any] = {
        "size": size,
        "open_s": statistics.median(opens),
        "open_first_s": statistics.median(firsts),
    }
    users_dir = str(root / "users")

    def raw(i: int) -> object:
        with open(os.path.join(users_dir, f"{user_id(i)}.json"), "rb") as file:
            return json.loads(file.read())

    with FileAdapter(root) as store:
        # One untimed pass first: the sampled files' inodes and pages get cached
        # (after building 1M files many are not), so both sides measure the same.
        for i in picks:
            store.get_user_by_email(email(i))
            raw(i)
        by_email: list[float] = []
        raw_read: list[float] = []
        for i in picks:  # interleaved, so drift affects both alike
            by_email.append(time_one(store.get_user_by_email, email(i)))
            raw_read.append(time_one(raw, i))
        result["email_median_us"] = statistics.median(by_email)
        result["email_p99_us"] = p99(by_email)
        result["raw_median_us"] = statistics.median(raw_read)
        if with_sessions:
            joined: list[float] = []
            for i in picks:
                joined.append(time_one(store.get_session_and_user, token(i)))
            result["session_median_us"] = statistics.median(joined)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,100000,1000000")
    parser.add_argument("--sessions-max", type=int, default=100_000)
    parser.add_argument("--lookups", type=int, default=3000)
    parser.add_argument(
        "--work", type=Path, default=None, help="where to build (default: a temp dir)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the built stores")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    work = args.work or Path(tempfile.mkdtemp(prefix="file-store-bench-"))
    rows = []
    try:
        for size in sizes:
            with_sessions = size <= args.sessions_max
            root = work / f"store-{size}"
            shutil.rmtree(root, ignore_errors=True)
            started = time.perf_counter()
            print(
                f"building {size:,} users{' + sessions' if with_sessions else ''}", file=sys.stderr
            )
            build(root, 0, size, with_sessions)
            built = time.perf_counter() - started
            row = measure(root, size, with_sessions, args.lookups)
            row["build_s"] = built
            row["sessions"] = with_sessions
            rows.append(row)
            print(json.dumps(row), file=sys.stderr)
            if not args.keep:
                shutil.rmtree(root, ignore_errors=True)
    finally:
        if not args.keep and args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    print(
        f"\nFile store, {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, {datetime.now(UTC):%Y-%m-%d}; page cache warm.\n"
    )
    print(
        "| records | open | open + first lookups | get_user_by_email median / p99 | "
        "raw JSON read median | get_session_and_user median |"
    )
    print("|---|---|---|---|---|---|")
    for r in rows:
        label = f"{r['size']:,} users" + (f" + {r['size']:,} sessions" if r["sessions"] else "")
        session = f"{r['session_median_us']:.1f} µs" if "session_median_us" in r else "-"
        print(
            f"| {label} | {r['open_s'] * 1000:.0f} ms | {r['open_first_s'] * 1000:.0f} ms | "
            f"{r['email_median_us']:.1f} / {r['email_p99_us']:.1f} µs | "
            f"{r['raw_median_us']:.1f} µs | {session} |"
        )


if __name__ == "__main__":
    main()
