"""Models to JSON-ready dicts and back: the one serialisation every exporter shares.

Datetimes become ISO 8601 strings in UTC with microseconds
(``2026-01-02T03:04:05.000006+00:00``), which sort as text. ``from_dict``
parses and validates, so a hand-edited or foreign record is checked like any
other input.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from typing import Any

from .errors import ValidationError
from .models import COLLECTIONS, Model

__all__ = ["collection_of", "dump_datetime", "from_dict", "load_datetime", "to_dict"]

_COLLECTION_BY_TYPE = {cls: name for name, cls in COLLECTIONS.items()}
_DATETIME_FIELDS = {
    name: frozenset(f.name for f in fields(cls) if "datetime" in str(f.type))
    for name, cls in COLLECTIONS.items()
}
_FIELD_NAMES = {name: frozenset(f.name for f in fields(cls)) for name, cls in COLLECTIONS.items()}


def collection_of(model: Model) -> str:
    """The collection a model instance belongs to (``users``, ``accounts``, ...)."""
    try:
        return _COLLECTION_BY_TYPE[type(model)]
    except KeyError:
        raise ValidationError(f"not an auth-store model: {type(model).__name__}") from None


def dump_datetime(value: datetime) -> str:
    """An aware datetime as fixed-width ISO 8601 UTC text with microseconds."""
    return value.isoformat(timespec="microseconds")


def load_datetime(text: str) -> datetime:
    """Parse text written by ``dump_datetime`` (any aware ISO 8601 form is accepted)."""
    try:
        return datetime.fromisoformat(text)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"not an ISO 8601 datetime: {text!r:.40}") from exc


def to_dict(model: Model) -> dict[str, Any]:
    """A model as a JSON-ready dict (field name -> value)."""
    collection = collection_of(model)
    out: dict[str, Any] = {}
    for name in _FIELD_NAMES[collection]:
        value = getattr(model, name)
        if isinstance(value, datetime):
            value = dump_datetime(value)
        out[name] = value
    return out


def from_dict(collection: str, data: dict[str, Any]) -> Model:
    """Rebuild a model of ``collection`` from ``to_dict`` output.

    Unknown keys are a ``ValidationError``; missing optional keys take their
    defaults. Values are parsed, not yet validated: pass the result through
    the adapter (which validates) or ``auth_store.validation``.
    """
    if collection not in COLLECTIONS:
        raise ValidationError(f"unknown collection {collection!r:.40}")
    if not isinstance(data, dict):
        raise ValidationError(f"a {collection} record must be an object")
    names = _FIELD_NAMES[collection]
    if not names.issuperset(data):
        unknown = set(data) - names
        raise ValidationError(f"unknown {collection} field(s): {', '.join(sorted(unknown))}")
    values = dict(data)
    for name in _DATETIME_FIELDS[collection]:
        value = values.get(name)
        if isinstance(value, str):
            values[name] = load_datetime(value)
    try:
        return COLLECTIONS[collection](**values)
    except TypeError as exc:
        raise ValidationError(f"bad {collection} record: {exc}") from None
