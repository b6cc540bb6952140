"""The conformance suite on the memory backend (the reference)."""

from __future__ import annotations

from pathlib import Path

from auth_store.adapter import Adapter
from auth_store.testing import AdapterConformance, RawStorage
from auth_store.testing.raw import MemoryRaw


class TestMemory(AdapterConformance):
    multiprocess = False

    def new_url(self, tmp_path: Path) -> str:
        return "memory://"

    def raw(self, adapter: Adapter, url: str) -> RawStorage:
        return MemoryRaw(adapter)
