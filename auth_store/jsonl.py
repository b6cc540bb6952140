"""Export and import of a whole store as JSON Lines.

The format (version 1) is one JSON object per line, UTF-8, keys sorted::

    {"format": "auth-store", "version": 1, "exported_at": "...", "backend": "sqlite"}
    {"collection": "users", "record": {...}}
    {"collection": "accounts", "record": {...}}
    ...
    {"end": true, "counts": {"users": 2, "accounts": 1, ...}}

The first line is the header; every record line holds one record as
``auth_store.records.to_dict`` writes it, in dependency order (users first);
the last line closes the file and carries the number of records per
collection, so a truncated file is refused instead of half-imported. Ids,
timestamps and ciphertexts are kept as stored: exporting a store, importing
the file into an empty store and exporting again gives the same record lines.

Files are written to a temporary name and renamed into place, readable by the
owner only: an export holds password hashes, ciphertexts and, in Auth.js
compatibility mode, live session tokens. An existing file is never replaced
unless asked (``export_file(..., overwrite=True)``), and never one behind a
symbolic link.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from . import clock
from .errors import StorageError, ValidationError
from .models import COLLECTIONS, Model
from .output_file import atomic_output
from .records import collection_of, dump_datetime, from_dict, to_dict

__all__ = [
    "FORMAT",
    "VERSION",
    "JsonlSource",
    "dumps_record",
    "export_file",
    "read_jsonl",
    "scan_jsonl",
    "write_jsonl",
]

FORMAT = "auth-store"
VERSION = 1

#: Called after each record with (collection, records of that collection so far).
RecordCallback = Callable[[str, int], None]


def dumps_record(record: Model) -> str:
    """One record line (without the newline): canonical, so equal records give equal text."""
    line = {"collection": collection_of(record), "record": to_dict(record)}
    return json.dumps(line, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def write_jsonl(
    records: Iterable[Model],
    stream: IO[str],
    *,
    backend: str | None = None,
    on_record: RecordCallback | None = None,
) -> dict[str, int]:
    """Write ``records`` (in dependency order) to ``stream``; return counts per collection."""
    header: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": dump_datetime(clock.now()),
    }
    if backend is not None:
        header["backend"] = backend
    stream.write(json.dumps(header, sort_keys=True) + "\n")
    counts = dict.fromkeys(COLLECTIONS, 0)
    for record in records:
        collection = collection_of(record)
        stream.write(dumps_record(record) + "\n")
        counts[collection] += 1
        if on_record is not None:
            on_record(collection, counts[collection])
    stream.write(json.dumps({"counts": counts, "end": True}, sort_keys=True) + "\n")
    return counts


def export_file(
    records: Iterable[Model],
    path: Path,
    *,
    backend: str | None = None,
    on_record: RecordCallback | None = None,
    overwrite: bool = False,
) -> dict[str, int]:
    """Write an export to ``path`` atomically (temp file, fsync, rename), mode 0600.

    An existing file is refused (``auth_store.output_file.OutputExistsError``)
    unless ``overwrite``, and so are a directory, a symbolic link and anything
    but a regular file, even with it; a failure leaves what was at ``path``
    as it was (``auth_store.output_file``).
    """
    with atomic_output(path, overwrite=overwrite) as stream:
        return write_jsonl(records, stream, backend=backend, on_record=on_record)


def _parse(line: str, number: int) -> dict[str, Any]:
    try:
        value = json.loads(line)
    except json.JSONDecodeError:
        raise ValidationError(f"line {number}: not valid JSON") from None
    if not isinstance(value, dict):
        raise ValidationError(f"line {number}: expected a JSON object")
    return value


def _check_header(line: str) -> dict[str, Any]:
    header = _parse(line, 1)
    if header.get("format") != FORMAT:
        raise ValidationError("line 1: not an auth-store export (no auth-store header)")
    version = header.get("version")
    if version != VERSION:
        raise ValidationError(
            f"line 1: export format version {version!r} is not supported (expected {VERSION})"
        )
    return header


def read_jsonl(stream: Iterable[str]) -> Iterator[Model]:
    """Yield the records of an export, validating structure as it goes.

    Raises ``ValidationError`` naming the line for a bad header, a bad record,
    a record after the end line, or a missing end line (a truncated file) -
    the last only once every record has been yielded; use ``scan_jsonl``
    first to refuse a bad file before anything is written.
    """
    lines = iter(stream)
    first = next(lines, None)
    if first is None:
        raise ValidationError("empty file: not an auth-store export")
    _check_header(first)
    counts = dict.fromkeys(COLLECTIONS, 0)
    order = list(COLLECTIONS)
    last_position = 0
    ended = False
    for number, line in enumerate(lines, start=2):
        if not line.strip():
            continue
        if ended:
            raise ValidationError(f"line {number}: data after the end line")
        item = _parse(line, number)
        if item.get("end") is True:
            expected = item.get("counts")
            if expected != counts:
                raise ValidationError(
                    f"line {number}: the end line counts {expected} records "
                    f"but the file holds {counts}"
                )
            ended = True
            continue
        collection = item.get("collection")
        if not isinstance(collection, str) or collection not in COLLECTIONS:
            raise ValidationError(f"line {number}: unknown collection {collection!r:.40}")
        position = order.index(collection)
        if position < last_position:
            raise ValidationError(
                f"line {number}: {collection} record after {order[last_position]} "
                "(records must be in dependency order)"
            )
        last_position = position
        try:
            record = from_dict(collection, item.get("record"))  # type: ignore[arg-type]
        except ValidationError as exc:
            raise ValidationError(f"line {number}: {exc}") from None
        counts[collection] += 1
        yield record
    if not ended:
        raise ValidationError("the file has no end line: it is truncated or incomplete")


def scan_jsonl(path: Path) -> dict[str, int]:
    """Validate a whole export file without storing anything; return its counts."""
    counts = dict.fromkeys(COLLECTIONS, 0)
    for record in _read_path(path):
        counts[collection_of(record)] += 1
    return counts


def _read_path(path: Path) -> Iterator[Model]:
    try:
        with open(path, encoding="utf-8") as stream:
            yield from read_jsonl(stream)
    except UnicodeDecodeError:
        raise ValidationError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise StorageError(f"cannot read {path}: {exc.strerror}") from exc


class JsonlSource:
    """A read-only view of an export file with the ``export()``/``counts()`` of a store.

    It lets an export be the source of a migration (``import`` is a migration
    from a file). The file is validated completely when opened.
    """

    backend = "jsonl"

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._counts = scan_jsonl(self.path)

    def export(self) -> Iterator[Model]:
        """Every record of the file, in its order."""
        return _read_path(self.path)

    def counts(self) -> dict[str, int]:
        """The number of records per collection in the file."""
        return dict(self._counts)

    def health(self) -> dict[str, Any]:
        """A health report in the shape stores give."""
        return {"backend": self.backend, "ok": True, "path": str(self.path)}

    def close(self) -> None:
        """Nothing to release."""
