"""The async twins of the session strategies and resolvers of a front end's sessions.

``authjs_resolver`` and ``better_auth_resolver`` take the sync ones' arguments,
with an ``AsyncAdapter`` for the store; ``await resolver.resolve(credentials)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from ..async_adapter import AsyncAdapter
from ..authjs.cookies import SessionCookie
from ..authjs.jwt import DEFAULT_CLOCK_TOLERANCE
from ..authjs.strategies import (
    AuthJsDatabaseStrategyCore,
    AuthJsJwtStrategyCore,
    make_authjs_resolver,
)
from ..better_auth.cookies import COOKIE_PREFIX
from ..better_auth.strategies import BetterAuthSessionStrategyCore, make_better_auth_resolver
from ..session_resolver import SessionResolverCore

__all__ = [
    "AuthJsDatabaseStrategy",
    "AuthJsJwtStrategy",
    "BetterAuthSessionStrategy",
    "SessionResolver",
    "authjs_resolver",
    "better_auth_resolver",
]


class SessionResolver(SessionResolverCore[AsyncAdapter]):
    """Asks its async strategies who a request's user is (the twin of
    ``auth_store.session_resolver.SessionResolver``)."""


class AuthJsJwtStrategy(AuthJsJwtStrategyCore[AsyncAdapter]):
    """Auth.js's JWT session on an async store, or none (the twin of ``auth_store.authjs``'s)."""


class AuthJsDatabaseStrategy(AuthJsDatabaseStrategyCore[AsyncAdapter]):
    """Auth.js's database session on an async store (the twin of ``auth_store.authjs``'s)."""


class BetterAuthSessionStrategy(BetterAuthSessionStrategyCore[AsyncAdapter]):
    """Better Auth's session on an async store (the twin of ``auth_store.better_auth``'s)."""


def authjs_resolver(
    *,
    store: AsyncAdapter | None = None,
    secret: str | Sequence[str] | None = None,
    strategy: Literal["jwt", "database", "both"] | None = None,
    v4: bool = False,
    cookies: Sequence[SessionCookie] | None = None,
    clock_tolerance: float = DEFAULT_CLOCK_TOLERANCE,
    is_revoked: Callable[[Mapping[str, Any]], bool] | None = None,
) -> SessionResolver:
    """``auth_store.authjs.authjs_resolver`` on an async store: the same arguments."""
    resolver: SessionResolver = make_authjs_resolver(
        "async",
        store=store,
        secret=secret,
        strategy=strategy,
        v4=v4,
        cookies=cookies,
        clock_tolerance=clock_tolerance,
        is_revoked=is_revoked,
    )
    return resolver


def better_auth_resolver(
    *,
    store: AsyncAdapter,
    secret: str | Sequence[str] | None = None,
    cookie_prefix: str = COOKIE_PREFIX,
    require_signature: bool = False,
) -> SessionResolver:
    """``auth_store.better_auth.better_auth_resolver`` on an async store: the same arguments."""
    resolver: SessionResolver = make_better_auth_resolver(
        "async",
        store=store,
        secret=secret,
        cookie_prefix=cookie_prefix,
        require_signature=require_signature,
    )
    return resolver


for _name in __all__:
    globals()[_name].__module__ = "auth_store.aio"
