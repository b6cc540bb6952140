"""pytest plugin (registered through the ``pytest11`` entry point): ``--auth-store-url``.

With ``--auth-store-url=URL``, ``pytest --pyargs auth_store.testing`` runs the
whole conformance suite (``auth_store/testing/test_url.py``) against fresh
stores derived from URL. Without it that module is not collected at all, so
no other test run is affected; but a run that names ``auth_store.testing``
without a URL, or with a URL the runner cannot use (an unknown scheme, a
Postgres server that does not answer), stops at once with one usage error
instead of collecting nothing or failing every case alike.
"""

from __future__ import annotations

from pathlib import Path

import pytest

__all__ = ["ASYNC_OPTION", "OPTION", "configured_async", "configured_url", "redact"]

OPTION = "--auth-store-url"
ASYNC_OPTION = "--auth-store-async"

_URL_MODULE = Path(__file__).with_name("test_url.py")
_state: dict[str, str | None] = {"url": None, "async": None}


def configured_url() -> str | None:
    """The ``--auth-store-url`` of the running pytest session, if any."""
    return _state["url"]


def configured_async() -> bool:
    """Whether the running session tests the async twin (``--auth-store-async``)."""
    return _state["async"] is not None


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("auth-store")
    group.addoption(
        OPTION,
        default=None,
        metavar="URL",
        help=(
            "run auth_store.testing's conformance suite against fresh stores derived from URL "
            "(pytest --pyargs auth_store.testing --auth-store-url=URL)"
        ),
    )
    group.addoption(
        ASYNC_OPTION,
        action="store_true",
        default=False,
        help=(
            "with --auth-store-url: run the suite against the async twin "
            "(await auth_store.connect_async(URL)), each call a task on one event loop"
        ),
    )


#: The schemes the URL runner can make fresh stores for (see ``urls.derive_url``).
SCHEMES = ("memory", "sqlite", "file", "postgresql", "postgres")

_EXAMPLE = f"pytest --pyargs auth_store.testing {OPTION}=sqlite:////tmp/auth-check.db"


def pytest_configure(config: pytest.Config) -> None:
    url = config.getoption(OPTION)
    _state["url"] = url if isinstance(url, str) and url else None
    _state["async"] = "yes" if config.getoption(ASYNC_OPTION) else None
    if _names_the_suite(config):
        _check_url(_state["url"])


def _names_the_suite(config: pytest.Config) -> bool:
    """Whether the command line asks for this package (``--pyargs auth_store.testing``)."""
    package = Path(__file__).resolve().parent
    for arg in config.args:
        name = arg.split("::", 1)[0]
        if config.option.pyargs and (name == __package__ or name.startswith(f"{__package__}.")):
            return True
        try:
            path = Path(name).resolve()
        except (OSError, ValueError):
            continue
        if path == package or package in path.parents:
            return True
    return False


def _check_url(url: str | None) -> None:
    """Refuse, with one usage error, a run of the suite that could only fail or do nothing."""
    if url is None:
        raise pytest.UsageError(
            f"the conformance suite needs a store to test: pass {OPTION}=URL, e.g. {_EXAMPLE}"
        )
    from urllib.parse import urlsplit

    scheme = urlsplit(url).scheme.lower()
    if scheme not in SCHEMES:
        raise pytest.UsageError(
            f"{OPTION}: the URL runner cannot make fresh stores for {scheme or 'scheme-less'!r} "
            f"URLs (it knows {', '.join(SCHEMES)}); for another backend, subclass "
            "auth_store.testing.AdapterConformance (see docs/writing-an-adapter.md)"
        )
    if scheme.startswith("postgres"):
        problem = _postgres_problem(url)
        if problem is not None:
            raise pytest.UsageError(
                f"{OPTION}: cannot reach the Postgres server at {redact(url)}: {problem}"
            )


def _postgres_problem(url: str) -> str | None:
    """Why the server at ``url`` can't be used, or ``None`` (one connection, 5 s at most)."""
    from urllib.parse import urlsplit, urlunsplit

    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install 'auth-store[postgres]')"
    parts = urlsplit(url)
    conninfo = urlunsplit(("postgresql", parts.netloc, parts.path, "", ""))
    try:
        psycopg.connect(conninfo, connect_timeout=5).close()
    except psycopg.Error as exc:
        return " ".join(str(exc).split()) or type(exc).__name__
    return None


def pytest_unconfigure(config: pytest.Config) -> None:
    _state["url"] = None
    _state["async"] = None


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if collection_path == _URL_MODULE and configured_url() is None:
        return True
    return None


def pytest_report_header(config: pytest.Config) -> str | None:
    url = configured_url()
    if url is None:
        return None
    twin = " (the async twin)" if configured_async() else ""
    return f"auth-store conformance suite: fresh stores derived from {redact(url)}{twin}"


def redact(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for headers and messages)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    netloc = f"{parts.username}:***@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
