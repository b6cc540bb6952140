"""Backups of a live store, and restoring them into any store.

``backup(store, dest_dir)`` writes one file into ``dest_dir``, named
``auth-store-<backend>-<name>-<time>.<ext>``. A backend that makes native
backups (``auth_store.capabilities.SupportsBackup``) writes it its own way
and names the store (``<name>``: its file or database name and a short hash
of where it is, so two stores that share a file name never share a backup
name). The built-in ones:

* sqlite: SQLite's online backup API in one step - a consistent snapshot
  while other processes keep writing (``.sqlite3``, a self-contained file);
* file: the file store's snapshot (``.tar.gz``);
* postgres: ``pg_dump --format=custom`` when it is on PATH and works
  (``.pgdump``), otherwise an export (the result's ``note`` says why).

Any other backend, or ``format="jsonl"``, gets ``export()`` as JSON Lines
(``.jsonl``, see ``auth_store.jsonl``).

Every backup is written under a temporary name in a private directory,
fsynced and moved into place, so a file with a backup's name is always
complete; it is readable by its owner only. A backup never replaces a file:
should one with its name (the time to the microsecond) be there already, it
fails with ``auth_store.output_file.OutputExistsError`` and writes nothing.
Afterwards only the newest ``keep`` backups of the same store (same backend
and name) are kept in ``dest_dir`` - older ones are deleted; files that do
not match the naming pattern are never touched. ``keep=0`` keeps all.

``restore(path, target)`` reads any of these files back into a store that
must be empty (an interrupted restore can be rerun). The backend whose
backup it is opens it as a read-only source (``SupportsRestore``: a SQLite
copy or an extracted file store in a temporary directory; an export file is
read as it is), and it is migrated into the target with full verification,
so a SQLite backup can be restored into a file store and the other way
round. A backend whose backups only load into a store of its kind
(``SupportsRestoreInPlace``: a ``.pgdump``, through ``pg_restore``) restores
into such a target only.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import clock
from .adapter import Adapter
from .capabilities import (
    NativeBackupUnavailableError,
    ProgressCallback,
    RecognizesBackup,
    SupportsBackup,
    SupportsRestore,
    SupportsRestoreInPlace,
)
from .connect import backend_classes
from .errors import StorageError, ValidationError
from .jsonl import JsonlSource, export_file
from .migration import MigrationResult, Source, migrate
from .output_file import publish

__all__ = [
    "BACKUP_NAME",
    "BackupResult",
    "RestoreResult",
    "backup",
    "list_backups",
    "open_backup",
    "restore",
]

#: The name of every backup file; retention only ever deletes files that match it.
BACKUP_NAME = re.compile(
    r"^auth-store-(?P<backend>[a-z0-9]+)-(?P<name>[A-Za-z0-9_.-]+)-"
    r"(?P<stamp>\d{8}T\d{12}Z)\.(?P<ext>[a-z0-9]+(?:\.[a-z0-9]+)?)$"
)

_JSONL = "jsonl"


@dataclass
class BackupResult:
    """What ``backup`` wrote and removed."""

    path: Path
    backend: str
    method: str
    size: int
    removed: list[Path] = field(default_factory=list)
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The result as a JSON-ready dict."""
        return {
            "path": str(self.path),
            "backend": self.backend,
            "method": self.method,
            "size": self.size,
            "removed": [str(p) for p in self.removed],
            "note": self.note,
        }


@dataclass
class RestoreResult:
    """What ``restore`` did: the method, the migration (with its verification), the counts."""

    path: Path
    method: str
    migration: MigrationResult | None = None
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether the restore completed and verified."""
        return self.migration is None or self.migration.ok

    def to_dict(self) -> dict[str, Any]:
        """The result as a JSON-ready dict."""
        return {
            "ok": self.ok,
            "path": str(self.path),
            "method": self.method,
            "migration": None if self.migration is None else self.migration.to_dict(),
            "counts": self.counts,
        }


# -- naming and retention ----------------------------------------------------


def _slug(text: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._-")
    return slug[:60] or "store"


def _store_name(store: Adapter) -> str:
    """The backend's name for the store when it has one, else the backend's name."""
    if isinstance(store, SupportsBackup):
        return _slug(store.backup_name())
    return _slug(store.backend)


def list_backups(dest_dir: Path, backend: str | None = None, name: str | None = None) -> list[Path]:
    """Backup files in ``dest_dir`` (optionally of one store), oldest first."""
    found = []
    for path in Path(dest_dir).iterdir():
        match = BACKUP_NAME.match(path.name)
        if match is None or not path.is_file():
            continue
        if backend is not None and match["backend"] != backend:
            continue
        if name is not None and match["name"] != name:
            continue
        found.append((match["stamp"], path))
    return [path for _, path in sorted(found)]


def _prune(dest_dir: Path, backend: str, name: str, keep: int) -> list[Path]:
    if keep == 0:
        return []
    backups = list_backups(dest_dir, backend, name)
    old = backups[: max(0, len(backups) - keep)]
    for path in old:
        path.unlink(missing_ok=True)
    return old


def _finish(tmp: Path, final: Path) -> None:
    os.chmod(tmp, 0o600)
    with open(tmp, "rb") as stream:
        os.fsync(stream.fileno())
    publish(tmp, final)  # never over a file that has the name already


# -- backup ------------------------------------------------------------------


def backup(
    store: Adapter,
    dest_dir: Path,
    *,
    url: str | None = None,
    keep: int = 24,
    format: str = "native",
    progress: ProgressCallback | None = None,
) -> BackupResult:
    """Write a backup of ``store`` into ``dest_dir``; see the module doc.

    ``format`` is ``native`` (the backend's own method, when it has one) or
    ``jsonl`` (an export). ``url`` is accepted for compatibility and unused:
    the store itself knows where it is.
    """
    del url
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 0:
        raise ValidationError("keep must be an int >= 0 (0 keeps every backup)")
    if format not in {"native", _JSONL}:
        raise ValidationError("format must be 'native' or 'jsonl'")
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    backend = _slug(store.backend).replace("_", "").replace("-", "").replace(".", "").lower()
    backend = backend or "store"
    name = _store_name(store)
    stamp = clock.now().strftime("%Y%m%dT%H%M%S%fZ")
    base = f"auth-store-{backend}-{name}-{stamp}"
    note = None
    # Written in a private directory (0700): sqlite3 and pg_dump create their
    # files with the umask's permissions, and the file is only made 0600 at
    # the end; nobody else may open it in between.
    work = Path(tempfile.mkdtemp(prefix=".auth-store-backup-", dir=dest_dir))
    try:
        method, suffix = "export", _JSONL
        if format == "native" and isinstance(store, SupportsBackup):
            try:
                made = store.backup(work / base, progress=progress)
                method, suffix = made.method, made.suffix
            except NativeBackupUnavailableError as exc:
                note = f"{exc}; wrote an export instead"
                (work / base).unlink(missing_ok=True)
        if method == "export":
            _export_backup(store, work / base, progress)
        final = dest_dir / f"{base}.{suffix}"
        if BACKUP_NAME.match(final.name) is None:
            raise StorageError(f"the {store.backend} backend asked for a bad suffix {suffix!r}")
        _finish(work / base, final)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    removed = _prune(dest_dir, backend, name, keep)
    return BackupResult(
        path=final,
        backend=store.backend,
        method=method,
        size=final.stat().st_size,
        removed=removed,
        note=note,
    )


def _export_backup(store: Adapter, out: Path, progress: ProgressCallback | None) -> None:
    total = sum(store.counts().values())
    done = 0

    def tick(collection: str, n: int) -> None:
        nonlocal done
        done += 1
        if progress is not None and done % 250 == 0:
            progress("backup", done, max(total, done))

    export_file(store.export(), out, backend=store.backend, on_record=tick)
    if progress is not None:
        progress("backup", done, max(total, done))


# -- restore -----------------------------------------------------------------


def _head(path: Path) -> bytes:
    try:
        with open(path, "rb") as stream:
            return stream.read(16)
    except OSError as exc:
        raise StorageError(f"cannot read {path}: {exc.strerror}") from exc


def _owner(head: bytes) -> type[Adapter] | None:
    """The backend class whose native backup starts with ``head``, if any."""
    for cls in backend_classes():
        if issubclass(cls, RecognizesBackup) and cls.recognizes_backup(head):
            return cls
    return None


@contextmanager
def open_backup(path: Path) -> Iterator[Source]:
    """A backup file opened as a read-only migration source (temporary copies are removed)."""
    path = Path(path)
    head = _head(path)
    owner = _owner(head)
    if owner is None:
        if not head.startswith(b"{"):
            raise ValidationError(f"{path} is not an auth-store backup (unknown format)")
        yield JsonlSource(path)  # an export; JsonlSource refuses anything else
        return
    if not issubclass(owner, SupportsRestore):
        raise ValidationError(
            f"a {owner.backend} backup can only be restored into a {owner.backend} store"
        )
    with tempfile.TemporaryDirectory(prefix="auth-store-restore-") as work:
        source = owner.open_backup(path, Path(work))
        try:
            yield source
        finally:
            source.close()


def restore(
    path: Path,
    target: Adapter,
    *,
    url: str | None = None,
    batch_size: int = 500,
    sample: int = 100,
    progress: ProgressCallback | None = None,
) -> RestoreResult:
    """Restore the backup at ``path`` into ``target``, which must be empty; see the module doc.

    ``url`` is accepted for compatibility and unused.
    """
    del url
    path = Path(path)
    head = _head(path)
    if isinstance(target, SupportsRestoreInPlace) and target.recognizes_backup(head):
        if any(target.counts().values()):
            raise ValidationError("the target store is not empty; restore into an empty store")
        method = target.restore_backup(path)
        return RestoreResult(path=path, method=method, counts=target.counts())
    with open_backup(path) as source:
        result = migrate(source, target, batch_size=batch_size, sample=sample, progress=progress)
    return RestoreResult(path=path, method="migrate", migration=result, counts=target.counts())
