"""Backups of a live store, and restoring them into any store.

``backup(store, dest_dir, url=url)`` writes one file into ``dest_dir``,
named ``auth-store-<backend>-<name>-<time>.<ext>``, where ``<name>`` is the
store's file or database name followed by a short hash of its location (so
two stores that share a file name never share a backup name):

* sqlite: SQLite's online backup API in one step - a consistent snapshot
  while other processes keep writing (``.sqlite3``, a self-contained file);
* file: the file store's own ``backup()`` snapshot (``.tar.gz``);
* postgres: ``pg_dump --format=custom`` when it is on PATH and works
  (``.pgdump``), otherwise an export;
* any other backend, or ``format="jsonl"``: ``export()`` as JSON Lines
  (``.jsonl``, see ``auth_store.exchange``).

Every backup is written under a temporary name, fsynced and renamed, so a
file with a backup's name is always complete; it is readable by its owner
only. Afterwards only the newest ``keep`` backups of the same store (same
backend and name) are kept in ``dest_dir`` - older ones are deleted; files
that do not match the naming pattern are never touched. ``keep=0`` keeps all.

``restore(path, target)`` reads any of these files back into a store that
must be empty (an interrupted restore can be rerun): the backup is opened as a
read-only source (a SQLite copy or an extracted file store in a temporary
directory, or the export file itself) and migrated into the target with full
verification, so a SQLite backup can be restored into a file store and the
other way round. A ``.pgdump`` is restored with ``pg_restore`` into a
Postgres target only (into the schema it was taken from, with ``schema=``).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from . import clock
from .adapter import Adapter
from .connect import connect
from .errors import ConfigurationError, StorageError, ValidationError
from .exchange import JsonlSource, export_file
from .migration import MigrationResult, ProgressCallback, Source, migrate, store_path

__all__ = [
    "BACKUP_NAME",
    "BackupResult",
    "RestoreResult",
    "backup",
    "list_backups",
    "restore",
]

#: The name of every backup file; retention only ever deletes files that match it.
BACKUP_NAME = re.compile(
    r"^auth-store-(?P<backend>[a-z0-9]+)-(?P<name>[A-Za-z0-9_.-]+)-"
    r"(?P<stamp>\d{8}T\d{12}Z)\.(?P<ext>sqlite3|tar\.gz|pgdump|jsonl)$"
)

_SQLITE_MAGIC = b"SQLite format 3\x00"
_GZIP_MAGIC = b"\x1f\x8b"
_PGDUMP_MAGIC = b"PGDMP"

# libpq understands these URI parameters; anything else in a store URL is an
# auth-store backend option that pg_dump would reject.
_LIBPQ_PARAMS = frozenset(
    {
        "application_name",
        "channel_binding",
        "client_encoding",
        "connect_timeout",
        "gssencmode",
        "host",
        "hostaddr",
        "keepalives",
        "keepalives_count",
        "keepalives_idle",
        "keepalives_interval",
        "options",
        "passfile",
        "port",
        "service",
        "sslcert",
        "sslcrl",
        "sslkey",
        "sslmode",
        "sslrootcert",
        "target_session_attrs",
        "tcp_user_timeout",
    }
)


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


def _store_name(store: Adapter, url: str | None) -> str:
    """A readable name for the store plus a short hash of where it is.

    Retention deletes by this name, so it must tell apart stores that only
    share a readable name (``/srv/a/auth.db`` and ``/srv/b/auth.db``, one
    database on two hosts, two schemas of one database): otherwise backing
    up one would delete the other's backups.
    """
    if url is None:
        return "store"
    path = store_path(url)
    if path is not None:
        name = path.name
        for suffix in (".sqlite3", ".sqlite", ".db"):
            name = name.removesuffix(suffix)
        return f"{_slug(name)}.{_location_hash(os.path.realpath(path))}"
    parts = urlsplit(url)
    if parts.scheme.startswith("postgres"):
        name = parts.path.lstrip("/") or "postgres"
        schema = _pg_schema(url)
        if schema:
            name = f"{name}.{schema}"
        return f"{_slug(name)}.{_location_hash(_pg_location(url))}"
    return _slug(parts.scheme or store.backend)


def _location_hash(location: str) -> str:
    return hashlib.blake2b(location.encode("utf-8"), digest_size=4).hexdigest()


def _pg_location(url: str) -> str:
    """Host, port, database and schema of a Postgres URL (never its user or password)."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    where = {
        key: value
        for key, value in parse_qsl(parts.query)
        if key in {"host", "hostaddr", "port", "dbname", "service", "schema", "search_path"}
    }
    return f"{host}{parts.path}?{urlencode(sorted(where.items()))}"


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


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _finish(tmp: Path, final: Path) -> None:
    os.chmod(tmp, 0o600)
    with open(tmp, "rb") as stream:
        os.fsync(stream.fileno())
    os.replace(tmp, final)
    _fsync_dir(final.parent)


# -- the backup methods ------------------------------------------------------


def _backup_sqlite(db_path: Path, out: Path, progress: ProgressCallback | None) -> None:
    if not db_path.is_file():
        raise ConfigurationError(f"no SQLite database at {db_path}")

    def report(status: int, remaining: int, total: int) -> None:
        if progress is not None:
            progress("backup", total - remaining, total)

    try:
        source = sqlite3.connect(db_path, timeout=30)
        try:
            target = sqlite3.connect(out)
            try:
                # pages=-1: one step, so the copy is one consistent snapshot even
                # while other processes write (WAL readers do not block writers).
                source.backup(target, pages=-1, progress=report)
                # A backup is one self-contained file: no WAL beside it.
                target.execute("PRAGMA journal_mode=DELETE")
                result = target.execute("PRAGMA quick_check").fetchone()
                if result is None or result[0] != "ok":
                    raise StorageError("the SQLite backup failed its integrity check")
            finally:
                target.close()
        finally:
            source.close()
    except sqlite3.Error as exc:
        raise StorageError(f"SQLite backup failed: {exc}") from exc


def _libpq_url(url: str) -> tuple[str, dict[str, str]]:
    """The URL for libpq tools (backend options dropped) and an environment with the password."""
    parts = urlsplit(url)
    env: dict[str, str] = {}
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        if ":" in userinfo:
            user, password = userinfo.split(":", 1)
            env["PGPASSWORD"] = unquote(password)
            userinfo = user
        netloc = f"{userinfo}@{host}"
    query = []
    for key, value in parse_qsl(parts.query):
        if key == "password":
            env["PGPASSWORD"] = value  # never on a command line, where `ps` shows it
        elif key in _LIBPQ_PARAMS:
            query.append((key, value))
    scheme = "postgresql"
    return urlunsplit((scheme, netloc, parts.path, urlencode(query), "")), env


def _pg_schema(url: str) -> str | None:
    for key, value in parse_qsl(urlsplit(url).query):
        if key in {"schema", "search_path"}:
            return value
    return None


def _run_libpq_tool(url: str, command: list[str]) -> None:
    """Run pg_dump or pg_restore (``command``, then ``--dbname``) against the store at ``url``.

    The password goes in the tool's environment, never in its arguments.
    """
    target, env = _libpq_url(url)
    done = subprocess.run(
        [*command, f"--dbname={target}"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise StorageError(f"{command[0]} failed: {done.stderr.strip()[:500]}")


def _backup_postgres(url: str, out: Path) -> None:
    command = ["pg_dump", "--format=custom", "--no-owner", f"--file={out}"]
    schema = _pg_schema(url)
    if schema:
        command.append(f"--schema={schema}")
    _run_libpq_tool(url, command)


def backup(
    store: Adapter,
    dest_dir: Path,
    *,
    url: str | None = None,
    keep: int = 24,
    format: str = "native",
    progress: ProgressCallback | None = None,
) -> BackupResult:
    """Write a backup of ``store`` (opened from ``url``) into ``dest_dir``; see the module doc.

    ``format`` is ``native`` (the backend's own method) or ``jsonl`` (an export).
    """
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 0:
        raise ValidationError("keep must be an int >= 0 (0 keeps every backup)")
    if format not in {"native", "jsonl"}:
        raise ValidationError("format must be 'native' or 'jsonl'")
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    backend = _slug(store.backend).replace("_", "").replace("-", "").replace(".", "") or "store"
    name = _store_name(store, url)
    stamp = clock.now().strftime("%Y%m%dT%H%M%S%fZ")
    note = None

    method = "export"
    if format == "native":
        if backend == "sqlite" and url is not None and store_path(url) is not None:
            method = "sqlite-backup-api"
        elif backend == "file" and callable(getattr(store, "backup", None)):
            method = "file-snapshot"
        elif backend == "postgres" and url is not None and shutil.which("pg_dump"):
            method = "pg_dump"
    extension = {
        "sqlite-backup-api": "sqlite3",
        "file-snapshot": "tar.gz",
        "pg_dump": "pgdump",
        "export": "jsonl",
    }
    final = dest_dir / f"auth-store-{backend}-{name}-{stamp}.{extension[method]}"
    # Written in a private directory (0700): sqlite3 and pg_dump create their
    # files with the umask's permissions, and the file is only made 0600 at
    # the end; nobody else may open it in between.
    work = Path(tempfile.mkdtemp(prefix=".auth-store-backup-", dir=dest_dir))
    tmp = work / final.name
    try:
        if method == "sqlite-backup-api":
            assert url is not None
            db_path = store_path(url)
            assert db_path is not None
            _backup_sqlite(db_path, tmp, progress)
        elif method == "file-snapshot":
            store.backup(tmp)  # type: ignore[attr-defined]
        elif method == "pg_dump":
            assert url is not None
            try:
                _backup_postgres(url, tmp)
            except StorageError as exc:
                note = f"{exc}; wrote an export instead"
                method = "export"
                tmp.unlink(missing_ok=True)
                final = final.with_name(final.name.removesuffix(".pgdump") + ".jsonl")
                tmp = work / final.name
        if method == "export":
            _export_backup(store, tmp, progress)
        _finish(tmp, final)
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


def _kind(path: Path) -> str:
    try:
        with open(path, "rb") as stream:
            head = stream.read(16)
    except OSError as exc:
        raise StorageError(f"cannot read {path}: {exc.strerror}") from exc
    if head.startswith(_SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(_GZIP_MAGIC):
        return "tar"
    if head.startswith(_PGDUMP_MAGIC):
        return "pgdump"
    if head.startswith(b"{"):
        return "jsonl"
    raise ValidationError(f"{path} is not an auth-store backup (unknown format)")


@contextmanager
def open_backup(path: Path) -> Iterator[Source]:
    """A backup file opened as a read-only migration source (temporary copies are removed)."""
    path = Path(path)
    kind = _kind(path)
    if kind == "jsonl":
        yield JsonlSource(path)
        return
    if kind == "pgdump":
        raise ValidationError("a pg_dump backup can only be restored into a Postgres store")
    with tempfile.TemporaryDirectory(prefix="auth-store-restore-") as work:
        if kind == "sqlite":
            copy = Path(work) / "backup.db"
            shutil.copyfile(path, copy)
            source: Adapter = connect(f"sqlite:///{copy}")
        else:
            from auth_store.adapters.file import FileAdapter

            source = FileAdapter.restore(path, Path(work) / "snapshot", durability="normal")
        try:
            yield source
        finally:
            source.close()


def _restore_pgdump(path: Path, url: str) -> None:
    if not shutil.which("pg_restore"):
        raise ConfigurationError("restoring a .pgdump needs pg_restore on PATH")
    _run_libpq_tool(
        url,
        ["pg_restore", "--clean", "--if-exists", "--no-owner", "--single-transaction", str(path)],
    )


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

    For a ``.pgdump``, ``url`` must name the Postgres target.
    """
    path = Path(path)
    if _kind(path) == "pgdump":
        if target.backend != "postgres" or url is None:
            raise ValidationError("a pg_dump backup can only be restored into a Postgres store")
        if any(target.counts().values()):
            raise ValidationError("the target store is not empty; restore into an empty store")
        _restore_pgdump(path, url)
        with connect(url) as restored:  # a fresh pool: the tables were replaced
            counts = restored.counts()
        return RestoreResult(path=path, method="pg_restore", counts=counts)
    with open_backup(path) as source:
        result = migrate(source, target, batch_size=batch_size, sample=sample, progress=progress)
    return RestoreResult(path=path, method="migrate", migration=result, counts=target.counts())
