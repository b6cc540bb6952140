"""The seams between the core and the backends: capabilities, URL ownership, import errors."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

import auth_store
from auth_store.adapters.file import FileAdapter
from auth_store.adapters.memory import MemoryAdapter
from auth_store.adapters.postgres import PostgresAdapter
from auth_store.adapters.sqlite import SQLiteAdapter
from auth_store.capabilities import (
    StoredAtPath,
    SupportsBackup,
    SupportsCheck,
    SupportsRepair,
    SupportsRestore,
    SupportsRestoreInPlace,
    SupportsSchema,
)
from auth_store.connect import backend_class
from auth_store.errors import ConfigurationError
from auth_store.migration import store_path, without_migrations

ROOT = Path(__file__).resolve().parent.parent

CAPABILITIES = (
    SupportsCheck,
    SupportsRepair,
    SupportsSchema,
    SupportsBackup,
    SupportsRestore,
    SupportsRestoreInPlace,
    StoredAtPath,
)


@pytest.mark.parametrize(
    ("cls", "expected"),
    [
        (MemoryAdapter, set()),
        (
            SQLiteAdapter,
            {SupportsSchema, SupportsBackup, SupportsRestore, StoredAtPath},
        ),
        (
            FileAdapter,
            {SupportsCheck, SupportsRepair, SupportsBackup, SupportsRestore, StoredAtPath},
        ),
        (PostgresAdapter, {SupportsSchema, SupportsBackup, SupportsRestoreInPlace}),
    ],
    ids=["memory", "sqlite", "file", "postgres"],
)
def test_each_backend_offers_exactly_its_capabilities(cls: type, expected: set[type]) -> None:
    assert {c for c in CAPABILITIES if issubclass(cls, c)} == expected


def test_store_path_is_the_backends_own_parsing(tmp_path: Path) -> None:
    assert store_path(f"sqlite:///{tmp_path}/a.db") == tmp_path / "a.db"
    assert store_path(f"file://{tmp_path}/dir") == tmp_path / "dir"
    assert store_path("file:relative/dir") == Path("relative/dir")
    assert store_path("memory://") is None
    assert store_path("postgresql://u@h/db") is None
    # What the backend refuses, store_path refuses alike (it used to accept it).
    with pytest.raises(ConfigurationError, match="local directory"):
        FileAdapter.from_url("file://otherhost/dir")
    with pytest.raises(ConfigurationError, match="local directory"):
        store_path("file://otherhost/dir")


def test_without_migrations_follows_the_schema_capability(tmp_path: Path) -> None:
    assert (
        without_migrations(f"sqlite:///{tmp_path}/a.db")
        == f"sqlite:///{tmp_path}/a.db?migrate=false"
    )
    assert without_migrations("postgresql://u@h/db?schema=s") == (
        "postgresql://u@h/db?schema=s&migrate=false"
    )
    assert without_migrations(f"file://{tmp_path}/d") == f"file://{tmp_path}/d"
    assert without_migrations("memory://") == "memory://"


def test_a_missing_optional_dependency_names_its_extra() -> None:
    code = (
        "import sys; sys.modules['psycopg'] = None\n"
        "import auth_store\n"
        "try:\n"
        "    auth_store.connect('postgresql://u@127.0.0.1/db')\n"
        "except auth_store.ConfigurationError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == (
        "the postgres backend needs the psycopg package: pip install 'auth-store[postgres]'"
    )


@pytest.mark.parametrize(
    "error",
    [
        ModuleNotFoundError("No module named 'auth_store.adapters.sql.dialekt'", name="x.y"),
        ImportError("cannot import name 'prepare_usr' from 'auth_store.validation'"),
        NameError("name 'prepare_usr' is not defined"),
    ],
    ids=["missing-own-module", "bad-name", "typo"],
)
def test_a_broken_backend_module_is_not_reported_as_a_missing_extra(
    monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    def broken(name: str) -> object:
        raise error

    monkeypatch.setattr(importlib, "import_module", broken)
    with pytest.raises(type(error)) as raised:
        auth_store.connect("memory://")
    assert raised.value is error
    with pytest.raises(type(error)):
        backend_class("postgresql://u@h/db")


def test_an_unknown_scheme_lists_the_known_ones() -> None:
    with pytest.raises(ConfigurationError, match=r"unknown store URL scheme 'bogus'.*sqlite"):
        auth_store.connect("bogus://x")


def _grep(pattern: str, *folders: str) -> list[str]:
    regex = re.compile(pattern)
    found = []
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if regex.search(line):
                    found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    return found


def test_no_capability_is_reached_by_name() -> None:
    """No ``getattr(store, "...")``, no ``backend ==`` dispatch, no ignored capability call."""
    # One exception: the steps of a service (auth_store._twins) call a contract method
    # on either twin of the store by the name of the ``Adapter`` method they are given
    # (``store_call(store, Adapter.get_user, ...)``, type-checked), never by a string.
    assert (
        _grep(r"getattr\(\s*(store|target|source|adapter)\b(?!, method\.__name__\))", "auth_store")
        == []
    )
    outside_backends = [
        hit
        for hit in _grep(r"\bbackend\s*[!=]=|\.backend\s+in\b", "auth_store")
        if not hit.startswith("auth_store/adapters/")
    ]
    assert outside_backends == []
    assert _grep(r"\.(backup|check|repair|schema_\w+)\(.*# type: ignore", "auth_store") == []
