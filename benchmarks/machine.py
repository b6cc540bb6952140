"""What the numbers were measured on: cores, CPU, memory, versions, date and load."""

from __future__ import annotations

import os
import platform
import sqlite3
import statistics
import threading
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["LoadSampler", "describe"]


def _first(path: str, key: str) -> str | None:
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name.strip() == key:
            return value.strip()
    return None


def describe(postgres: str | None = None) -> dict[str, str]:
    """The machine and software a run measured, as display name -> value."""
    memory = _first("/proc/meminfo", "MemTotal")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return {
        "Date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "CPU": _first("/proc/cpuinfo", "model name") or platform.processor() or "unknown",
        "Cores": str(os.cpu_count()),
        "Memory": f"{int(memory.split()[0]) / 2**20:.1f} GiB" if memory else "unknown",
        "OS": platform.platform(),
        "Python": f"{platform.python_implementation()} {platform.python_version()}",
        "SQLite": sqlite3.sqlite_version,
        "Postgres": postgres or "not measured",
        "Load average at start (1, 5, 15 min)": load,
    }


class LoadSampler:
    """The 1-minute load average, sampled every second in a thread."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            self.samples.append(os.getloadavg()[0])

    def __enter__(self) -> LoadSampler:
        self.samples.append(os.getloadavg()[0])
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def summary(self) -> str:
        s = self.samples
        return f"min {min(s):.2f}, median {statistics.median(s):.2f}, max {max(s):.2f}"
