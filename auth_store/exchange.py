"""The former name of ``auth_store.jsonl`` (the JSON Lines export format), kept as an alias."""

from __future__ import annotations

from .jsonl import (
    FORMAT,
    VERSION,
    JsonlSource,
    dumps_record,
    export_file,
    read_jsonl,
    scan_jsonl,
    write_jsonl,
)

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
