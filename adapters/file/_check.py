"""``check()`` and ``repair()``: compare every record with every index, find damage, mend it.

Records are the truth. ``check`` reads every record file and every index
file (fresh from disk, not a process's cached index) under the store's
lock and reports each disagreement as an ``auth_store.problems.Problem``
(``path``: the file concerned; ``repairable``: whether ``repair`` can fix
it). ``repair`` fixes the repairable ones - rebuilding indices from
records, removing temp files and records whose user is gone, rewriting
records into canonical form - and returns what is left, which needs a
person (an unreadable record file, two users with one e-mail).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from auth_store import validation as v
from auth_store.errors import StorageError, ValidationError
from auth_store.models import Model
from auth_store.problems import CheckReport, Problem
from auth_store.records import from_dict, to_dict

from . import _atomic
from ._durability import MARKER_NAME
from ._index import LOG_NAME, IndexLog
from ._layout import (
    COLLECTION_SPECS,
    INDEX_DIR,
    META_NAME,
    RECORD_SUFFIX,
    Collection,
    IndexSpec,
)
from ._locking import LOCK_NAME
from ._store import BACKUP_PREFIX, FileStore
from ._table import TABLE_PREFIX

__all__ = ["KINDS", "check", "repair"]

_PREPARE: dict[str, Callable[[Any], Model]] = {
    "users": v.prepare_user,
    "accounts": v.prepare_account,
    "sessions": v.prepare_session,
    "verification_tokens": v.prepare_verification_token,
    "authenticators": v.prepare_authenticator,
    "credentials": v.prepare_credential,
}

#: Kinds of problem, and whether ``repair`` can fix them.
KINDS: dict[str, bool] = {
    "stray-temp-file": True,  # a write died before its rename
    "torn-index-line": True,  # an index file ends in half a line
    "bad-index-line": True,  # an index line that is not [op, key, stem]
    "missing-index-file": True,
    "missing-index-entry": True,  # a record key the index does not know
    "stale-index-entry": True,  # an index entry its record does not hold
    "orphan-record": True,  # points at a user that does not exist
    "noncanonical-record": True,  # valid, but not as the adapter writes it
    "unreadable-record": False,  # not JSON, not an object, or invalid fields
    "misnamed-record": False,  # the file name is not the record's id or key hash
    "duplicate-key": False,  # two records share a unique key
    "unexpected-entry": False,  # something the store did not put there
}


@dataclass
class _Scan:
    root: str
    problems: list[Problem] = field(default_factory=list)
    #: Per collection: stem -> raw record, for records that read and validate.
    records: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    #: Per collection: stem -> canonical raw record, where it differs from the file.
    canonical: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    #: Per collection: stems of record files that exist but can't be trusted.
    unreadable: dict[str, set[str]] = field(default_factory=dict)

    def add(self, kind: str, path: str, detail: str) -> None:
        top = os.path.relpath(path, self.root).split(os.sep, 1)[0]
        collection = top if top in COLLECTION_SPECS else "store"
        self.problems.append(Problem(kind, collection, detail, path=path, repairable=KINDS[kind]))


def check(store: FileStore) -> CheckReport:
    """Report every problem of the store; change nothing (but what opening recovers)."""
    try:
        with store.write():
            return CheckReport(backend="file", problems=_scan(store).problems)
    except OSError as exc:
        raise StorageError(f"cannot check the file store at {store.root}: {exc}") from exc


def repair(store: FileStore) -> CheckReport:
    """Fix every repairable problem; the report lists what was fixed and what is left."""
    try:
        return _repair(store)
    except OSError as exc:
        raise StorageError(f"cannot repair the file store at {store.root}: {exc}") from exc


def _repair(store: FileStore) -> CheckReport:
    with store.write():
        before = _scan(store)
        rebuild = {
            _owner(store, p.path).name
            for p in before.problems
            if p.kind.endswith(("-index-line", "-index-file", "-index-entry"))
        }
        for problem in before.problems:
            if problem.kind == "stray-temp-file":
                _remove_path(store, problem.path)
        for name in sorted(rebuild):
            store.rebuild_indices(store.collections[name])
        for collection in store.collections.values():
            _canonicalise(store, collection, before)
        for problem in before.problems:
            if problem.kind == "orphan-record":
                collection = _owner(store, problem.path)
                stem = os.path.basename(problem.path)[: -len(RECORD_SUFFIX)]
                record = before.records[collection.name].get(stem)
                if record is not None:
                    store.apply(collection, stem, record, None)
        after = _scan(store)
    left = set(after.problems)
    fixed = [p for p in before.problems if p not in left]
    return CheckReport(backend="file", problems=after.problems, repaired=fixed)


def _canonicalise(store: FileStore, collection: Collection, scan: _Scan) -> None:
    """Rewrite records in canonical form, unless that would make a unique key clash."""
    records = scan.records[collection.name]
    canonical = scan.canonical[collection.name]
    unique = [s for s in collection.spec.indices if s.unique]
    holders: dict[tuple[str, str], int] = {}
    for stem, record in records.items():
        for spec in unique:
            key = (spec.field, spec.key(canonical.get(stem, record)))
            holders[key] = holders.get(key, 0) + 1
    for stem, fixed in canonical.items():
        if any(holders[(spec.field, spec.key(fixed))] > 1 for spec in unique):
            continue  # two records would share a key: a person has to decide
        store.apply(collection, stem, records[stem], fixed)
        records[stem] = fixed


def _owner(store: FileStore, path: str) -> Collection:
    relative = os.path.relpath(path, store.root)
    return store.collections[relative.split(os.sep, 1)[0]]


def _remove_path(store: FileStore, path: str) -> None:
    directory, name = os.path.split(path)
    if directory == store.root:
        dir_fd = store.root_fd
    else:
        collection = _owner(store, path)
        dir_fd = collection.index_fd if os.path.basename(directory) == INDEX_DIR else collection.fd
    _atomic.remove(dir_fd, name, durable=store.durable, where=path)


# -- the scan ----------------------------------------------------------------------


def _scan(store: FileStore) -> _Scan:
    scan = _Scan(store.root)
    _scan_root(store, scan)
    for collection in store.collections.values():
        _scan_records(collection, scan)
    user_files = set(store.collections["users"].stems())
    for collection in store.collections.values():
        _scan_indices(collection, scan)
        if collection.spec.owned:
            for stem, record in scan.records[collection.name].items():
                if record["user_id"] not in user_files:
                    scan.add(
                        "orphan-record",
                        collection.path(stem),
                        "its user does not exist (repair deletes it)",
                    )
    return scan


def _scan_root(store: FileStore, scan: _Scan) -> None:
    expected = {META_NAME, LOCK_NAME, MARKER_NAME, *store.collections}
    for name in sorted(os.listdir(store.root_fd)):
        path = f"{store.root}/{name}"
        if name in store.collections:
            if stat.S_ISLNK(os.stat(name, dir_fd=store.root_fd, follow_symlinks=False).st_mode):
                scan.add("unexpected-entry", path, "a collection directory is a symlink")
        elif _atomic.is_temp_name(name):
            scan.add("stray-temp-file", path, "left by an interrupted write")
        elif name not in expected and not name.startswith(BACKUP_PREFIX):
            scan.add("unexpected-entry", path, "not part of a file store")


def _scan_records(collection: Collection, scan: _Scan) -> None:
    good: dict[str, dict[str, Any]] = {}
    canonical: dict[str, dict[str, Any]] = {}
    unreadable: set[str] = set()
    for entry in sorted(collection.listing(), key=lambda e: e.name):
        name = entry.name
        path = f"{collection.where}/{name}"
        if name == INDEX_DIR and entry.is_dir(follow_symlinks=False):
            continue
        if _atomic.is_temp_name(name):
            scan.add("stray-temp-file", path, "left by an interrupted write")
            continue
        if entry.is_symlink():
            scan.add("unexpected-entry", path, "a symlink (the store never follows one)")
            continue
        if not name.endswith(RECORD_SUFFIX) or not entry.is_file(follow_symlinks=False):
            scan.add("unexpected-entry", path, "not a record file")
            continue
        stem = name[: -len(RECORD_SUFFIX)]
        try:
            record = collection.read(stem)
            if record is None:
                continue  # deleted since the listing (cannot happen under the lock)
            model = _PREPARE[collection.name](from_dict(collection.name, record))
            expected_stem = collection.spec.stem(record)
        except (StorageError, ValidationError, KeyError, TypeError) as exc:
            scan.add("unreadable-record", path, str(exc) or type(exc).__name__)
            unreadable.add(stem)
            continue
        if expected_stem != stem:
            scan.add("misnamed-record", path, "the file name does not match the record it holds")
            unreadable.add(stem)
            continue
        good[stem] = record
        fixed = to_dict(model)
        if fixed != record:
            canonical[stem] = fixed
            scan.add(
                "noncanonical-record",
                path,
                "valid but not in canonical form (e-mail case, time zone, field types)",
            )
    scan.records[collection.name] = good
    scan.canonical[collection.name] = canonical
    scan.unreadable[collection.name] = unreadable
    try:
        with os.scandir(collection.index_fd) as entries:
            names = sorted(e.name for e in entries)
    except OSError as exc:
        raise StorageError(f"cannot list {collection.where}/{INDEX_DIR}: {exc.strerror}") from exc
    known = {LOG_NAME, collection.index.current_table()}
    for name in names:
        path = f"{collection.where}/{INDEX_DIR}/{name}"
        if _atomic.is_temp_name(name):
            scan.add("stray-temp-file", path, "left by an interrupted write")
        elif name.startswith(TABLE_PREFIX) and name not in known:
            scan.add("stray-temp-file", path, "the table of an older index log")
        elif name not in known:
            scan.add("unexpected-entry", path, "not an index of this collection")


def _scan_indices(collection: Collection, scan: _Scan) -> None:
    records = scan.records[collection.name]
    # A fresh reader: the files as they are, not what this process has cached.
    index = collection.new_index()
    where = index.where
    if not index.exists():
        scan.add("missing-index-file", where, "rebuilt from the records by repair")
        return
    try:
        with index.lock:
            index.refresh()
            if index.torn_tail():
                scan.add("torn-index-line", where, "the file ends in an incomplete line")
            if index.bad_lines:
                scan.add("bad-index-line", where, f"{index.bad_lines} line(s) are not index lines")
            specs = {spec.field: spec for spec in collection.spec.indices}
            for spec in specs.values():
                _scan_field(collection, scan, index, spec)
            for field_name, key, stem in index.entries():
                held = records.get(stem)
                if held is None and stem in scan.unreadable[collection.name]:
                    continue  # kept until someone fixes the record file
                if held is None or specs[field_name].key(held) != key:
                    scan.add(
                        "stale-index-entry",
                        where,
                        f"an entry points at {collection.path(stem)}, which does not hold its key",
                    )
    finally:
        index.close()


def _scan_field(collection: Collection, scan: _Scan, index: IndexLog, spec: IndexSpec) -> None:
    holders: dict[str, list[str]] = {}
    for stem, record in scan.records[collection.name].items():
        holders.setdefault(spec.key(record), []).append(stem)
    for key, stems in holders.items():
        if spec.unique and len(stems) > 1:
            for stem in stems:
                scan.add(
                    "duplicate-key",
                    collection.path(stem),
                    f"shares its {spec.field} with {len(stems) - 1} other record(s)",
                )
            continue
        for stem in stems:
            if not index.contains(spec.field, key, stem):
                scan.add(
                    "missing-index-entry", index.where, f"no entry for {collection.path(stem)}"
                )
