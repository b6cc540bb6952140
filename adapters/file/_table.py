"""Sorted index tables on disk: what lets a process look a key up without loading the index.

A table (``<collection>/indices/table-<generation>.bin``) covers the first
``covers`` bytes of the index log of the same generation. It starts with a
JSON header line (padded to 8 bytes), then, field by field, three arrays of
unsigned 64-bit integers of the same length, sorted by (number, tag):

- ``numbers``: the key's *number* - the first 8 bytes of its BLAKE2b hash,
  or for a time-ordered field (``expires``) its microseconds since
  0001-01-01 UTC, so a range of times is a range of the array;
- ``tags``: the first 8 bytes of the BLAKE2b hash of the record stem, so
  one entry among many under one key (a thousand sessions expiring at the
  same microsecond) is found by bisection too;
- ``offsets``: where the entry's ``"+"`` line starts in the log.

A process maps the file read-only and binary-searches it; the log line at
the offset tells the key and stem (hashes can collide).
Only the pages a lookup touches are read, and the kernel shares them between
processes, so a table costs a process almost no memory at any size.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import sys
from array import array
from collections.abc import Sequence
from datetime import UTC, datetime

from . import _atomic

__all__ = [
    "TABLE_PREFIX",
    "TABLE_SUFFIX",
    "Arrays",
    "Table",
    "number",
    "table_name",
    "tag",
    "time_number",
    "write_table",
]

#: One field's ``numbers``, ``tags`` and ``offsets``.
Arrays = tuple[memoryview, memoryview, memoryview]

TABLE_PREFIX = "table-"
TABLE_SUFFIX = ".bin"
_EPOCH = datetime(1, 1, 1, tzinfo=UTC)
_HEADER_MAX = 1 << 16


def table_name(generation: str) -> str:
    """The file name of the table of log generation ``generation``."""
    return f"{TABLE_PREFIX}{generation}{TABLE_SUFFIX}"


def time_number(moment: datetime) -> int:
    """Microseconds since 0001-01-01 UTC (a naive time is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - _EPOCH
    return max(0, (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds)


def number(key: str, *, ordered: bool) -> int:
    """The table number of ``key``: its time for an ordered field, else a 64-bit hash."""
    if ordered:
        try:
            return time_number(datetime.fromisoformat(key))
        except ValueError:
            return 0  # an unreadable time sorts first: purging re-reads the record anyway
    return _hash64(key)


def tag(stem: str) -> int:
    """The table tag of a record stem."""
    return _hash64(stem)


def _hash64(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")


class Table:
    """One mapped table file (see the module doc). ``load`` returns ``None`` for a bad file."""

    def __init__(
        self,
        mapped: mmap.mmap,
        ino: int,
        covers: int,
        lines: int,
        arrays: dict[str, Arrays],
    ) -> None:
        self._mapped = mapped
        self.ino = ino
        self.covers = covers
        self.lines = lines
        self._arrays = arrays

    @classmethod
    def load(cls, dir_fd: int, name: str, generation: str, fields: Sequence[str]) -> Table | None:
        """Map table ``name`` if it is a whole table of ``generation`` for ``fields``."""
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
        except OSError:
            return None
        try:
            st = os.fstat(fd)
            head = os.pread(fd, _HEADER_MAX, 0)
            end = head.find(b"\n")
            if end < 0:
                return None
            header = json.loads(head[:end])
            if (
                not isinstance(header, dict)
                or header.get("generation") != generation
                or header.get("byteorder") != sys.byteorder
                or set(header.get("fields", {})) != set(fields)
            ):
                return None
            data = int(header["data"])
            layout = {str(f): (int(n), int(start)) for f, (n, start) in header["fields"].items()}
            if any(data + start + 24 * n > st.st_size for n, start in layout.values()):
                return None
            mapped = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError, TypeError, KeyError):
            return None
        finally:
            os.close(fd)
        view = memoryview(mapped)
        arrays = {
            field: (
                view[data + start : data + start + 8 * n].cast("Q"),
                view[data + start + 8 * n : data + start + 16 * n].cast("Q"),
                view[data + start + 16 * n : data + start + 24 * n].cast("Q"),
            )
            for field, (n, start) in layout.items()
        }
        view.release()
        return cls(mapped, st.st_ino, int(header["covers"]), int(header["lines"]), arrays)

    def size(self) -> int:
        """The table file's size in bytes."""
        return len(self._mapped)

    def arrays(self, field: str) -> Arrays:
        """The ``numbers``, ``tags`` and ``offsets`` arrays of ``field``."""
        return self._arrays[field]

    def close(self) -> None:
        """Unmap the file (every array of this table becomes unusable)."""
        for arrays in self._arrays.values():
            for view in arrays:
                view.release()
        self._arrays = {}
        self._mapped.close()


def write_table(
    dir_fd: int,
    name: str,
    *,
    generation: str,
    covers: int,
    lines: int,
    entries: dict[str, list[int]],
    durable: bool,
    where: str,
) -> None:
    """Write a table; ``entries`` maps a field to sorted ``number << 128 | tag << 64 | offset``."""
    mask = (1 << 64) - 1
    parts: list[bytes] = []
    layout: dict[str, list[int]] = {}
    start = 0
    for field, combined in entries.items():
        parts += [
            array("Q", [c >> 128 for c in combined]).tobytes(),
            array("Q", [(c >> 64) & mask for c in combined]).tobytes(),
            array("Q", [c & mask for c in combined]).tobytes(),
        ]
        layout[field] = [len(combined), start]
        start += 24 * len(combined)
    header = {
        "generation": generation,
        "covers": covers,
        "lines": lines,
        "byteorder": sys.byteorder,
        "fields": layout,
        "data": 0,
    }
    # The header states where the arrays start, which depends on its own length.
    text = json.dumps(header)
    data = -(-(len(text) + 16) // 8) * 8
    header["data"] = data
    line = json.dumps(header).ljust(data - 1).encode("ascii") + b"\n"
    _atomic.write_atomic(dir_fd, name, line + b"".join(parts), durable=durable, where=where)
