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
``connect(url, create=False)`` opens only a store that is already there
(``NoStoreError`` otherwise, nothing created): what tools that read, check
or change an existing store use, so that a typo in the URL never makes a new
empty store. Other packages add schemes through the ``auth_store.backends`` entry-point
group (see docs/writing-an-adapter.md); each backend parses its own URLs in
its ``from_url``.
"""

from __future__ import annotations

import asyncio
import importlib
import os
from dataclasses import dataclass
from importlib.metadata import entry_points
from urllib.parse import parse_qsl, urlsplit

from .adapter import Adapter
from .async_adapter import AsyncAdapter
from .capabilities import OpensExisting
from .errors import ConfigurationError

__all__ = [
    "DEFAULT_URL",
    "ENTRY_POINT_GROUP",
    "backend_class",
    "backend_classes",
    "connect",
    "connect_async",
    "parse_options",
]

DEFAULT_URL = "sqlite:///./auth_store.db"

#: Entry-point group through which other packages add backends: the entry
#: point's name is the URL scheme, its value ``module:AdapterClass``.
ENTRY_POINT_GROUP = "auth_store.backends"


@dataclass(frozen=True)
class _Builtin:
    """A backend shipped in ``auth_store.adapters`` and what it needs beyond the base install."""

    module: str
    class_name: str
    #: The extra that installs ``needs`` (``pip install 'auth-store[<extra>]'``).
    extra: str | None = None
    #: Top-level modules of its optional dependencies.
    needs: tuple[str, ...] = ()


_POSTGRES = _Builtin("postgres", "PostgresAdapter", "postgres", ("psycopg", "psycopg_pool"))
_BUILTINS = {
    "memory": _Builtin("memory", "MemoryAdapter"),
    "sqlite": _Builtin("sqlite", "SQLiteAdapter"),
    "file": _Builtin("file", "FileAdapter"),
    "postgresql": _POSTGRES,
    "postgres": _POSTGRES,
}


def connect(url: str | None = None, *, create: bool = True) -> Adapter:
    """Open the store named by ``url`` (default: ``AUTH_STORE_URL``, then SQLite).

    With ``create=False`` the store must already exist: ``NoStoreError`` when
    there is none, and nothing is created. A backend takes part through
    ``auth_store.capabilities.OpensExisting`` (every built-in one does); one
    that does not is opened as its ``from_url`` opens it.
    """
    url = _url(url)
    return _open(backend_class(url), url, create)


def _open(cls: type[Adapter], url: str, create: bool) -> Adapter:
    if not create and issubclass(cls, OpensExisting):
        return cls.open_existing(url)
    return cls.from_url(url)


async def connect_async(url: str | None = None, *, create: bool = True) -> AsyncAdapter:
    """The async twin of ``connect``: ``store = await auth_store.connect_async(url)``.

    A backend with a native twin (``SupportsNativeAsync``: Postgres) opens
    it; any other is opened as ``connect`` opens it, off the event loop, and
    runs on worker threads (``async_twin.ThreadedAsyncAdapter``).
    ``create=False`` is ``connect``'s: ``NoStoreError`` where there is no
    store, and nothing created.
    """
    from .async_twin import ThreadedAsyncAdapter
    from .capabilities import SupportsNativeAsync

    url = _url(url)
    cls = backend_class(url)
    if issubclass(cls, SupportsNativeAsync):
        # ``create`` only when it is not the default: a backend of another
        # package may implement the older ``connect_async(url)``.
        return await (cls.connect_async(url) if create else cls.connect_async(url, create=False))
    return ThreadedAsyncAdapter(await asyncio.to_thread(_open, cls, url, create))


def _url(url: str | None) -> str:
    if url is None:
        url = os.environ.get("AUTH_STORE_URL") or DEFAULT_URL
    if not isinstance(url, str):
        raise ConfigurationError(f"store URL must be a string, got {type(url).__name__}")
    return url


def _scheme(url: str) -> str:
    try:
        return urlsplit(url).scheme.lower()
    except ValueError:
        raise ConfigurationError("the store URL cannot be parsed") from None


def backend_class(url: str) -> type[Adapter]:
    """The adapter class that opens ``url``, importing only that backend.

    Built-in schemes come first, then backends other packages register under
    the ``auth_store.backends`` entry-point group. A missing optional
    dependency is a ``ConfigurationError`` naming the extra to install; any
    other import error is a bug and propagates as it is.
    """
    scheme = _scheme(url)
    builtin = _BUILTINS.get(scheme)
    if builtin is not None:
        return _load_builtin(builtin)
    found = entry_points(group=ENTRY_POINT_GROUP, name=scheme)
    if not found:
        known = ", ".join(sorted({*_BUILTINS, *entry_points(group=ENTRY_POINT_GROUP).names}))
        raise ConfigurationError(f"unknown store URL scheme {scheme!r}; expected one of: {known}")
    loaded = next(iter(found)).load()
    if not (isinstance(loaded, type) and issubclass(loaded, Adapter)):
        raise ConfigurationError(
            f"the {ENTRY_POINT_GROUP} entry point {scheme!r} is not an Adapter subclass"
        )
    return loaded


def _load_builtin(builtin: _Builtin) -> type[Adapter]:
    try:
        module = importlib.import_module(f"auth_store.adapters.{builtin.module}")
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").partition(".")[0]
        if builtin.extra is None or missing not in builtin.needs:
            raise
        raise ConfigurationError(
            f"the {builtin.module} backend needs the {missing} package: "
            f"pip install 'auth-store[{builtin.extra}]'"
        ) from exc
    cls: type[Adapter] = getattr(module, builtin.class_name)
    return cls


def backend_classes() -> list[type[Adapter]]:
    """Every backend class that can be loaded here (built-in and registered by others).

    A built-in backend whose optional dependencies are missing is left out.
    """
    classes: list[type[Adapter]] = []
    for builtin in dict.fromkeys(_BUILTINS.values()):
        try:
            classes.append(_load_builtin(builtin))
        except ConfigurationError:
            continue
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        loaded = entry.load()
        if isinstance(loaded, type) and issubclass(loaded, Adapter) and loaded not in classes:
            classes.append(loaded)
    return classes


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
