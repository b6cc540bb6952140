"""Versioned, immutable schema migrations shipped as ``migrations/<dialect>/NNNN_name.sql``.

A migration's version is its number, its name the rest of the file name. Once
released a file never changes: the tracking table ``auth_store_migrations``
keeps each applied file's SHA-256, and opening a database whose applied files
differ from the shipped ones is a ``ConfigurationError``, as is a database
with versions newer than this package knows.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources

from auth_store.capabilities import SchemaMigration
from auth_store.errors import ConfigurationError

__all__ = ["Migration", "MigrationStatus", "SchemaMigration", "check_applied", "load_migrations"]

_FILE_RE = re.compile(r"(\d{4})_([a-z0-9_]+)\.sql")


@dataclass(frozen=True, slots=True)
class Migration:
    """One migration file."""

    version: int
    name: str
    sql: str = ""
    checksum: str = ""


#: A migration and when it was applied to this database (``None``: pending).
MigrationStatus = SchemaMigration


def load_migrations(dialect_name: str) -> list[Migration]:
    """The shipped migrations of a dialect, in version order."""
    folder = resources.files("auth_store.adapters") / "migrations" / dialect_name
    if not folder.is_dir():
        raise ConfigurationError(f"no {dialect_name} migrations are installed (broken install?)")
    found: list[Migration] = []
    for entry in folder.iterdir():
        match = _FILE_RE.fullmatch(entry.name)
        if match is None:
            continue
        # Line endings are normalised so a checkout with CRLF keeps the checksum.
        text = entry.read_text(encoding="utf-8").replace("\r\n", "\n")
        found.append(
            Migration(
                version=int(match[1]),
                name=match[2],
                sql=text,
                checksum=hashlib.sha256(text.encode()).hexdigest(),
            )
        )
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions) or versions != list(range(1, len(versions) + 1)):
        raise ConfigurationError(
            f"{dialect_name} migrations must be numbered 0001, 0002, ... without gaps"
        )
    return found


def check_applied(shipped: list[Migration], applied: dict[int, tuple[str, str]]) -> None:
    """Refuse a database that doesn't match the shipped files.

    ``applied`` maps version -> (name, checksum) as read from the tracking table.
    """
    known = {m.version: m for m in shipped}
    for version, (name, _) in sorted(applied.items()):
        if version in known and known[version].name != name:
            raise ConfigurationError(
                f"the database holds migration {version:04d}_{name}, where this store expects"
                f" {version:04d}_{known[version].name}: it was made for another layout (a"
                " different ?flavor=) or by another program"
            )
    newer = sorted(set(applied) - set(known))
    if newer:
        raise ConfigurationError(
            f"the database has schema version {newer[-1]}, newer than this auth-store"
            f" knows ({len(shipped)}); upgrade auth-store"
        )
    for version, (name, checksum) in sorted(applied.items()):
        if known[version].checksum != checksum:
            raise ConfigurationError(
                f"migration {version:04d}_{name}.sql differs from the one applied to this"
                " database; migration files must never change once released"
            )
