"""The file store: one human-readable JSON file per record, JSONL indices, no server.

``auth_store.connect("file:///srv/auth")`` (or ``file:relative/dir``) opens it;
``?durability=normal`` trades the fsyncs for speed. Several threads and
processes may share one directory. Modules, by concern:

- ``_layout``: which file holds what (collections, file names, index keys)
- ``_atomic``: durable atomic writes, appends, reads relative to a directory fd
- ``_locking``: the lock between threads and processes, and the write intent
- ``_index``: append-only JSONL indices, refreshed from their tail, compacted
- ``_store``: opening, crash recovery, the write protocol, verified lookups
- ``_adapter``: the ``Adapter`` contract on top
- ``_check``: ``check()`` and ``repair()``
- ``_backup``: ``backup(dest)`` and ``FileAdapter.restore(archive, root)``
"""

from __future__ import annotations

from auth_store.problems import CheckReport, Problem

from ._adapter import DURABILITY, FileAdapter

__all__ = ["DURABILITY", "CheckReport", "FileAdapter", "Problem"]
