"""A collection's indices: one append-only JSONL log, and sorted tables covering its prefix.

The log (``<collection>/indices/log.jsonl``) starts with a header naming the
collection and a random *generation*, then holds one line per change of any
of the collection's indices::

    {"log": "sessions", "generation": "9f2c..."}
    ["+","session_token","<sha256 of the token>","<stem>"]
    ["+","user_id","4b1e...","<stem>"]
    ["+","expires","2031-01-01T12:00:00.000000+00:00","<stem>"]
    ["-","session_token","<sha256 of the token>","<stem>"]

One log per collection means one ``fdatasync`` per write, whatever the
number of indices. The entries in force at some byte of the log are also
kept as a sorted *table* (``_table``) that processes map instead of loading;
a process keeps in memory only the lines past the table (the *tail*), which
a writer folds into a new table once it grows (a *checkpoint*). When dead
lines outnumber live entries, the log is rewritten with only the live ones
under a new generation (a *compaction*): the new table is written first,
then the log, so a process that reads the new log finds its table.

Before a lookup a process compares the log's inode, size and mtime with
what it read last: unchanged costs one ``stat``; grown means reading only the
new lines; a new inode or generation means mapping the new table. So a lookup
made after another process committed finds the record, and costs the same at
1k and at 1M records. A lookup of a unique key may first try the view it
holds (``candidates(..., fresh=False)``): the caller checks the record it
names against its file, and only when none matches brings the view up to date
and looks again (a view is also refreshed once it is ``STALE_AFTER`` old).

Indices may hold *more* than the records (a line written by a writer that
died before the record), never less; the store checks the record on every
hit, so a stale line can cost a miss but never return a wrong record.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from auth_store.errors import StorageError

from . import _atomic
from ._table import TABLE_PREFIX, TABLE_SUFFIX, Table, number, table_name, tag, write_table

__all__ = ["LOG_NAME", "Entry", "FieldSpec", "IndexLog"]

T = TypeVar("T")

LOG_NAME = "log.jsonl"

#: One index change: ("+" | "-", field, key, record file stem).
Entry = tuple[str, str, str, str]

#: A checkpoint folds the tail into a new table once it holds this many lines...
CHECKPOINT_MIN = 256
#: ... or this fraction of the lines the table covers, whichever is more.
CHECKPOINT_SHARE = 32


#: A view answers optimistic lookups (``fresh=False``) for at most this many seconds.
STALE_AFTER = 1.0

_quote = json.encoder.encode_basestring  # the C one when present; never escapes non-ASCII


def _line(entry: Entry) -> bytes:
    """The log line of an entry: ``json.dumps(entry, ensure_ascii=False, separators=(",", ":"))``
    (written by hand: four strings need no encoder)."""
    try:
        return ("[" + ",".join(map(_quote, entry)) + "]\n").encode("utf-8")
    except TypeError:  # not a string: json.dumps says how (or refuses)
        text = json.dumps(entry, ensure_ascii=False, separators=(",", ":"))
        return (text + "\n").encode("utf-8")


@dataclass(frozen=True)
class FieldSpec:
    """An indexed field: whether a key names one record, whether keys are times."""

    name: str
    unique: bool
    ordered: bool = False


@dataclass
class _Field:
    spec: FieldSpec
    #: The table's arrays (empty without a table).
    numbers: Sequence[int] = ()
    tags: Sequence[int] = ()
    offsets: Sequence[int] = ()
    #: Entries the tail adds: key -> {stem: offset of its "+" line}.
    added: dict[str, dict[str, int]] = field(default_factory=dict)
    #: Offsets of table entries the tail removes.
    dead: set[int] = field(default_factory=set)
    live: int = 0


class IndexLog:
    """Every index of one collection (see the module doc)."""

    def __init__(self, dir_fd: int, collection: str, specs: Iterable[FieldSpec], where: str):
        self.collection = collection
        self.dir_where = where
        self.where = f"{where}/{LOG_NAME}"
        self.specs = {spec.name: spec for spec in specs}
        self._dir_fd = dir_fd
        self.lock = threading.Lock()
        #: Which holding of the store's write lock the calling thread is in (0: none).
        self.holding: Callable[[], int] = lambda: 0
        self._fd = -1
        #: An O_APPEND descriptor of the log, kept for appends while its inode is ``_wino``.
        self._wfd = -1
        self._wino = -1
        self._table: Table | None = None
        self._reset()

    def _reset(self) -> None:
        self._ino = -1
        self._mtime = -1
        self._offset = 0  # bytes consumed: always the end of a complete line
        self._size = 0  # the log's size at the last stat (past _offset: a torn line)
        self._checked = -STALE_AFTER  # time.monotonic() of the last refresh
        self._fresh_in = 0  # the holding of the write lock the view is known current in
        self._generation = ""
        self._fields = {name: _Field(spec) for name, spec in self.specs.items()}
        #: Change lines read (the table's and the tail's), and lines found unreadable.
        self.lines = 0
        self.bad_lines = 0
        if self._table is not None:
            self._table.close()
            self._table = None

    # -- reading the log (hold self.lock) ---------------------------------------

    def _drop_view(self) -> None:
        """Make the next refresh read the log from scratch."""
        self._ino = -1
        self._fresh_in = 0

    def refresh(self) -> None:
        """Bring the in-memory view up to date with the files (hold ``self.lock``).

        Once per holding of the store's write lock: while it is held nothing
        else appends, so the view stays current until the holder lets go.
        """
        holding = self.holding()
        if holding and holding == self._fresh_in:
            return
        self._refresh()
        self._fresh_in = holding if self._ino >= 0 else 0

    def _refresh(self) -> None:
        try:
            st = os.stat(LOG_NAME, dir_fd=self._dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            raise StorageError(
                f"index file {self.where} is missing; reopen the store to rebuild it"
            ) from None
        except OSError as exc:
            raise StorageError(f"cannot stat {self.where}: {exc.strerror}") from exc
        self._checked = time.monotonic()
        if st.st_ino == self._ino and st.st_size == self._offset and st.st_mtime_ns == self._mtime:
            self._size = st.st_size
            return
        try:
            if (
                st.st_ino != self._ino
                or st.st_size < self._offset
                # An inode number can be reused, or a file rewritten in place: the header tells.
                or self._header(self._fd)[0] != self._generation
            ):
                self._load()
            self._read_tail(retry=True)
            if self.tail_lines() > 2 * self._checkpoint_after() and self._newer_table():
                # A writer folded the tail into a newer table: map it, drop the tail.
                self._load()
                self._read_tail(retry=True)
        except OSError as exc:
            raise StorageError(f"cannot read {self.where}: {exc.strerror}") from exc

    def describe(self) -> dict[str, int]:
        """Sizes, for ``resources()``: the log's and its table's bytes, the lines in memory."""
        with self.lock:
            self.refresh()
            table = self._table.size() if self._table is not None else 0
            return {
                "log_bytes": self._offset,
                "table_bytes": table,
                "tail_lines": self.tail_lines(),
            }

    def tail_lines(self) -> int:
        """The change lines held in memory (those past the table)."""
        return self.lines - (self._table.lines if self._table is not None else 0)

    def _checkpoint_after(self) -> int:
        covered = self._table.lines if self._table is not None else 0
        return max(CHECKPOINT_MIN, covered // CHECKPOINT_SHARE)

    def _newer_table(self) -> bool:
        st = self._stat(table_name(self._generation))
        return st is not None and (self._table is None or st.st_ino != self._table.ino)

    def _load(self) -> None:
        """Open the log anew and map its table (if it has a whole one)."""
        fd = os.open(LOG_NAME, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=self._dir_fd)
        self._close_fd()
        self._reset()
        self._fd = fd
        st = os.fstat(fd)
        self._ino = st.st_ino
        self._generation, self._offset = self._header(fd)
        if not self._generation:
            return
        table = Table.load(
            self._dir_fd, table_name(self._generation), self._generation, list(self.specs)
        )
        if table is None or not self._offset <= table.covers <= st.st_size:
            if table is not None:
                table.close()
            return
        self._table = table
        self._offset = table.covers
        self.lines = table.lines
        for name, state in self._fields.items():
            state.numbers, state.tags, state.offsets = table.arrays(name)
            state.live = len(state.numbers)

    def _header(self, fd: int) -> tuple[str, int]:
        """The generation in the log's header, and where the change lines start."""
        if fd < 0:
            return "", 0
        first = os.pread(fd, 1024, 0).split(b"\n", 1)[0]
        try:
            header = json.loads(first)
        except ValueError:
            return "", 0
        if not isinstance(header, dict):
            return "", 0
        generation = header.get("generation")
        return (generation if isinstance(generation, str) else ""), len(first) + 1

    def _read_tail(self, *, retry: bool) -> None:
        st = os.fstat(self._fd)
        bad_before = self.bad_lines
        data = _pread_all(self._fd, st.st_size - self._offset, self._offset)
        end = data.rfind(b"\n") + 1
        if end:
            self._parse(data[:end], self._offset)
            self._offset += end
        self._mtime = st.st_mtime_ns
        self._size = st.st_size
        if retry and self.bad_lines > bad_before:
            # A garbled tail can be a read that raced the repair of a torn line:
            # start over from the file rather than trust where we stopped.
            self._load()
            self._read_tail(retry=False)

    def _parse(self, data: bytes, offset: int) -> None:
        lines = data.split(b"\n")[:-1]
        try:
            # One C-level parse for the whole tail, then each line is applied.
            entries = json.loads(b"[" + b",".join(lines) + b"]")
            if len(entries) != len(lines):
                raise ValueError("a line held more than one value")
        except ValueError:
            entries = [None] * len(lines)
        for raw, entry in zip(lines, entries, strict=True):
            if entry is None:
                try:
                    entry = json.loads(raw)
                except ValueError:
                    entry = None
            if self._apply_checked(entry, offset):
                self.lines += 1
            else:
                self.bad_lines += 1
            offset += len(raw) + 1

    def _apply_checked(self, entry: object, offset: int) -> bool:
        if not (isinstance(entry, list) and len(entry) == 4):
            return False
        op, name, key, stem = entry
        state = self._fields.get(name) if isinstance(name, str) else None
        if op not in ("+", "-") or state is None:
            return False
        if not isinstance(key, str) or not isinstance(stem, str):
            return False
        self._apply(state, op, key, stem, offset)
        return True

    def _apply(
        self, state: _Field, op: str, key: str, stem: str, offset: int, mark: int | None = None
    ) -> None:
        wanted = number(key, ordered=state.spec.ordered) if state.numbers else 0
        at = self._locate(state, key, stem, wanted, mark)
        if op == "+":
            if at is not None:
                return
            if state.spec.unique:
                for other, was in self._find(state, key, wanted):  # the newest line wins
                    self._remove(state, key, other, was)
            state.added.setdefault(key, {})[stem] = offset
            state.live += 1
        elif at is not None:
            self._remove(state, key, stem, at)

    def _remove(self, state: _Field, key: str, stem: str, at: int) -> None:
        stems = state.added.get(key)
        if stems is not None and stems.get(stem) == at:
            del stems[stem]
            if not stems:
                del state.added[key]
        else:
            state.dead.add(at)
        state.live -= 1

    def _locate(
        self,
        state: _Field,
        key: str,
        stem: str,
        wanted: int | None = None,
        mark: int | None = None,
    ) -> int | None:
        """The line offset of entry (key, stem) if it is in force (``wanted``, ``mark``: the
        key's number and the stem's tag, when the caller has them)."""
        added = state.added.get(key)
        if added is not None and stem in added:
            return added[stem]
        numbers, tags = state.numbers, state.tags
        if not numbers:
            return None
        if wanted is None:
            wanted = number(key, ordered=state.spec.ordered)
        low = bisect_left(numbers, wanted)
        high = bisect_right(numbers, wanted, low)
        if mark is None:
            mark = tag(stem)
        # Entries of one number are sorted by tag (a thousand sessions can expire
        # at the same microsecond): a second binary search, within their range.
        i = bisect_left(tags, mark, low, high)
        while i < high and tags[i] == mark:
            at = state.offsets[i]
            i += 1
            if at in state.dead:
                continue
            entry = self._line_at(at)
            if entry is not None and entry[2] == key and entry[3] == stem:
                return at
        return None

    def _find(self, state: _Field, key: str, wanted: int | None = None) -> list[tuple[str, int]]:
        """Every (stem, line offset) in force under ``key`` (``wanted``: its number)."""
        found: list[tuple[str, int]] = []
        if state.numbers:
            if wanted is None:
                wanted = number(key, ordered=state.spec.ordered)
            numbers, offsets = state.numbers, state.offsets
            i = bisect_left(numbers, wanted)
            while i < len(numbers) and numbers[i] == wanted:
                at = offsets[i]
                i += 1
                if at in state.dead:
                    continue
                entry = self._line_at(at)
                if entry is not None and entry[2] == key:
                    found.append((entry[3], at))
        added = state.added.get(key)
        if added:
            found += added.items()
        return found

    def _line_at(self, offset: int) -> Entry | None:
        """The change line starting at ``offset`` of the log (a table points there)."""
        chunk = os.pread(self._fd, 512, offset)
        end = chunk.find(b"\n")
        while end < 0:
            more = os.pread(self._fd, 65536, offset + len(chunk))
            if not more:
                return None
            chunk += more
            end = chunk.find(b"\n")
        try:
            entry = json.loads(chunk[:end])
        except ValueError:
            return None
        if isinstance(entry, list) and len(entry) == 4 and all(isinstance(x, str) for x in entry):
            return (entry[0], entry[1], entry[2], entry[3])
        return None

    def _stem_at(self, offset: int) -> str | None:
        """The stem of the line at ``offset``, without parsing the line: a stem is an id
        or a hex digest, so it is the line's last string and holds no escapes."""
        chunk = os.pread(self._fd, 256, offset)
        end = chunk.find(b"\n")
        if end < 0:
            entry = self._line_at(offset)
            return None if entry is None else entry[3]
        if chunk[end - 2 : end] != b'"]':
            return None
        start = chunk.rfind(b'"', 0, end - 2)
        return chunk[start + 1 : end - 2].decode("utf-8", "replace") if start >= 0 else None

    # -- lookups ----------------------------------------------------------------

    def candidates(self, name: str, key: str, *, fresh: bool = True) -> list[str]:
        """The stems that may be indexed under ``key`` in field ``name``, refreshed first.

        Table entries are matched by the key's 64-bit hash and not re-read: the
        caller checks each record's key, as it must anyway. With ``fresh=False``
        the view held is used as it is (unless it is older than ``STALE_AFTER``):
        it may lack the newest entries, so a caller that finds no matching record
        among these asks again with ``fresh=True``.
        """
        with self.lock:
            if fresh or self._ino < 0 or time.monotonic() - self._checked > STALE_AFTER:
                self.refresh()
            state = self._fields[name]
            stems: list[str] = []
            numbers = state.numbers
            if numbers:
                wanted = number(key, ordered=state.spec.ordered)
                i, n = bisect_left(numbers, wanted), len(numbers)
                while i < n and numbers[i] == wanted:
                    at = state.offsets[i]
                    i += 1
                    stem = None if at in state.dead else self._stem_at(at)
                    if stem is not None:
                        stems.append(stem)
            added = state.added.get(key)
            if added:
                stems += added
            return stems

    def below(self, name: str, bound: int) -> list[str]:
        """Every stem whose key in ordered field ``name`` has a number under ``bound``."""
        with self.lock:
            self.refresh()
            state = self._fields[name]
            stems: list[str] = []
            if state.numbers:
                for i in range(bisect_left(state.numbers, bound)):
                    at = state.offsets[i]
                    entry = None if at in state.dead else self._line_at(at)
                    if entry is not None:
                        stems.append(entry[3])
            for key, held in state.added.items():
                if number(key, ordered=True) < bound:
                    stems += held
            return stems

    def live(self, name: str) -> int:
        """The number of entries of field ``name`` in force, refreshed first."""
        with self.lock:
            self.refresh()
            return self._fields[name].live

    def contains(self, name: str, key: str, stem: str) -> bool:
        """Whether the entry is in force (hold ``self.lock`` and call ``refresh`` first)."""
        return self._locate(self._fields[name], key, stem) is not None

    def entries(self) -> Iterator[tuple[str, str, str]]:
        """Every (field, key, stem) in force (hold ``self.lock``, ``refresh`` first)."""
        for name, state in self._fields.items():
            for at in sorted(self._live_offsets(state)):
                entry = self._line_at(at)
                if entry is not None:
                    yield name, entry[2], entry[3]

    def _live_offsets(self, state: _Field) -> list[int]:
        offsets = [at for at in state.offsets if at not in state.dead]
        return offsets + [at for held in state.added.values() for at in held.values()]

    # -- writing (the caller holds the store's exclusive lock) -------------------

    def append(self, entries: Sequence[Entry], *, durable: bool) -> None:
        """Append change lines (one write, one fdatasync when durable) and apply them."""
        if not entries:
            return
        lines = [_line(e) for e in entries]
        data = b"".join(lines)
        with self.lock:
            self.refresh()
            self._cut_torn_tail()
            try:
                st = _atomic.append_to(self._writer(), data, durable=durable, where=self.where)
            except BaseException:
                self._fresh_in = 0  # the lines may be in the file: the next refresh reads them
                raise
            if st.st_ino != self._ino or st.st_size != self._offset + len(data):
                self._drop_view()  # someone else wrote too: reread from scratch next time
                return
            offset = self._offset
            marks: dict[str, int] = {}  # a write's lines share one stem: hash it once
            for (op, name, key, stem), line in zip(entries, lines, strict=True):
                state = self._fields[name]
                mark = None
                if state.numbers:
                    mark = marks.get(stem)
                    if mark is None:
                        mark = marks[stem] = tag(stem)
                self._apply(state, op, key, stem, offset, mark)
                offset += len(line)
            self.lines += len(entries)
            self._offset = st.st_size
            self._mtime = st.st_mtime_ns

    def _cut_torn_tail(self) -> None:
        # Bytes past the last complete line while we hold the exclusive lock can
        # only be a line torn by a writer that died: drop them before appending.
        # (Call right after refresh, which measured the log under the same lock.)
        if self._size <= self._offset:
            return
        try:
            _truncate(self._dir_fd, LOG_NAME, self._offset)
        except OSError as exc:
            raise StorageError(f"cannot repair {self.where}: {exc.strerror}") from exc
        self._size = self._offset

    def _writer(self) -> int:
        """An O_APPEND descriptor of the log file ``refresh`` just read (hold the store's
        lock): the one kept, unless the log was replaced since it was opened."""
        if self._wfd >= 0 and self._wino == self._ino:
            return self._wfd
        self._close_writer()
        flags = os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(LOG_NAME, flags, dir_fd=self._dir_fd)
        except OSError as exc:
            raise StorageError(f"cannot open {self.where}: {exc.strerror}") from exc
        self._wfd, self._wino = fd, os.fstat(fd).st_ino
        return fd

    def _close_writer(self) -> None:
        if self._wfd >= 0:
            os.close(self._wfd)
            self._wfd = self._wino = -1

    def _live(self) -> int:
        return sum(state.live for state in self._fields.values())

    def due(self, min_dead: int) -> str | None:
        """The upkeep the log needs now: ``"compact"`` when dead lines outnumber both
        ``min_dead`` and the live entries, ``"checkpoint"`` when the tail has grown enough
        to fold into a new table, else ``None``."""
        with self.lock:
            live = self._live()
            if self.lines - live > max(min_dead, live):
                return "compact"
            return "checkpoint" if self.tail_lines() > self._checkpoint_after() else None

    def checkpoint(self, *, durable: bool) -> None:
        """Write a table of every entry in force, covering the whole log."""
        with self.lock:
            self.refresh()
            if not self._generation:
                return  # a log without a header is rewritten by the next compaction
            entries = {}
            for name, state in self._fields.items():
                combined = [
                    n << 128 | t << 64 | at
                    for n, t, at in zip(state.numbers, state.tags, state.offsets, strict=True)
                    if at not in state.dead
                ]
                ordered = state.spec.ordered
                for key, held in state.added.items():
                    n = number(key, ordered=ordered) << 128
                    combined += [n | tag(stem) << 64 | at for stem, at in held.items()]
                combined.sort()
                entries[name] = combined
            write_table(
                self._dir_fd,
                table_name(self._generation),
                generation=self._generation,
                covers=self._offset,
                lines=self.lines,
                entries=entries,
                durable=durable,
                where=f"{self.dir_where}/{table_name(self._generation)}",
            )
            self._drop_view()  # map the new table at the next refresh

    def compact(self, *, durable: bool) -> None:
        """Rewrite the log with only the entries in force (copied, not re-encoded)."""
        with self.lock:
            self.refresh()
            live = sorted(
                (at, name)
                for name, state in self._fields.items()
                for at in self._live_offsets(state)
            )
            lines: list[Entry] = []
            for at, _ in live:
                entry = self._line_at(at)
                if entry is not None:
                    lines.append(entry)
        self._write_generation(lines, durable=durable)

    def rewrite(self, entries: Iterable[tuple[str, str, str]], *, durable: bool) -> None:
        """Replace the log with ``entries`` (field, key, stem) under a new generation."""
        self._write_generation([("+", name, key, stem) for name, key, stem in entries], durable)

    def _write_generation(self, entries: list[Entry], durable: bool) -> None:
        generation = secrets.token_hex(8)
        header = json.dumps({"log": self.collection, "generation": generation}) + "\n"
        parts = [header.encode("utf-8")]
        offset = len(parts[0])
        tables: dict[str, list[int]] = {name: [] for name in self.specs}
        for entry in entries:
            line = _line(entry)
            spec = self.specs[entry[1]]
            n = number(entry[2], ordered=spec.ordered)
            tables[spec.name].append(n << 128 | tag(entry[3]) << 64 | offset)
            parts.append(line)
            offset += len(line)
        for combined in tables.values():
            combined.sort()
        name = table_name(generation)
        with self.lock:
            # The table first: whoever reads the new log finds its table.
            write_table(
                self._dir_fd,
                name,
                generation=generation,
                covers=offset,
                lines=len(entries),
                entries=tables,
                durable=durable,
                where=f"{self.dir_where}/{name}",
            )
            data = b"".join(parts)
            _atomic.write_atomic(self._dir_fd, LOG_NAME, data, durable=durable, where=self.where)
            self._drop_view()
            self.remove_old_tables()

    def remove_old_tables(self) -> list[str]:
        """Delete the tables of other generations than the log's; return their paths."""
        current = table_name(self._header_of_file())
        removed = []
        for name in self.table_names():
            if name != current:
                where = f"{self.dir_where}/{name}"
                if _atomic.remove(self._dir_fd, name, durable=False, where=where):
                    removed.append(where)
        return removed

    def table_names(self) -> list[str]:
        """The table files in the index directory."""
        try:
            with os.scandir(self._dir_fd) as entries:
                return [
                    e.name
                    for e in entries
                    if e.name.startswith(TABLE_PREFIX) and e.name.endswith(TABLE_SUFFIX)
                ]
        except OSError as exc:
            raise StorageError(f"cannot list {self.dir_where}: {exc.strerror}") from exc

    def current_table(self) -> str:
        """The file name of the table the log on disk would use."""
        return table_name(self._header_of_file())

    def _stat(self, name: str) -> os.stat_result | None:
        """``name`` in the index directory, or ``None`` if it is missing."""
        try:
            return os.stat(name, dir_fd=self._dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageError(f"cannot stat {self.dir_where}/{name}: {exc.strerror}") from exc

    def _with_log(self, use: Callable[[int], T]) -> T | None:
        """``use`` applied to a fresh descriptor of the log; ``None`` if it is missing."""
        try:
            fd = os.open(LOG_NAME, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=self._dir_fd)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageError(f"cannot open {self.where}: {exc.strerror}") from exc
        try:
            return use(fd)
        finally:
            os.close(fd)

    def has_table(self) -> bool:
        """Whether the log on disk has a table of its generation."""
        return self._stat(self.current_table()) is not None

    def _header_of_file(self) -> str:
        return self._with_log(lambda fd: self._header(fd)[0]) or ""

    def sync(self) -> None:
        """fdatasync the log (lines any process appended)."""
        self._with_log(lambda fd: _atomic.datasync(fd, self.where))

    def exists(self) -> bool:
        """Whether the log file exists."""
        return self._stat(LOG_NAME) is not None

    def size(self) -> int:
        """The log's size in bytes (0 if it is missing)."""
        st = self._stat(LOG_NAME)
        return 0 if st is None else st.st_size

    def repair_tail(self) -> bool:
        """Cut a torn last line (no final newline) off the log; ``True`` if there was one."""
        try:
            fd = os.open(LOG_NAME, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=self._dir_fd)
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
            with self.lock:
                self._drop_view()
            return True
        except OSError as exc:
            raise StorageError(f"cannot repair {self.where}: {exc.strerror}") from exc
        finally:
            os.close(fd)

    def torn_tail(self) -> bool:
        """Whether the log ends in an incomplete line (call ``refresh`` first)."""
        try:
            st = os.stat(LOG_NAME, dir_fd=self._dir_fd, follow_symlinks=False)
        except OSError as exc:
            raise StorageError(f"cannot stat {self.where}: {exc.strerror}") from exc
        return st.st_size > self._offset

    def _close_fd(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def close(self) -> None:
        """Close the log and unmap the table. Idempotent."""
        with self.lock:
            self._close_fd()
            self._close_writer()
            self._reset()


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
