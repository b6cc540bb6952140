"""The mirror adapter is an Adapter: the whole conformance suite runs on it, and after
every case its two stores still hold exactly the same records."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from auth_store.adapter import Adapter
from auth_store.adapters.memory import MemoryAdapter
from auth_store.jsonl import dumps_record
from auth_store.mirror import MirrorAdapter
from auth_store.testing import AdapterConformance, RawStorage
from auth_store.testing.raw import MemoryRaw


class TestMirror(AdapterConformance):
    multiprocess = False

    opened: list[MirrorAdapter]

    def new_url(self, tmp_path: Path) -> str:
        return "memory://"

    def open(self, url: str) -> Adapter:
        mirror = MirrorAdapter(MemoryAdapter(), MemoryAdapter(), compare_reads=True, strict=True)
        self.opened.append(mirror)
        return mirror

    def raw(self, adapter: Adapter, url: str) -> RawStorage:
        assert isinstance(adapter, MirrorAdapter)
        return MemoryRaw(adapter.primary)

    @pytest.fixture(autouse=True)
    def _stay_in_step(self) -> Iterator[None]:
        self.opened = []
        yield
        for mirror in self.opened:
            assert list(mirror.divergences) == []
            primary = sorted(dumps_record(r) for r in mirror.primary.export())
            secondary = sorted(dumps_record(r) for r in mirror.secondary.export())
            assert primary == secondary
