"""``connect(url)``: open the backend a URL names, importing only that backend.

URL forms::

    memory://                       in-process, for tests and experiments
    sqlite:///relative/path.db      three slashes: relative to the working directory
    sqlite:////absolute/path.db     four slashes: absolute
    file:///absolute/dir            the JSON file store
    file:relative/dir
    postgresql://user@host/db       (also postgres://)

Query parameters are backend options (``?durability=normal``, ``?pool_max=10``).
Without a URL, ``AUTH_STORE_URL`` is read, then ``sqlite:///./auth_store.db``.
"""

from __future__ import annotations

import importlib
import os
from urllib.parse import parse_qsl, urlsplit

from .adapter import Adapter
from .errors import ConfigurationError

__all__ = ["DEFAULT_URL", "connect", "parse_options"]

DEFAULT_URL = "sqlite:///./auth_store.db"

# scheme -> (module under auth_store.adapters, class name)
_BACKENDS = {
    "memory": ("memory", "MemoryAdapter"),
    "sqlite": ("sqlite", "SQLiteAdapter"),
    "file": ("file", "FileAdapter"),
    "postgresql": ("postgres", "PostgresAdapter"),
    "postgres": ("postgres", "PostgresAdapter"),
}


def connect(url: str | None = None) -> Adapter:
    """Open the store named by ``url`` (default: ``AUTH_STORE_URL``, then SQLite)."""
    if url is None:
        url = os.environ.get("AUTH_STORE_URL") or DEFAULT_URL
    if not isinstance(url, str):
        raise ConfigurationError(f"store URL must be a string, got {type(url).__name__}")
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        raise ConfigurationError("the store URL cannot be parsed") from None
    if scheme not in _BACKENDS:
        known = ", ".join(sorted(_BACKENDS))
        raise ConfigurationError(f"unknown store URL scheme {scheme!r}; expected one of: {known}")
    module_name, class_name = _BACKENDS[scheme]
    try:
        module = importlib.import_module(f"auth_store.adapters.{module_name}")
    except ImportError as exc:
        extra = "postgres" if module_name == "postgres" else module_name
        raise ConfigurationError(
            f"the {module_name} backend needs extra packages: pip install 'auth-store[{extra}]'"
        ) from exc
    adapter_class = getattr(module, class_name)
    adapter: Adapter = adapter_class.from_url(url)
    return adapter


_BOOLS = {
    **dict.fromkeys(("1", "true", "yes", "on"), True),
    **dict.fromkeys(("0", "false", "no", "off"), False),
}


def _bool(raw: str) -> bool:
    try:
        return _BOOLS[raw.lower()]
    except KeyError:
        raise ValueError(raw) from None


def parse_options(query: str, allowed: dict[str, type]) -> dict[str, object]:
    """Parse URL query options, converting each to its type; unknown names are errors.

    A ``bool`` option is ``true``/``false`` (also ``1``/``0``, ``yes``/``no``,
    ``on``/``off``); any other value is an error rather than a silent ``False``.
    """
    options: dict[str, object] = {}
    for name, raw in parse_qsl(query, keep_blank_values=True, strict_parsing=False):
        if name not in allowed:
            known = ", ".join(sorted(allowed)) or "none"
            raise ConfigurationError(f"unknown store URL option {name!r} (known: {known})")
        kind = allowed[name]
        try:
            options[name] = _bool(raw) if kind is bool else kind(raw)
        except ValueError:
            raise ConfigurationError(
                f"store URL option {name}={raw!r} is not a {kind.__name__}"
            ) from None
    return options
