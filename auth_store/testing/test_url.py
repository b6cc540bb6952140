"""Run the whole conformance suite against a store named by a URL::

    pytest --pyargs auth_store.testing --auth-store-url=URL

The suite needs a fresh, empty store for every test and deletes what it
writes, so it never runs against the store the URL names. It derives a new
store of the same kind from the URL for each test instead:

``memory://``
    used as is: every ``connect`` makes a new, empty in-process store. The
    cases that need a second process are left out (the store lives in one).
``sqlite:///path/name.db`` (any query options kept)
    a new database file ``name.db`` in the test's own temporary directory.
``file:///abs/dir`` or ``file:relative/dir`` (options kept)
    a new store directory ``dir`` in the test's own temporary directory.
``postgresql://...`` or ``postgres://...``
    the same server and database, in a new schema
    ``auth_store_conformance_<random>`` created for the test and dropped
    with everything in it afterwards; the backend is given that schema with
    the ``schema`` URL option. A backend without that option fails every
    test with a message saying so: running the suite on the database's own
    tables would destroy their data.

With ``--auth-store-async`` every case runs against the async twin
(``await auth_store.connect_async(url)``) through ``blocking.BlockingAdapter``:
each call is a task on one event loop, the thread races are N concurrent
tasks, and the process races open the twin in every child.

Any other scheme is a usage error (see ``plugin``): subclass
``AdapterConformance`` (see docs/writing-an-adapter.md) to say how to make a
fresh store.

Without ``--auth-store-url`` the ``auth_store.testing`` plugin keeps this
module from being collected, so other test runs are unaffected; a run that
names ``auth_store.testing`` without it is a usage error.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest

from auth_store.adapter import Adapter
from auth_store.errors import ConfigurationError
from auth_store.testing import blocking
from auth_store.testing.conformance import AdapterConformance, RawStorage
from auth_store.testing.plugin import OPTION, configured_async, configured_url, redact
from auth_store.testing.raw import raw_storage_for
from auth_store.testing.urls import derive_url

__all__ = ["TestURL"]

BASE_URL = configured_url()
if BASE_URL is None:
    pytest.skip(f"pass {OPTION}=URL to run the conformance suite", allow_module_level=True)


class TestURL(AdapterConformance):
    """The whole suite, on fresh stores derived from ``--auth-store-url``."""

    multiprocess = urlsplit(BASE_URL).scheme.lower() != "memory"
    twin = configured_async()
    process_opener = "auth_store.testing.blocking:connect" if twin else "auth_store:connect"

    def new_url(self, tmp_path: Path) -> str:
        assert BASE_URL is not None
        url, cleanup = derive_url(BASE_URL, tmp_path)
        if cleanup is not None:
            self.add_cleanup(cleanup)
        return url

    def open(self, url: str) -> Adapter:
        try:
            return blocking.connect(url) if self.twin else super().open(url)
        except ConfigurationError as exc:
            if "schema" in str(exc) and urlsplit(url).scheme.startswith("postgres"):
                pytest.fail(
                    "the Postgres backend rejected the `schema` URL option, which the URL "
                    "runner needs to give each test a fresh, empty schema without touching "
                    f"your tables ({exc})",
                    pytrace=False,
                )
            raise

    def open_existing(self, url: str) -> Adapter:
        return blocking.connect(url, create=False) if self.twin else super().open_existing(url)

    def raw(self, adapter: Adapter, url: str) -> RawStorage:
        return raw_storage_for(blocking.inner_adapter(adapter), url)

    def test_runner_does_not_use_the_given_store(self, url: str) -> None:
        assert BASE_URL is not None
        if urlsplit(BASE_URL).scheme.lower() != "memory":
            assert redact(url) != redact(BASE_URL)
