"""Which file holds what: collections, record file names, index keys, the record format.

::

    <root>/_meta.json                           format name and version
    <root>/.lock                                flock target (and the intent of a write)
    <root>/<collection>/<stem>.json             one record, indented JSON
    <root>/<collection>/indices/log.jsonl       every index change of the collection
    <root>/<collection>/indices/table-<g>.bin   the indices as sorted tables (see _table)

A record's file *stem* is its id where it has one (ids are validated:
``[A-Za-z0-9_.-]``, so they are safe file names). Verification tokens and
authenticators have no id, and their keys (tokens, WebAuthn credential ids)
may contain anything, so their stem is the SHA-256 of the key: nothing secret
and nothing unvalidated ever becomes a file name. For the same reason the
session index is keyed by the SHA-256 of the token, not the token.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from auth_store.errors import ConfigurationError, StorageError

from . import _atomic
from ._index import FieldSpec, IndexLog

__all__ = [
    "COLLECTION_SPECS",
    "FORMAT",
    "FORMAT_VERSION",
    "INDEX_DIR",
    "META_NAME",
    "Collection",
    "CollectionSpec",
    "IndexSpec",
    "account_key",
    "authenticator_stem",
    "decode_record",
    "encode_record",
    "open_dir",
    "token_key",
    "verification_token_stem",
]

FORMAT = "auth-store-file"
#: 2: one index log per collection, sorted tables, an ``expires`` index (1 had a log per field).
FORMAT_VERSION = 2
META_NAME = "_meta.json"
INDEX_DIR = "indices"
RECORD_SUFFIX = ".json"


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _pair(first: str, second: str) -> str:
    # JSON keeps the pair unambiguous whatever characters either half holds.
    return json.dumps([first, second], ensure_ascii=False, separators=(",", ":"))


def token_key(session_token: str) -> str:
    """The session index key of a token: its SHA-256, so the index never holds the token."""
    return _sha256(session_token)


def account_key(provider: str, provider_account_id: str) -> str:
    """The index key of a provider account."""
    return _pair(provider, provider_account_id)


def verification_token_stem(identifier: str, token: str) -> str:
    """The file stem of a verification token: SHA-256 of (identifier, token)."""
    return _sha256(_pair(identifier, token))


def authenticator_stem(credential_id: str) -> str:
    """The file stem of an authenticator: SHA-256 of its credential id."""
    return _sha256(credential_id)


def _field(record: dict[str, Any], name: str) -> str:
    value = record[name]
    if not isinstance(value, str):
        raise TypeError(f"{name} is not a string")
    return value


@dataclass(frozen=True)
class IndexSpec:
    """An indexed field: its name, whether it is unique, its key in a raw record, and
    whether keys are times (kept in time order, so expired records are a range)."""

    field: str
    unique: bool
    key: Callable[[dict[str, Any]], str]
    ordered: bool = False


@dataclass(frozen=True)
class CollectionSpec:
    """A collection: its directory, the file stem of a raw record, its indices."""

    name: str
    stem: Callable[[dict[str, Any]], str]
    indices: tuple[IndexSpec, ...]
    #: Whether records point at a user (``user_id``): deleted with it, orphans without it.
    owned: bool

    @property
    def counted(self) -> str:
        """The index every record has exactly one entry in: its entries count the records."""
        return self.indices[0].field


_BY_ID: Callable[[dict[str, Any]], str] = lambda r: _field(r, "id")  # noqa: E731
_BY_USER = IndexSpec("user_id", False, lambda r: _field(r, "user_id"))
_BY_EXPIRY = IndexSpec("expires", False, lambda r: _field(r, "expires"), ordered=True)

#: Every collection in dependency order (users first).
COLLECTION_SPECS: dict[str, CollectionSpec] = {
    spec.name: spec
    for spec in (
        CollectionSpec(
            "users", _BY_ID, (IndexSpec("email", True, lambda r: _field(r, "email")),), False
        ),
        CollectionSpec(
            "accounts",
            _BY_ID,
            (
                IndexSpec(
                    "provider_account",
                    True,
                    lambda r: account_key(_field(r, "provider"), _field(r, "provider_account_id")),
                ),
                _BY_USER,
            ),
            True,
        ),
        CollectionSpec(
            "sessions",
            _BY_ID,
            (
                IndexSpec("session_token", True, lambda r: token_key(_field(r, "session_token"))),
                _BY_USER,
                _BY_EXPIRY,
            ),
            True,
        ),
        CollectionSpec(
            "verification_tokens",
            lambda r: verification_token_stem(_field(r, "identifier"), _field(r, "token")),
            (_BY_EXPIRY,),
            False,
        ),
        CollectionSpec(
            "authenticators",
            lambda r: authenticator_stem(_field(r, "credential_id")),
            (_BY_USER,),
            True,
        ),
        CollectionSpec("credentials", _BY_ID, (_BY_USER,), True),
    )
}


def encode_record(record: dict[str, Any]) -> bytes:
    """A raw record as the human-readable bytes of its file: ``json.dumps`` with
    ``indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False``, byte for byte."""
    try:
        if record and _SCALARS.issuperset(map(type, record.values())):
            # A flat record (a session, a token): one pass of the C encoder, whose
            # item separator carries the newline and the indentation.
            text = "{\n  " + _encode_flat(record)[1:-1] + "\n}"
        else:
            text = _indented(record, "")
    except (_Unusual, RecursionError):
        text = json.dumps(record, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False)
    return (text + "\n").encode("utf-8")


class _Unusual(Exception):
    """A value ``_indented`` leaves to ``json.dumps`` (floats, tuples, subclasses, ...)."""


_quote = json.encoder.encode_basestring  # the C one when present; never escapes non-ASCII
_SCALARS = frozenset({str, int, bool, float, type(None)})
_encode_flat = json.JSONEncoder(
    sort_keys=True, ensure_ascii=False, allow_nan=False, separators=(",\n  ", ": ")
).encode


def _indented(value: object, pad: str) -> str:
    # json.dumps(indent=...) runs the pure-Python encoder; records are str, int, bool,
    # None, dicts and lists, which this writes the same way at a fraction of the cost.
    if isinstance(value, str):
        return _quote(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    kind = type(value)
    if kind is int:
        return repr(value)
    inner = pad + "  "
    if kind is dict and isinstance(value, dict):
        if not value:
            return "{}"
        items = value.items()
        if any(type(k) is not str for k in value):
            raise _Unusual
        parts = [f"{inner}{_quote(k)}: {_indented(v, inner)}" for k, v in sorted(items)]
        return "{\n" + ",\n".join(parts) + "\n" + pad + "}"
    if kind is list and isinstance(value, list):
        if not value:
            return "[]"
        parts = [inner + _indented(v, inner) for v in value]
        return "[\n" + ",\n".join(parts) + "\n" + pad + "]"
    raise _Unusual


def decode_record(data: bytes, where: str) -> dict[str, Any]:
    """Parse a record file; anything but a JSON object is a ``StorageError`` naming it."""
    try:
        record = json.loads(data)
    except ValueError:
        raise StorageError(
            f"record file {where} is not valid JSON (truncated or edited by hand?); "
            "fix or remove it, then run check()"
        ) from None
    if not isinstance(record, dict):
        raise StorageError(f"record file {where} does not hold a JSON object")
    return record


def open_dir(parent_fd: int, name: str, where: str, *, create: bool, durable: bool = False) -> int:
    """Open (creating if asked) a directory inside ``parent_fd``; a symlink is refused.

    With ``durable``, a directory it creates is made durable in its parent.
    """
    if create:
        try:
            os.mkdir(name, 0o700, dir_fd=parent_fd)
        except FileExistsError:
            pass
        except OSError as exc:
            raise StorageError(f"cannot create {where}: {exc.strerror}") from exc
        else:
            if durable:
                _atomic.fsync(parent_fd, f"the parent of {where}")
    try:
        st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
        if stat.S_ISLNK(st.st_mode):
            raise ConfigurationError(
                f"{where} is a symlink; a file store keeps every file inside its root"
            )
        if not stat.S_ISDIR(st.st_mode):
            raise ConfigurationError(f"{where} is not a directory")
        return os.open(
            name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent_fd
        )
    except OSError as exc:
        raise StorageError(f"cannot open {where}: {exc.strerror}") from exc


class Collection:
    """One collection's directory: its record files and its indices."""

    def __init__(self, root_fd: int, root: str, spec: CollectionSpec, *, durable: bool) -> None:
        self.spec = spec
        self.name = spec.name
        self.where = f"{root}/{spec.name}"
        self.fd = open_dir(root_fd, spec.name, self.where, create=True, durable=durable)
        self.index_fd = -1
        try:
            self.index_fd = open_dir(
                self.fd, INDEX_DIR, f"{self.where}/{INDEX_DIR}", create=True, durable=durable
            )
        except BaseException:
            self.close()
            raise
        self.index = self.new_index()

    def new_index(self) -> IndexLog:
        """A reader of this collection's index files (``index`` is the shared one)."""
        return IndexLog(
            self.index_fd,
            self.name,
            (FieldSpec(s.field, s.unique, s.ordered) for s in self.spec.indices),
            f"{self.where}/{INDEX_DIR}",
        )

    def path(self, stem: str) -> str:
        """The path of a record file, for messages."""
        return f"{self.where}/{stem}{RECORD_SUFFIX}"

    def read(self, stem: str) -> dict[str, Any] | None:
        """The raw record stored under ``stem``, or ``None``; unreadable is a ``StorageError``."""
        where = self.path(stem)
        data = _atomic.read(self.fd, stem + RECORD_SUFFIX, where=where)
        return None if data is None else decode_record(data, where)

    def exists(self, stem: str) -> bool:
        """Whether a record file (or anything else) has this stem."""
        try:
            os.stat(stem + RECORD_SUFFIX, dir_fd=self.fd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise StorageError(f"cannot stat {self.path(stem)}: {exc.strerror}") from exc
        return True

    def write(self, stem: str, record: dict[str, Any], *, durable: bool) -> None:
        """Atomically replace the record file ``stem``."""
        _atomic.write_atomic(
            self.fd,
            stem + RECORD_SUFFIX,
            encode_record(record),
            durable=durable,
            where=self.path(stem),
        )

    def remove(self, stem: str, *, durable: bool) -> bool:
        """Delete the record file ``stem``; ``False`` if it was not there."""
        return _atomic.remove(self.fd, stem + RECORD_SUFFIX, durable=durable, where=self.path(stem))

    def remove_temp(self, stem: str) -> bool:
        """Delete the temp file a write of ``stem`` may have left."""
        name = _atomic.temp_name(stem + RECORD_SUFFIX)
        return _atomic.remove(self.fd, name, durable=False, where=f"{self.where}/{name}")

    def listing(self) -> list[os.DirEntry[str]]:
        """Every entry of the collection directory."""
        try:
            with os.scandir(self.fd) as entries:
                return list(entries)
        except OSError as exc:
            raise StorageError(f"cannot list {self.where}: {exc.strerror}") from exc

    def stems(self) -> list[str]:
        """The stems of every record file, sorted."""
        return sorted(
            e.name[: -len(RECORD_SUFFIX)]
            for e in self.listing()
            if e.name.endswith(RECORD_SUFFIX) and not e.name.startswith(".")
        )

    def count(self) -> int:
        """The number of records, as the index counts them (no directory listing)."""
        return self.index.live(self.spec.counted)

    def sweep_index_temps(self) -> list[str]:
        """Delete the temp files and old tables of the index directory (a handful of
        files: opening never lists the record directory); return their paths."""
        where = f"{self.where}/{INDEX_DIR}"
        try:
            with os.scandir(self.index_fd) as entries:
                names = [e.name for e in entries if _atomic.is_temp_name(e.name)]
        except OSError as exc:
            raise StorageError(f"cannot list {where}: {exc.strerror}") from exc
        removed = [
            f"{where}/{name}"
            for name in names
            if _atomic.remove(self.index_fd, name, durable=False, where=f"{where}/{name}")
        ]
        return removed + self.index.remove_old_tables()

    def close(self) -> None:
        """Close the index and the directory descriptors. Idempotent."""
        index = getattr(self, "index", None)
        if index is not None:
            index.close()
        for attr in ("index_fd", "fd"):
            fd = getattr(self, attr)
            if fd >= 0:
                os.close(fd)
                setattr(self, attr, -1)
