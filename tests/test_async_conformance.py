"""The whole conformance suite on the async twin of every backend.

The same cases as ``pytest --pyargs auth_store.testing --auth-store-url=URL
--auth-store-async``: each store is ``await auth_store.connect_async(url)``
driven through ``auth_store.testing.blocking`` (every call a task on one
event loop; the thread races are N concurrent tasks; each process of a
process race opens its own twin). Postgres is the native twin, on both
flavors; SQLite, the file store and memory run on worker threads.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from auth_store.adapter import Adapter
from auth_store.testing import AdapterConformance, RawStorage, blocking
from auth_store.testing.raw import raw_storage_for
from auth_store.testing.urls import derive_url
from tests.pg import require_postgres


class AsyncTwinConformance(AdapterConformance):
    """The suite against ``connect_async(url)`` for URLs like ``base_url()``."""

    process_opener = "auth_store.testing.blocking:connect"

    def base_url(self) -> str:
        raise NotImplementedError

    def new_url(self, tmp_path: Path) -> str:
        url, cleanup = derive_url(self.base_url(), tmp_path)
        if cleanup is not None:
            self.add_cleanup(cleanup)
        return url

    def open(self, url: str) -> Adapter:
        return blocking.connect(url)

    def open_existing(self, url: str) -> Adapter:
        return blocking.connect(url, create=False)

    def raw(self, adapter: Adapter, url: str) -> RawStorage:
        return raw_storage_for(blocking.inner_adapter(adapter), url)


class TestMemoryTwin(AsyncTwinConformance):
    multiprocess = False

    def base_url(self) -> str:
        return "memory://"


class TestSQLiteTwin(AsyncTwinConformance):
    def base_url(self) -> str:
        return "sqlite:///auth.db"


class TestFileTwin(AsyncTwinConformance):
    def base_url(self) -> str:
        return "file:///store"


@pytest.mark.postgres
class TestPostgresTwin(AsyncTwinConformance):
    def base_url(self) -> str:
        return require_postgres()


@pytest.mark.postgres
class TestPostgresBetterAuthTwin(AsyncTwinConformance):
    def base_url(self) -> str:
        separator = "&" if "?" in require_postgres() else "?"
        return f"{require_postgres()}{separator}flavor=better-auth"
