"""A real Better Auth app on a test database, for the tests that promise to share it.

``BetterAuthApp`` names one database (a SQLite file, or a fresh schema on the
test Postgres) that the real ``better-auth`` package (``tests/js/better_auth.mjs``,
through ``tests.node``) and this package's ``better-auth`` flavor both open::

    with better_auth_app("sqlite", tmp_path) as app:
        app.run({"op": "runMigrations"})             # Better Auth creates its schema
        with auth_store.connect(app.store_url) as store: ...
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.node import run_node
from tests.pg import conninfo, fresh_postgres_url, schema_of

__all__ = ["SECRET", "BetterAuthApp", "better_auth_app"]

#: The app's BETTER_AUTH_SECRET (Better Auth wants at least 32 characters).
SECRET = "better-auth-test-secret-0123456789abcdefghijklmnop"


@dataclass
class BetterAuthApp:
    """One database, as the Better Auth app (``run``) and this package (``store_url``) see it."""

    kind: str
    db: dict[str, str]
    store_url: str
    secret: str = SECRET
    options: dict[str, Any] = field(default_factory=dict)

    def run(self, *steps: dict[str, Any], **options: Any) -> list[Any]:
        """Run Better Auth steps (see ``tests/js/better_auth.mjs``) in one Node process."""
        payload = {"db": self.db, "secret": self.secret, **self.options, **options}
        result = run_node("better_auth.mjs", {**payload, "steps": list(steps)}, timeout=180)
        found: list[Any] = result["results"]
        return found

    def one(self, step: dict[str, Any], **options: Any) -> Any:
        """Run one step and return its result."""
        return self.run(step, **options)[0]


@contextmanager
def better_auth_app(kind: str, tmp_path: Path, name: str = "app") -> Iterator[BetterAuthApp]:
    """A new, empty database of ``kind`` (``sqlite`` or ``postgres``), removed afterwards."""
    if kind == "sqlite":
        path = tmp_path / f"{name}.db"
        yield BetterAuthApp(
            kind, {"kind": "sqlite", "path": str(path)}, f"sqlite:///{path}?flavor=better-auth"
        )
        return
    with fresh_postgres_url() as url:
        schema = schema_of(url)
        yield BetterAuthApp(
            kind,
            {"kind": "pg", "url": conninfo(url), "schema": schema},
            f"{url}&flavor=better-auth",
        )
