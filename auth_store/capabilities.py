"""Optional backend capabilities, as small typed protocols.

The ``Adapter`` contract is what every backend must do. Beyond it a backend
may offer more: its own consistency check and repair, versioned schema
migrations, native backups and reading them back, a location on the local
disk. Each is a ``runtime_checkable`` protocol here. A backend opts in by
defining the methods (no registration, no base class); the services and the
CLI ask ``isinstance(store, SupportsCheck)`` (or ``issubclass`` on the
backend's class, for what is needed before a store is opened) and mypy
checks both sides. Nothing is looked up by name.

=========================  ==================================================
protocol                   used by
=========================  ==================================================
``SupportsCheck``          ``check_store``, ``verify``, ``auth-store check``
``SupportsRepair``         ``check_store(repair=True)``, ``check --repair``
``SupportsSchema``         ``auth-store schema``, ``stats``, ``open_source``
``SupportsBackup``         ``auth_store.backup.backup``, ``auth-store backup``
``SupportsRestore``        ``auth_store.backup.restore`` (backup read as a source)
``SupportsRestoreInPlace`` ``auth_store.backup.restore`` (backup loaded into the target)
``StoredAtPath``           ``migrate`` (same-store check)
``OpensExisting``          ``connect(url, create=False)``, every CLI command but the creators
``SharedWithAnotherApp``   ``PasswordService``, ``SessionManager`` (defaults)
``ChecksMapping``          ``migrate`` (what cannot map, before writing)
``ReportsResources``       ``auth-store stats`` (open time, memory, index sizes)
``SupportsNativeAsync``    ``connect_async`` (a native twin instead of threads)
=========================  ==================================================
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from .errors import ErrorCode, StorageError
from .problems import CheckReport, Problem

if TYPE_CHECKING:
    from .adapter import Adapter
    from .async_adapter import AsyncAdapter
    from .models import Model

__all__ = [
    "AppConventions",
    "ChecksMapping",
    "NativeBackup",
    "NativeBackupUnavailableError",
    "OpensExisting",
    "ProgressCallback",
    "RecognizesBackup",
    "ReportsResources",
    "SchemaMigration",
    "SharedWithAnotherApp",
    "StoredAtPath",
    "SupportsBackup",
    "SupportsCheck",
    "SupportsNativeAsync",
    "SupportsRepair",
    "SupportsRestore",
    "SupportsRestoreInPlace",
    "SupportsSchema",
    "backup_name",
]

#: ``progress(phase, done, total)``: called as long work advances (``total`` may be 0).
ProgressCallback = Callable[[str, int, int], None]


@runtime_checkable
class SupportsCheck(Protocol):
    """A backend that can look for damage only it can see (index files, temp files, ...)."""

    def check(self) -> CheckReport:
        """Every problem found, in ``problems``; changes nothing."""
        ...


@runtime_checkable
class SupportsRepair(Protocol):
    """A backend that can mend what its ``check()`` finds."""

    def repair(self) -> CheckReport:
        """Fix what can be fixed: ``repaired`` is what was fixed, ``problems`` what is left."""
        ...


@dataclass(frozen=True, slots=True)
class SchemaMigration:
    """One schema migration a backend ships, and when it was applied (``None``: pending)."""

    version: int
    name: str
    applied_at: datetime | None


@runtime_checkable
class SupportsSchema(Protocol):
    """A backend whose storage has a versioned schema (numbered migrations, 1, 2, ...).

    Its URL takes the option ``migrate=false``, which opens the store without
    applying pending migrations (``auth-store schema status`` and migration
    sources open it that way, so that they never change it).
    """

    def schema_status(self) -> list[SchemaMigration]:
        """Every migration this package ships, oldest first, with when it was applied."""
        ...

    def schema_version(self) -> int:
        """The highest applied migration (0 for empty storage)."""
        ...

    def upgrade_schema(self) -> list[int]:
        """Apply the pending migrations (all or none); the versions applied."""
        ...


@dataclass(frozen=True, slots=True)
class NativeBackup:
    """A native backup a backend wrote: where, how, and the file name suffix it calls for.

    It is also the path (``os.PathLike``), so it can be passed wherever a path goes.
    """

    path: Path
    #: How it was made, for reports ("sqlite-backup-api", "file-snapshot", "pg_dump").
    method: str
    #: File name suffix without the dot ("sqlite3", "tar.gz", "pgdump").
    suffix: str

    def __fspath__(self) -> str:
        return os.fspath(self.path)


class NativeBackupUnavailableError(StorageError):
    """A backend cannot make its native backup now (a tool is missing or failed).

    ``auth_store.backup.backup`` then writes an export instead and says why.
    """

    code = ErrorCode.NATIVE_BACKUP_UNAVAILABLE


@runtime_checkable
class SupportsBackup(Protocol):
    """A backend that makes consistent native backups of itself while writers keep going."""

    def backup_name(self) -> str:
        """A short, file-name-safe name for this store's backups (see ``backup_name()``)."""
        ...

    def backup(self, dest: Path, *, progress: ProgressCallback | None = None) -> NativeBackup:
        """Write one complete backup file at ``dest`` (a new file, private to its owner).

        Raise ``NativeBackupUnavailableError`` to have an export written instead.
        """
        ...


@runtime_checkable
class RecognizesBackup(Protocol):
    """A backend class that tells its native backup files by their first bytes."""

    @classmethod
    def recognizes_backup(cls, head: bytes) -> bool:
        """Whether a file starting with ``head`` (its first 16 bytes) is one of its backups."""
        ...


@runtime_checkable
class SupportsRestore(RecognizesBackup, Protocol):
    """A backend class that reads its native backups back, as a read-only source store."""

    @classmethod
    def open_backup(cls, path: Path, workdir: Path) -> Adapter:
        """Open the backup at ``path`` as a store, working in the empty directory ``workdir``.

        The caller only reads from it and closes it; ``workdir`` is removed after.
        """
        ...


@runtime_checkable
class SupportsRestoreInPlace(RecognizesBackup, Protocol):
    """A backend whose native backups can only be loaded into a store of its own kind."""

    def restore_backup(self, path: Path) -> str:
        """Load the backup at ``path`` into this store, which is empty; return how (for reports)."""
        ...


@runtime_checkable
class StoredAtPath(Protocol):
    """A backend class whose URLs name a path on the local disk (a file or a directory)."""

    @classmethod
    def path_from_url(cls, url: str) -> Path:
        """The path a URL names, parsed exactly as ``from_url`` parses it.

        Raises ``ConfigurationError`` for a URL the backend would refuse.
        """
        ...


@runtime_checkable
class OpensExisting(Protocol):
    """A backend class that can open a store only when one is there, creating nothing.

    ``connect(url, create=False)`` calls it, and so does every ``auth-store``
    command that works on an existing store, so that a mistyped URL is an
    error rather than a new, empty store.
    """

    @classmethod
    def open_existing(cls, url: str) -> Adapter:
        """Open the store ``url`` names, as ``from_url`` would, if there is one.

        Raises ``NoStoreError`` (naming where, never a password) when there
        is none, having created nothing: no file, directory, table or schema.
        """
        ...


@dataclass(frozen=True)
class AppConventions:
    """How another app that shares a store reads what the services write there.

    ``plain_session_tokens``: the app looks sessions up by the token its
    cookie carries, so the session layer stores tokens as they are.
    ``session_max_age``/``session_update_age``: the app's session timing, the
    session layer's defaults. ``password_context()``: a libpass
    ``CryptContext`` whose new hashes the app verifies, the password
    service's default.
    """

    app: str
    plain_session_tokens: bool
    session_max_age: timedelta
    session_update_age: timedelta
    password_context: Callable[[], Any]


@runtime_checkable
class SharedWithAnotherApp(Protocol):
    """A backend whose tables another framework's app reads and writes (``?flavor=better-auth``).

    The services take their defaults from its ``app_conventions()`` so that
    what they write (session tokens, password hashes) works in that app too.
    """

    def app_conventions(self) -> AppConventions:
        """The other app's conventions."""
        ...


@runtime_checkable
class ChecksMapping(Protocol):
    """A backend keeping another framework's layout, where not every row and record map.

    Problems of kind ``unmappable`` stop a migration before it writes
    anything; other kinds (``left-behind``, ``app-cannot-use``) are reported
    as warnings. They name records by id, never by a secret value.
    """

    def unmappable_rows(self) -> list[Problem]:
        """As a source: rows this package cannot read as records, or reads only in part."""
        ...

    def mapping_problem(self, record: Model) -> Problem | None:
        """As a target: why ``record`` cannot be stored, or what the other app can't use."""
        ...


@runtime_checkable
class ReportsResources(Protocol):
    """A backend that runs in the caller's process and can say what it costs there."""

    def resources(self) -> dict[str, Any]:
        """Figures such as the time the store took to open and the memory it added."""
        ...


@runtime_checkable
class SupportsNativeAsync(Protocol):
    """A backend class with an async twin of its own (Postgres: psycopg's async pool).

    ``auth_store.connect_async`` opens it with ``connect_async``; a backend
    without one gets its sync adapter on worker threads
    (``auth_store.async_twin.ThreadedAsyncAdapter``).
    """

    @classmethod
    async def connect_async(cls, url: str, *, create: bool = True) -> AsyncAdapter:
        """Open the store ``url`` names as an ``AsyncAdapter`` (what ``from_url`` is to sync).

        ``create=False``: only a store that exists, as ``OpensExisting.open_existing``
        (``NoStoreError`` otherwise, nothing created); it is passed only when false.
        """
        ...


def backup_name(readable: str, location: str) -> str:
    """``<readable>.<hash of location>``: a backup name that tells stores apart.

    Retention deletes old backups by this name, so it must differ for stores
    that only share a readable name (``/srv/a/auth.db`` and ``/srv/b/auth.db``,
    one database on two hosts, two schemas of one database). ``location``
    must hold no secret (no password).
    """
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", readable).strip("._-")[:60] or "store"
    digest = hashlib.blake2b(location.encode("utf-8"), digest_size=4).hexdigest()
    return f"{slug}.{digest}"
