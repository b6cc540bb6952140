"""The conformance suite: the executable contract every adapter must pass.

Subclass ``AdapterConformance`` in a test module, say how to make a fresh,
empty store and how to read its raw storage, and pytest runs every case of
the contract against your adapter::

    from auth_store.testing import AdapterConformance
    from auth_store.testing.raw import SQLiteRaw, sqlite_path

    class TestMyAdapter(AdapterConformance):
        def new_url(self, tmp_path):
            return f"sqlite:///{tmp_path}/auth.db"

        def raw(self, adapter, url):
            return SQLiteRaw(sqlite_path(url))

Or run the whole suite against a fresh store derived from any URL with one line::

    pytest --pyargs auth_store.testing --auth-store-url=sqlite:////tmp/x.db
"""

from __future__ import annotations

import pytest

# Plain asserts in the cases get pytest's detailed failure messages. This must
# run before the case modules are imported, hence before the imports below.
pytest.register_assert_rewrite(
    *(
        f"auth_store.testing.{name}"
        for name in (
            "_accounts_sessions",
            "_authjs",
            "_base",
            "_housekeeping",
            "_races",
            "_semantics",
            "conformance",
        )
    )
)

from .conformance import AdapterConformance, RawStorage  # noqa: E402

__all__ = ["AdapterConformance", "RawStorage"]
