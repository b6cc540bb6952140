"""``Dialect``: everything SQLite and Postgres do differently, in one small class.

The shared SQL layer writes statements with ``?`` placeholders and calls the
dialect to render them, to convert values on the way in and out, and to
classify driver errors. The base class assumes a driver with native types
(datetimes, dicts, bools pass through unchanged); a backend whose storage
lacks them (SQLite) overrides the ``dump_*``/``load_*`` pairs. No driver is
imported here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

__all__ = ["Dialect", "Fault", "FaultKind"]

#: What a driver error means to the adapter: a unique key is taken ("unique"),
#: a referenced user is missing ("foreign_key"), a value the validation let
#: through can't be stored ("invalid", e.g. a lone surrogate), a lock wait
#: timed out ("busy"), or anything else ("other").
FaultKind = Literal["unique", "foreign_key", "invalid", "busy", "other"]


@dataclass(frozen=True, slots=True)
class Fault:
    """A classified driver error.

    ``key`` names the violated unique key as ``table(column,column)`` using the
    schema's column names (``users(email)``, ``accounts(provider,providerAccountId)``),
    or is ``None`` when the driver does not say. ``detail`` is a description
    safe to show: no values, tokens or other secrets.
    """

    kind: FaultKind
    key: str | None = None
    detail: str = ""


class Dialect:
    """How one SQL engine spells and stores things; subclass once per backend."""

    #: Names the backend in messages and picks ``migrations/<name>/``.
    name: str = "sql"
    #: The folder of ``migrations/`` holding this dialect's files, when not ``name``
    #: (a schema flavor: ``sqlite-better-auth``).
    migrations_folder: str | None = None
    #: The driver's positional placeholder; statements are written with ``?``.
    placeholder: str = "?"
    #: Whether ``INSERT/UPDATE/DELETE ... RETURNING`` is available. Without it
    #: the shared layer re-reads the row inside the same write transaction.
    returning: bool = True
    #: The expression the unique e-mail index is on; lookups by e-mail compare
    #: it with the normalised address (Postgres: ``lower(email)``, so rows
    #: another app wrote with capitals are found and still collide).
    email_key: str = "email"
    #: DDL of the table that records applied migrations (run before any migration).
    migrations_table: str = (
        "CREATE TABLE IF NOT EXISTS auth_store_migrations ("
        " version INTEGER PRIMARY KEY,"
        " name TEXT NOT NULL,"
        " checksum TEXT NOT NULL,"
        " applied_at TEXT NOT NULL)"
    )

    def render(self, sql: str) -> str:
        """``sql`` with each ``?`` placeholder in this driver's style.

        Statements in the shared layer contain no ``?`` or ``%`` other than
        placeholders, so a plain replacement is exact.
        """
        return sql if self.placeholder == "?" else sql.replace("?", self.placeholder)

    # Value conversion. Each ``load_*`` may raise ValueError or TypeError on a
    # corrupt value; the row codec turns that into a StorageError.

    def dump_datetime(self, value: datetime) -> Any:
        """An aware UTC datetime as the driver should bind it."""
        return value

    def load_datetime(self, value: Any) -> datetime:
        """A stored datetime back to an aware UTC datetime."""
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise TypeError("stored datetime is not timezone-aware")
        return value

    def dump_json(self, value: dict[str, Any]) -> Any:
        """A JSON-ready dict as the driver should bind it."""
        return value

    def load_json(self, value: Any) -> dict[str, Any]:
        """A stored JSON object back to a dict (``NULL`` reads as ``{}``)."""
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise TypeError("stored JSON is not an object")
        return value

    def load_email(self, value: Any) -> str:
        """A stored e-mail as the adapter returns it: as stored, which is normalised.

        A backend whose rows another app also writes (Postgres) normalises here.
        """
        return value  # type: ignore[no-any-return]

    def dump_bool(self, value: bool) -> Any:
        """A bool as the driver should bind it."""
        return value

    def load_bool(self, value: Any) -> bool:
        """A stored bool back to ``bool``."""
        return bool(value)

    # Scripts and errors.

    def split_script(self, script: str) -> list[str]:
        """A migration file as the statements to execute, in order.

        The default runs the whole file as one statement, which drivers that
        accept several statements per call without parameters (psycopg) allow.
        """
        return [script]

    def classify(self, exc: BaseException) -> Fault:
        """What a driver error means (see ``Fault``). The default knows nothing."""
        return Fault("other", detail=type(exc).__name__)
