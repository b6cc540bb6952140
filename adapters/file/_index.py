"""Append-only JSONL indices, held in memory and refreshed from the file's tail.

An index file (``<collection>/indices/<field>.jsonl``) starts with a header
line naming the field and a random *generation*, then one line per change::

    {"index": "email", "generation": "9f2c..."}
    ["+", "ada@example.com", "4b1e...-uuid"]
    ["-", "ada@example.com", "4b1e...-uuid"]

Each process keeps the index as a dict and, before every lookup, compares the
file's inode, size and mtime with what it last read: unchanged costs one
``stat``; grown means reading only the new tail. A compaction rewrites the
file under a new generation (a new inode), which makes every process reload
it. So a lookup made after another process committed finds the record, and
a lookup costs the same at 1k and at 1M records.

Indices may hold *more* than the records (a line written by a writer that
died before the record), never less; the store checks the record on every
hit, so a stale line can cost a miss but never return a wrong record.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
from collections.abc import Iterable, Iterator

from auth_store.errors import StorageError

from . import _atomic

__all__ = ["Entry", "Index", "MultiIndex", "UniqueIndex", "index_file_name"]

#: One index change: ("+" | "-", key, record file stem).
Entry = tuple[str, str, str]


def index_file_name(field: str) -> str:
    """The file name of the index on ``field``."""
    return f"{field}.jsonl"


def _line(entry: Entry) -> str:
    return json.dumps(entry, ensure_ascii=False, separators=(",", ":"))


class Index:
    """The common machinery of unique and multi-valued indices (see the module doc)."""

    unique = False

    def __init__(self, dir_fd: int, field: str, where: str) -> None:
        self.field = field
        self.name = index_file_name(field)
        self.where = where
        self._dir_fd = dir_fd
        self.lock = threading.Lock()
        self._reset()

    # -- the in-memory state ------------------------------------------------

    def _reset(self) -> None:
        self._ino = -1
        self._mtime = -1
        self._offset = 0  # bytes consumed: always the end of a complete line
        self._generation = ""
        #: Change lines read since the last compaction, and lines found unreadable.
        self.lines = 0
        self.bad_lines = 0
        self._clear()

    def _clear(self) -> None:
        raise NotImplementedError

    def _apply(self, op: str, key: str, stem: str) -> None:
        raise NotImplementedError

    def live(self) -> int:
        """The number of (key, stem) entries in force."""
        raise NotImplementedError

    def entries(self) -> Iterator[tuple[str, str]]:
        """Every (key, stem) entry in force."""
        raise NotImplementedError

    def contains(self, key: str, stem: str) -> bool:
        """Whether the entry (key, stem) is in force (call ``refresh`` first)."""
        raise NotImplementedError

    # -- reading the file -----------------------------------------------------

    def refresh(self) -> None:
        """Bring the in-memory index up to date with the file (hold ``self.lock``)."""
        try:
            st = os.stat(self.name, dir_fd=self._dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            raise StorageError(
                f"index file {self.where} is missing; reopen the store to rebuild it"
            ) from None
        except OSError as exc:
            raise StorageError(f"cannot stat {self.where}: {exc.strerror}") from exc
        if st.st_ino == self._ino and st.st_size == self._offset and st.st_mtime_ns == self._mtime:
            return
        try:
            fd = os.open(self.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=self._dir_fd)
        except OSError as exc:
            raise StorageError(f"cannot read {self.where}: {exc.strerror}") from exc
        try:
            self._read(fd)
        except OSError as exc:
            raise StorageError(f"cannot read {self.where}: {exc.strerror}") from exc
        finally:
            os.close(fd)

    def _read(self, fd: int) -> None:
        st = os.fstat(fd)
        same_file = (
            st.st_ino == self._ino
            and st.st_size >= self._offset
            # An inode number can be reused by a later compaction: the header tells.
            and self._header(fd) == self._generation
        )
        if not same_file:
            self._reset()
        bad_before = self.bad_lines
        incremental = self._offset > 0
        data = _pread_all(fd, st.st_size - self._offset, self._offset)
        end = data.rfind(b"\n") + 1
        if end:
            self._parse(data[:end], first=self._offset == 0)
            self._offset += end
        self._ino = st.st_ino
        self._mtime = st.st_mtime_ns
        if incremental and self.bad_lines > bad_before:
            # A garbled tail can be a read that raced the repair of a torn line:
            # start over from the whole file rather than trust where we stopped.
            self._reset()
            self._read(fd)

    def _header(self, fd: int) -> str:
        first = os.pread(fd, 512, 0).split(b"\n", 1)[0]
        try:
            header = json.loads(first)
        except ValueError:
            return ""
        generation = header.get("generation") if isinstance(header, dict) else None
        return generation if isinstance(generation, str) else ""

    def _parse(self, data: bytes, *, first: bool) -> None:
        lines = data.split(b"\n")[:-1]
        if first and lines:
            try:
                header = json.loads(lines[0])
            except ValueError:
                header = None
            if isinstance(header, dict):
                generation = header.get("generation")
                self._generation = generation if isinstance(generation, str) else ""
                lines = lines[1:]
        if not lines:
            return
        try:
            # One C-level parse for the whole tail: what makes opening 100k-entry indices quick.
            entries = json.loads(b"[" + b",".join(lines) + b"]")
            for op, key, stem in entries:
                self._apply_checked(op, key, stem)
            self.lines += len(entries)
        except (ValueError, TypeError):
            self._parse_slowly(lines)

    def _parse_slowly(self, lines: list[bytes]) -> None:
        # Only after a hand edit or damage: the fast path above may have applied
        # part of the tail, and applying a line twice is harmless (+ sets, - removes).
        for raw in lines:
            try:
                op, key, stem = json.loads(raw)
                self._apply_checked(op, key, stem)
            except (ValueError, TypeError):
                self.bad_lines += 1
            else:
                self.lines += 1

    def _apply_checked(self, op: object, key: object, stem: object) -> None:
        if op not in ("+", "-") or not isinstance(key, str) or not isinstance(stem, str):
            raise ValueError("not an index line")
        self._apply(op, key, stem)

    # -- writing (the caller holds the store's exclusive lock) ----------------

    def append(self, entries: Iterable[Entry], *, durable: bool) -> None:
        """Append change lines and apply them in memory."""
        entries = list(entries)
        if not entries:
            return
        data = "".join(_line(e) + "\n" for e in entries).encode("utf-8")
        with self.lock:
            self.refresh()
            self._cut_torn_tail()
            st = _atomic.append(self._dir_fd, self.name, data, durable=durable, where=self.where)
            if st.st_ino != self._ino or st.st_size != self._offset + len(data):
                self._ino = -1  # someone else wrote too: reread from scratch next time
                return
            for op, key, stem in entries:
                self._apply(op, key, stem)
            self.lines += len(entries)
            self._offset = st.st_size
            self._mtime = st.st_mtime_ns

    def _cut_torn_tail(self) -> None:
        # Bytes past the last complete line while we hold the exclusive lock can
        # only be a line torn by a writer that died: drop them before appending.
        try:
            st = os.stat(self.name, dir_fd=self._dir_fd, follow_symlinks=False)
            if st.st_size > self._offset and st.st_ino == self._ino:
                _truncate(self._dir_fd, self.name, self._offset)
        except OSError as exc:
            raise StorageError(f"cannot repair {self.where}: {exc.strerror}") from exc

    def needs_compaction(self, min_dead: int) -> bool:
        """Whether dead lines outnumber both ``min_dead`` and the live entries."""
        dead = self.lines - self.live()
        return dead > max(min_dead, self.live())

    def rewrite(self, entries: Iterable[tuple[str, str]], *, durable: bool) -> None:
        """Replace the file with a header and ``entries`` under a new generation."""
        generation = secrets.token_hex(8)
        header = json.dumps({"index": self.field, "generation": generation})
        body = "".join(_line(("+", key, stem)) + "\n" for key, stem in entries)
        data = (header + "\n" + body).encode("utf-8")
        with self.lock:
            _atomic.write_atomic(self._dir_fd, self.name, data, durable=durable, where=self.where)
            self._reset()  # the next refresh reads the new file

    def compact(self, *, durable: bool) -> None:
        """Rewrite the file with only the entries in force."""
        with self.lock:
            self.refresh()
            live = list(self.entries())
        self.rewrite(live, durable=durable)

    def exists(self) -> bool:
        """Whether the index file exists."""
        try:
            os.stat(self.name, dir_fd=self._dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise StorageError(f"cannot stat {self.where}: {exc.strerror}") from exc
        return True

    def repair_tail(self) -> bool:
        """Cut a torn last line (no final newline) off the file; ``True`` if there was one."""
        try:
            fd = os.open(self.name, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=self._dir_fd)
        except OSError as exc:
            raise StorageError(f"cannot open {self.where}: {exc.strerror}") from exc
        try:
            size = os.fstat(fd).st_size
            if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
                return False
            end = size
            while end > 0:
                start = max(0, end - 65536)
                found = os.pread(fd, end - start, start).rfind(b"\n")
                if found >= 0:
                    end = start + found + 1
                    break
                end = start
            os.ftruncate(fd, end)
            return True
        except OSError as exc:
            raise StorageError(f"cannot repair {self.where}: {exc.strerror}") from exc
        finally:
            os.close(fd)

    def torn_tail(self) -> bool:
        """Whether the file ends in an incomplete line (call ``refresh`` first)."""
        try:
            st = os.stat(self.name, dir_fd=self._dir_fd, follow_symlinks=False)
        except OSError as exc:
            raise StorageError(f"cannot stat {self.where}: {exc.strerror}") from exc
        return st.st_size > self._offset


def _pread_all(fd: int, size: int, offset: int) -> bytes:
    chunks = []
    while size > 0:
        chunk = os.pread(fd, size, offset)
        if not chunk:
            break
        chunks.append(chunk)
        size -= len(chunk)
        offset += len(chunk)
    return b"".join(chunks)


def _truncate(dir_fd: int, name: str, size: int) -> None:
    fd = os.open(name, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    try:
        os.ftruncate(fd, size)
    finally:
        os.close(fd)


class UniqueIndex(Index):
    """Key -> the one record file stem holding it (e-mail, provider account, session token)."""

    unique = True

    def _clear(self) -> None:
        self._map: dict[str, str] = {}

    def _apply(self, op: str, key: str, stem: str) -> None:
        if op == "+":
            self._map[key] = stem
        elif self._map.get(key) == stem:
            del self._map[key]

    def live(self) -> int:
        return len(self._map)

    def entries(self) -> Iterator[tuple[str, str]]:
        return iter(list(self._map.items()))

    def contains(self, key: str, stem: str) -> bool:
        return self._map.get(key) == stem

    def get(self, key: str) -> str | None:
        """The stem indexed under ``key``, refreshed from the file first."""
        with self.lock:
            self.refresh()
            return self._map.get(key)


class MultiIndex(Index):
    """Key -> every record file stem holding it (a user id -> that user's sessions)."""

    def _clear(self) -> None:
        self._map: dict[str, set[str]] = {}
        self._count = 0

    def _apply(self, op: str, key: str, stem: str) -> None:
        stems = self._map.get(key)
        if op == "+":
            if stems is None:
                self._map[key] = {stem}
                self._count += 1
            elif stem not in stems:
                stems.add(stem)
                self._count += 1
        elif stems is not None and stem in stems:
            stems.discard(stem)
            self._count -= 1
            if not stems:
                del self._map[key]

    def live(self) -> int:
        return self._count

    def entries(self) -> Iterator[tuple[str, str]]:
        return iter([(key, stem) for key, stems in self._map.items() for stem in sorted(stems)])

    def contains(self, key: str, stem: str) -> bool:
        return stem in self._map.get(key, ())

    def get_all(self, key: str) -> list[str]:
        """Every stem indexed under ``key``, refreshed from the file first."""
        with self.lock:
            self.refresh()
            return sorted(self._map.get(key, ()))
