"""What a check or a verification finds: ``Problem``s, gathered in a ``Report``.

One type for every finder: ``check_store`` and a backend's own ``check()``
(``CheckReport``), and migration verification (``VerificationReport`` in
``auth_store.migration``). A problem names records by id or file, never by a
secret value, so reports are safe to print and to log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["MAX_NAMED", "CheckReport", "Findings", "Problem", "Report"]

#: How many problems of one kind a report names before it only counts the rest.
MAX_NAMED = 50


@dataclass(frozen=True)
class Problem:
    """One finding, safe to print (no secret values).

    ``kind`` says what is wrong (``orphan``, ``duplicate``, ``count_mismatch``,
    ``missing``, ``different``, ``extra``, ``lookup``, ``conflict``,
    ``backend``, or a backend's own kind such as the file store's
    ``stray-temp-file``); ``collection`` is the collection concerned (``store``
    for the store as a whole). ``path`` names the file or object concerned
    when the storage has one; ``repairable`` says whether the backend's
    ``repair()`` can fix it.
    """

    kind: str
    collection: str
    message: str
    path: str = ""
    repairable: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The problem as a JSON-ready dict."""
        found: dict[str, Any] = {
            "kind": self.kind,
            "collection": self.collection,
            "message": self.message,
        }
        if self.path:
            found["path"] = self.path
            found["repairable"] = self.repairable
        return found

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        return f"{self.kind} [{self.collection}]: {where}{self.message}"


@dataclass
class Report:
    """Problems found; ``ok`` when there are none."""

    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether nothing is wrong."""
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        """The report as a JSON-ready dict."""
        return {"ok": self.ok, "problems": [p.to_dict() for p in self.problems]}


@dataclass
class CheckReport(Report):
    """The outcome of a check (``check_store``, or a backend's ``check()``/``repair()``).

    ``problems`` is what is wrong now (after a repair: what is left, which
    needs a person); ``repaired`` is what a repair fixed. ``counts`` and
    ``expired`` (records, and expired sessions and tokens, per collection)
    are filled by ``check_store``. Expired rows are normal wear, not damage.
    """

    backend: str = ""
    repaired: list[Problem] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    expired: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The report as a JSON-ready dict (each repair as one line of text)."""
        return {
            **super().to_dict(),
            "backend": self.backend,
            "counts": self.counts,
            "expired": self.expired,
            "repaired": [str(p) for p in self.repaired],
        }


class Findings:
    """Problems grouped by (kind, collection), naming the first ``MAX_NAMED`` of each."""

    def __init__(self) -> None:
        self._problems: list[Problem] = []
        self._named: dict[tuple[str, str], int] = {}

    def add(self, kind: str, collection: str, message: str) -> None:
        """Record a problem (only counted once ``MAX_NAMED`` of its kind are named)."""
        n = self._named.get((kind, collection), 0)
        self._named[(kind, collection)] = n + 1
        if n < MAX_NAMED:
            self._problems.append(Problem(kind, collection, message))

    def close(self) -> list[Problem]:
        """Every named problem, plus one "... and N more" line per truncated group."""
        problems = list(self._problems)
        for (kind, collection), n in self._named.items():
            if n > MAX_NAMED:
                problems.append(
                    Problem(kind, collection, f"... and {n - MAX_NAMED} more {kind} problem(s)")
                )
        return problems
