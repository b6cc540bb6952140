"""``AdapterConformance``: the contract of ``auth_store.Adapter`` as pytest cases."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, Protocol

import pytest

import auth_store
from auth_store.adapter import Adapter


class RawStorage(Protocol):
    """A backdoor into what a store really wrote, for checks the API can't make."""

    def records(self, collection: str) -> list[dict[str, Any]]:
        """Every stored record of ``collection`` as raw as the storage keeps it."""
        ...

    def dump(self) -> bytes:
        """Every byte the store holds (files, rows), for "no plaintext here" checks."""
        ...


class AdapterConformance:
    """Base class of the conformance suite; subclass it once per adapter.

    Override ``new_url`` (a URL naming a fresh, empty store; called once per
    test) and, for backdoor checks, ``raw``. Set ``multiprocess = False`` for
    stores that live in one process (memory).
    """

    #: Whether several processes can open the same URL and share the store.
    multiprocess: ClassVar[bool] = True

    def new_url(self, tmp_path: Path) -> str:
        """A URL naming a new, empty store that no other test uses."""
        raise NotImplementedError

    def open(self, url: str) -> Adapter:
        """Open a store by URL (``auth_store.connect`` unless overridden)."""
        return auth_store.connect(url)

    def raw(self, adapter: Adapter, url: str) -> RawStorage:
        """A reader of the raw storage behind ``adapter``."""
        raise NotImplementedError

    @pytest.fixture
    def url(self, tmp_path: Path) -> str:
        return self.new_url(tmp_path)

    @pytest.fixture
    def adapter(self, url: str) -> Iterator[Adapter]:
        store = self.open(url)
        try:
            yield store
        finally:
            store.close()
