"""``AdapterConformance``: the contract of ``auth_store.Adapter`` as pytest cases.

Subclass it once per adapter and override the hooks::

    class TestMyAdapter(AdapterConformance):
        multiprocess = True          # False if the store lives in one process

        def new_url(self, tmp_path):  # a fresh, empty store per call
            return f"sqlite:///{tmp_path}/auth.db"

        def raw(self, adapter, url):  # a RawStorage reading what was really written
            return SQLiteRaw(url)

Every test gets a fresh, empty store (fixture ``adapter``) and depends on no
other test. The cases come in groups (``AuthJsCases``, ``SemanticsCases``,
``AccountSessionCases``, ``HousekeepingCases``, ``RaceCases``) that this one
class combines.
"""

from __future__ import annotations

from typing import Any

from ._accounts_sessions import AccountSessionCases
from ._authjs import AuthJsCases
from ._base import BAD_IDS, RawStorage, raw_values
from ._housekeeping import HousekeepingCases
from ._races import RaceCases
from ._semantics import SemanticsCases

__all__ = ["BAD_IDS", "AdapterConformance", "RawStorage", "raw_values"]


class AdapterConformance(
    AuthJsCases, SemanticsCases, AccountSessionCases, HousekeepingCases, RaceCases
):
    """Base class of the conformance suite; subclass it once per adapter.

    Hooks: ``new_url(tmp_path)`` (required: a URL naming a fresh, empty store
    in or under the given empty directory), ``raw(adapter, url)`` (required: a
    ``RawStorage`` backdoor), ``open(url)`` (optional: defaults to
    ``auth_store.connect``). Class attributes: ``multiprocess`` (default True;
    set False for stores that live in one process, which leaves the
    process cases out of the subclass), ``race_threads``, ``race_processes``
    and ``race_timeout``.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.multiprocess:
            # Drop (rather than skip) cases that can't apply: pytest collects only callables.
            for name in dir(cls):
                if getattr(getattr(cls, name), "needs_processes", False):
                    setattr(cls, name, None)
