"""The conformance suite: the executable contract every adapter must pass.

Subclass ``AdapterConformance`` in a test module, say how to make a fresh,
empty store and how to read its raw storage, and pytest runs every case of
the contract against your adapter::

    from auth_store.testing import AdapterConformance

    class TestMyAdapter(AdapterConformance):
        def new_url(self, tmp_path):
            return f"mystore://{tmp_path}"

Or run the whole suite against any URL with one line::

    pytest --pyargs auth_store.testing --auth-store-url=sqlite:////tmp/x.db
"""

from __future__ import annotations

from .conformance import AdapterConformance, RawStorage

__all__ = ["AdapterConformance", "RawStorage"]
