"""The SQL layer SQLite and Postgres share: statements, row mapping, method bodies, migrations.

A backend provides a ``Dialect`` subclass (placeholders, value conversion,
error classification) and subclasses ``SQLAdapter`` with four I/O hooks; see
``base``'s docstring. Nothing here imports a database driver.
"""

from __future__ import annotations

from .base import (
    CONFLICTS,
    CONSTRAINT_KEYS,
    LOOKUPS,
    Cursor,
    Executor,
    Lookup,
    SQLAdapter,
    no_store_error,
    translate_error,
)
from .dialect import Dialect, Fault, FaultKind
from .migrations import Migration, MigrationStatus, load_migrations
from .statements import TABLES

__all__ = [
    "CONFLICTS",
    "CONSTRAINT_KEYS",
    "LOOKUPS",
    "TABLES",
    "Cursor",
    "Dialect",
    "Executor",
    "Fault",
    "FaultKind",
    "Lookup",
    "Migration",
    "MigrationStatus",
    "SQLAdapter",
    "load_migrations",
    "no_store_error",
    "translate_error",
]
