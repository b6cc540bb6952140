"""Session-wide setup of the project's tests: the Postgres server they test against.

See ``tests/pg_server.py``: ``AUTH_STORE_TEST_POSTGRES_URL`` if set, else the
local server on 5432 if it answers, else a throwaway server started here and
stopped when the session ends. Postgres tests never skip.
"""

from __future__ import annotations

import pytest

from tests.pg_server import ensure_test_server


def pytest_configure(config: pytest.Config) -> None:
    server = ensure_test_server()
    if server is not None:
        config.add_cleanup(server.stop)


def pytest_report_header(config: pytest.Config) -> str:
    import os

    from auth_store.testing.plugin import redact
    from tests.pg_server import PG_ENV, problem

    url = os.environ.get(PG_ENV)
    return f"Postgres: {redact(url)}" if url else f"Postgres: none ({problem})"
