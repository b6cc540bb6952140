"""Schema flavors: whose table layout a SQL backend keeps, chosen by ``?flavor=`` in its URL.

``authjs`` (the default) is Auth.js's ``@auth/pg-adapter`` layout with
auth-store's tables beside it; ``better-auth`` is Better Auth's layout
(``auth_store.adapters.sql.better_auth``), so a Better Auth app and this
package share one database. The SQLite and Postgres backends take the option.
"""

from __future__ import annotations

from auth_store.errors import ConfigurationError

__all__ = ["AUTHJS", "BETTER_AUTH", "FLAVORS", "check_flavor"]

AUTHJS = "authjs"
BETTER_AUTH = "better-auth"
FLAVORS = (AUTHJS, BETTER_AUTH)


def check_flavor(value: object) -> str:
    """``value`` if it names a flavor, else a ``ConfigurationError`` listing them."""
    if value not in FLAVORS:
        raise ConfigurationError(
            f"unknown store flavor {value!r}; expected one of: {', '.join(FLAVORS)}"
        )
    return str(value)
