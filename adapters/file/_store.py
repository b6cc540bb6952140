"""The file store's engine: opening and recovery, the write protocol, verified lookups.

The write protocol keeps one invariant: **every key of every record on disk
has its index entry** (indices may hold more, never less). So a change

1. records its intent in the lock file (collection, stem, the index keys it
   adds and drops - never a secret: the session index key is a hash);
2. appends the index lines it adds to the collection's log, in one write
   (on disk before the record when durable: fsynced at the next checkpoint,
   with a marker that makes a machine crash rebuild the indices, ``_durability``);
3. writes or deletes the record file (temp, fsync, rename, fsync dir);
4. appends the index lines it drops (no fsync: a lost drop is a harmless
   stale line);
5. clears the intent.

A writer that dies anywhere in between leaves at worst stale index entries
and the one temp file the intent names. The next holder of the lock finds
the intent and reconciles that one record against its file: records are the
truth. Lookups check the record on every hit, so a stale entry can never
return a wrong record. Opening recovers from the intent alone and never lists
a record directory; ``check``/``repair`` look at every file.
"""

from __future__ import annotations

import contextlib
import fcntl
import hmac
import json
import logging
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from auth_store.errors import ConfigurationError, NoStoreError, StorageError

from . import _atomic, _durability
from ._index import LOG_NAME, Entry, IndexLog
from ._layout import (
    COLLECTION_SPECS,
    FORMAT,
    FORMAT_VERSION,
    INDEX_DIR,
    META_NAME,
    Collection,
    IndexSpec,
    decode_record,
)
from ._locking import LOCK_NAME, StoreLock
from ._table import time_number

__all__ = ["BACKUP_PREFIX", "FileStore", "Found"]

log = logging.getLogger("auth_store.adapters.file")

#: Prefix of the staging directories ``backup`` builds inside the root.
BACKUP_PREFIX = ".backup-"

#: A log longer than this without its table gets one when the store opens.
TABLE_AFTER_BYTES = 1 << 18

#: A record found through an index: its file stem and raw content.
Found = tuple[str, dict[str, Any]]

#: (collection, field) -> the index's spec.
_INDEX_SPECS = {
    (name, spec.field): spec for name, c in COLLECTION_SPECS.items() for spec in c.indices
}


_ascii = json.encoder.encode_basestring_ascii


def _intent(collection: str, stem: str, keys: list[tuple[str, str]]) -> bytes:
    """The intent line: ``json.dumps({"c": collection, "s": stem, "k": keys})`` and a newline
    (written by hand: a handful of strings need no encoder)."""
    pairs = ", ".join([f"[{_ascii(field)}, {_ascii(key)}]" for field, key in keys])
    text = f'{{"c": {_ascii(collection)}, "s": {_ascii(stem)}, "k": [{pairs}]}}\n'
    return text.encode("ascii")


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


class FileStore:
    """One open file store: descriptors, the lock, the collections."""

    def __init__(
        self, root: str, *, durable: bool, compact_min_dead: int, create: bool = True
    ) -> None:
        self.root = os.path.abspath(root)
        self.durable = durable
        #: With a boot id, durable index lines are fsynced at checkpoints, not one by one.
        self._boot = _durability.boot_id() if durable else None
        self._lines_durable = durable and self._boot is None
        self._unsynced = False
        self.compact_min_dead = compact_min_dead
        self.collections: dict[str, Collection] = {}
        self.root_fd = -1
        try:
            if create:
                os.makedirs(self.root, mode=0o700, exist_ok=True)
            elif not os.path.isdir(self.root):
                raise NoStoreError(f"no store at {self.root}: no such directory")
            self.root_fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            raise StorageError(
                f"cannot open the file store at {self.root}: {exc.strerror}"
            ) from exc
        try:
            if not create and not self._has_meta():
                raise NoStoreError(f"no store at {self.root}: the directory holds no file store")
            self.lock = StoreLock(self.root_fd, self.root)
            with self.lock.exclusive():
                version = self._open_meta()
                for name, spec in COLLECTION_SPECS.items():
                    collection = Collection(self.root_fd, self.root, spec, durable=durable)
                    collection.index.holding = self.lock.holding
                    self.collections[name] = collection
                if version < FORMAT_VERSION:
                    self._upgrade(version)
                self._recover_on_open()
        except OSError as exc:
            self.close()
            raise StorageError(f"cannot open the file store at {self.root}: {exc}") from exc
        except BaseException:
            self.close()
            raise

    # -- opening ----------------------------------------------------------------

    def _has_meta(self) -> bool:
        """Whether the root holds the store's ``_meta.json`` (written when a store is made)."""
        try:
            os.stat(META_NAME, dir_fd=self.root_fd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        return True

    def _open_meta(self) -> int:
        """Read (or, in an empty directory, write) ``_meta.json``; return the format version."""
        where = f"{self.root}/{META_NAME}"
        data = _atomic.read(self.root_fd, META_NAME, where=where)
        if data is None:
            foreign = [n for n in os.listdir(self.root_fd) if n != LOCK_NAME]
            if foreign:
                raise ConfigurationError(
                    f"{self.root} is not empty and holds no {META_NAME}: "
                    "not a file store (refusing to write into it)"
                )
            self._write_meta()
            return FORMAT_VERSION
        meta = decode_record(data, where)
        if meta.get("format") != FORMAT or not isinstance(meta.get("version"), int):
            raise ConfigurationError(f"{where} does not describe an auth-store file store")
        if meta["version"] > FORMAT_VERSION:
            raise ConfigurationError(
                f"the file store at {self.root} has format version {meta['version']}; "
                f"this auth-store reads version {FORMAT_VERSION} (upgrade auth-store)"
            )
        return int(meta["version"])

    def _write_meta(self) -> None:
        fresh = {"format": FORMAT, "version": FORMAT_VERSION}
        _atomic.write_atomic(
            self.root_fd,
            META_NAME,
            (json.dumps(fresh, indent=2) + "\n").encode(),
            durable=self.durable,
            where=f"{self.root}/{META_NAME}",
        )

    def _upgrade(self, version: int) -> None:
        """Bring a store of an older format to this one (the caller holds the lock).

        Version 1 kept a log per indexed field: every collection's log is
        rebuilt from its records (the one time opening reads them all).
        """
        log.warning("file store %s: upgrading format %d to %d", self.root, version, FORMAT_VERSION)
        for collection in self.collections.values():
            self.rebuild_indices(collection)
            for name in os.listdir(collection.index_fd):
                if name.endswith(".jsonl") and name != LOG_NAME:
                    where = f"{collection.where}/{INDEX_DIR}/{name}"
                    _atomic.remove(collection.index_fd, name, durable=False, where=where)
        self._write_meta()

    def _recover_on_open(self) -> None:
        """Repair what a crash can leave (the caller holds the lock).

        Only the root and the index directories are listed (a handful of
        entries each): a record's temp file can only exist under a write
        intent, which ``_recover_intent`` reconciles by name.
        """
        removed = self._sweep_backups()
        for collection in self.collections.values():
            removed += collection.sweep_index_temps()
        removed += [f"{self.root}/{n}" for n in self._sweep_root_temps()]
        if removed:
            log.warning("file store %s: removed %d stray temp file(s)", self.root, len(removed))
        marker = _durability.read_marker(self.root_fd, self.root)
        if marker is not None and marker != _durability.boot_id():
            log.warning(
                "file store %s: the machine stopped before index lines reached the disk; "
                "rebuilding the indices from the records",
                self.root,
            )
            for collection in self.collections.values():
                self.rebuild_indices(collection)
            _durability.clear_marker(self.root_fd, self.root)
        for collection in self.collections.values():
            index = collection.index
            if not index.exists():
                if self.rebuild_indices(collection):
                    log.warning(
                        "file store %s: rebuilt the indices of %s", self.root, collection.name
                    )
                continue
            if index.repair_tail():
                log.warning("file store %s: cut a torn last line off %s", self.root, index.where)
        self._recover_intent()
        for collection in self.collections.values():
            if not collection.index.has_table() and collection.index.size() > TABLE_AFTER_BYTES:
                # A restored backup, or a crash during a compaction: map, don't load.
                collection.index.checkpoint(durable=self.durable)

    def _sweep_root_temps(self) -> list[str]:
        names = [n for n in os.listdir(self.root_fd) if _atomic.is_temp_name(n)]
        for name in names:
            _atomic.remove(self.root_fd, name, durable=False, where=f"{self.root}/{name}")
        return names

    def _sweep_backups(self) -> list[str]:
        """Remove staging directories of backups whose process died."""
        removed = []
        for name in os.listdir(self.root_fd):
            if not name.startswith(BACKUP_PREFIX):
                continue
            path = f"{self.root}/{name}"
            try:
                fd = os.open(
                    name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=self.root_fd
                )
            except OSError:
                continue
            try:
                # A running backup holds a lock on its staging directory.
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue
            try:
                shutil.rmtree(path)
                removed.append(path)
            finally:
                os.close(fd)
        return removed

    # -- the write protocol -----------------------------------------------------

    @contextmanager
    def write(self) -> Iterator[None]:
        """Hold the store's exclusive lock (recovering an interrupted write first)."""
        with self.lock.exclusive() as outermost:
            if outermost:
                self._recover_intent()
            yield

    def apply(
        self,
        collection: Collection,
        stem: str,
        old: dict[str, Any] | None,
        new: dict[str, Any] | None,
    ) -> None:
        """Change record ``stem`` from ``old`` to ``new`` (``None``: absent), indices first.

        The caller holds ``write()`` and has read ``old`` under it.
        """
        old_keys = self.keys(collection, old) if old is not None else {}
        new_keys = self.keys(collection, new) if new is not None else {}
        adds = [(f, k) for f, k in new_keys.items() if old_keys.get(f) != k]
        drops = [(f, k) for f, k in old_keys.items() if new_keys.get(f) != k]
        self.lock.write_intent(_intent(collection.name, stem, adds + drops))
        index = collection.index
        try:
            self._append(index, [("+", f, k, stem) for f, k in adds])
            if new is None:
                collection.remove(stem, durable=self.durable)
            else:
                collection.write(stem, new, durable=self.durable)
            index.append([("-", f, k, stem) for f, k in drops], durable=False)
        except StorageError:
            # A failed write (a full disk, a failed fsync) is reconciled at once, so
            # counts and lookups agree with the records; if that fails too, the
            # intent stays for the next holder of the lock.
            with contextlib.suppress(StorageError, OSError):
                self._recover_intent()
            raise
        self.lock.clear_intent()
        self.maintain(collection)

    def _append(self, index: IndexLog, entries: list[Entry]) -> None:
        """Append index lines that must be on disk before the record they index."""
        if entries and self._boot is not None and not self._unsynced_marked():
            _durability.set_marker(self.root_fd, self.root, self._boot)
        index.append(entries, durable=self._lines_durable)
        self._unsynced = self._unsynced or self._boot is not None

    def _unsynced_marked(self) -> bool:
        try:
            os.stat(_durability.MARKER_NAME, dir_fd=self.root_fd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        return True

    def sync_indices(self) -> None:
        """fsync every log and remove the unsynced marker (the caller holds the lock)."""
        if self._boot is None:
            return
        for collection in self.collections.values():
            collection.index.sync()
        if self._unsynced_marked():
            _durability.clear_marker(self.root_fd, self.root)
        self._unsynced = False

    def maintain(self, collection: Collection) -> None:
        """Compact the collection's log or fold its tail into a table, when due.

        Either one starts with every log fsynced: a table never points past what
        is on disk.
        """
        due = collection.index.due(self.compact_min_dead)
        if due == "compact":
            self.sync_indices()
            collection.index.compact(durable=self.durable)
        elif due == "checkpoint":
            self.sync_indices()
            collection.index.checkpoint(durable=self.durable)

    def keys(self, collection: Collection, record: dict[str, Any]) -> dict[str, str]:
        """The index keys of a raw record, field by field."""
        try:
            return {spec.field: spec.key(record) for spec in collection.spec.indices}
        except (KeyError, TypeError) as exc:
            raise StorageError(
                f"a {collection.name} record lacks a valid field ({exc}); run check()"
            ) from None

    def _recover_intent(self) -> None:
        raw = self.lock.read_intent()
        if not raw:
            return
        try:
            if not raw.endswith(b"\n"):
                raise ValueError("torn intent")
            intent = json.loads(raw)
            collection = self.collections[intent["c"]]
            stem = intent["s"]
            keys = [(str(f), str(k)) for f, k in intent["k"]]
            if not isinstance(stem, str) or "/" in stem or stem.startswith("."):
                raise ValueError("bad stem")
            if any(f not in collection.index.specs for f, _ in keys):
                raise ValueError("bad index")
        except (ValueError, TypeError, KeyError):
            log.warning("file store %s: unreadable write intent; rebuilding every index", self.root)
            for collection in self.collections.values():
                self.rebuild_indices(collection)
            self.lock.clear_intent()
            return
        log.warning(
            "file store %s: a writer died during a change in %s; reconciling it",
            self.root,
            collection.name,
        )
        collection.remove_temp(stem)
        self.reconcile(collection, stem, keys)
        self.lock.clear_intent()

    def reconcile(self, collection: Collection, stem: str, keys: list[tuple[str, str]]) -> None:
        """Make the index entries ``keys`` of record ``stem`` agree with its file."""
        try:
            record = collection.read(stem)
            current = self.keys(collection, record) if record is not None else {}
        except StorageError:
            return  # an unreadable record keeps its entries: check() reports it
        index = collection.index
        for field, key in keys:
            with index.lock:
                index.refresh()
                present = index.contains(field, key, stem)
            if current.get(field) == key and not present:
                self._append(index, [("+", field, key, stem)])
            elif current.get(field) != key and present:
                self._append(index, [("-", field, key, stem)])

    def rebuild_indices(self, collection: Collection) -> int:
        """Rewrite every index of ``collection`` from its records; return how many it read.

        The caller holds the lock.

        Entries that point at unreadable records are kept, so the record is
        found again once someone fixes its file.
        """
        entries: list[tuple[str, str, str]] = []
        unreadable: list[str] = []
        for stem in collection.stems():
            try:
                record = collection.read(stem)
                if record is None:
                    continue
                keys = self.keys(collection, record)
            except StorageError:
                unreadable.append(stem)
                continue
            entries += [(field, key, stem) for field, key in keys.items()]
        if unreadable and collection.index.exists():
            entries += self._entries_for(collection.index, set(unreadable))
        collection.index.rewrite(entries, durable=self.durable)
        return len(entries) + len(unreadable)

    @staticmethod
    def _entries_for(index: IndexLog, stems: set[str]) -> list[tuple[str, str, str]]:
        with index.lock:
            try:
                index.refresh()
            except StorageError:
                return []
            return [(f, k, s) for f, k, s in index.entries() if s in stems]

    # -- verified lookups -------------------------------------------------------

    def find_unique(self, collection: Collection, field: str, key: str) -> Found | None:
        """The record whose ``field`` key is ``key``, checked against its file.

        The index view this process holds is tried first: a record it names whose
        file holds ``key`` is the answer (keys are unique among the records, and
        the file is read now), whatever the index learnt since. Only when none
        does is the view brought up to date and asked again, so a record another
        process just wrote is found. Under the write lock, where a miss is the
        usual answer (a conflict check), the view is refreshed first.
        """
        spec = _INDEX_SPECS[collection.name, field]
        index = collection.index
        if not self.lock.owned():
            found = self._match(collection, spec, index.candidates(field, key, fresh=False), key)
            if found is not None:
                return found
        return self._match(collection, spec, index.candidates(field, key), key)

    @staticmethod
    def _match(collection: Collection, spec: IndexSpec, stems: list[str], key: str) -> Found | None:
        """The first of ``stems`` whose record's key is ``key``."""
        field = spec.field
        for stem in stems:
            record = collection.read(stem)
            if record is None:
                continue
            try:
                actual = spec.key(record)
            except (KeyError, TypeError):
                raise StorageError(
                    f"record file {collection.path(stem)} lacks its {field}"
                ) from None
            if _same(actual, key):
                return stem, record
        return None

    def find_owned(self, collection: Collection, user_id: str) -> list[Found]:
        """Every record of ``collection`` whose ``user_id`` is ``user_id``."""
        found: list[Found] = []
        for stem in sorted(set(collection.index.candidates("user_id", user_id))):
            record = collection.read(stem)
            if record is not None and record.get("user_id") == user_id:
                found.append((stem, record))
        return found

    def find_expiring(self, collection: Collection, cutoff: datetime) -> list[str]:
        """The stems whose ``expires`` index entry is before ``cutoff`` (unchecked:
        the caller re-reads each record). Costs what expires, not what is stored."""
        return collection.index.below("expires", time_number(cutoff))

    # -- life cycle -------------------------------------------------------------

    def close(self) -> None:
        """Close every descriptor (fsyncing the index lines this process left unsynced
        first, so a stopped app leaves no marker). Idempotent."""
        if self._unsynced and self.root_fd >= 0:
            with contextlib.suppress(StorageError, OSError), self.lock.exclusive():
                self.sync_indices()
        for collection in self.collections.values():
            collection.close()
        lock = getattr(self, "lock", None)
        if lock is not None:
            lock.close()
        if self.root_fd >= 0:
            os.close(self.root_fd)
            self.root_fd = -1
