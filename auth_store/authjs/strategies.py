"""The two session strategies of Auth.js, for ``auth_store.session_resolver``.

``AuthJsJwtStrategy`` reads the encrypted JWT session cookie (Auth.js's
``session: { strategy: "jwt" }``, the default without an adapter);
``AuthJsDatabaseStrategy`` reads a database session token from the same cookie
and looks it up in the shared store (``strategy: "database"``). Both also take
the token as ``Authorization: Bearer``. ``authjs_resolver`` builds a resolver
with the strategies an app needs.

A JWT is valid on its own: without a store, its ``sub`` is trusted until it
expires. With a store, the user is looked up by ``sub`` on every request, so
a deleted or disabled user is refused at once, before the token expires.
Neither strategy writes: sliding a session's expiry is the Next.js app's job.

Each strategy is written once, as steps (``auth_store._twins``): these are
the sync twins, ``auth_store.aio.AuthJsJwtStrategy``, ``AuthJsDatabaseStrategy``
and ``authjs_resolver`` the async ones, on an ``AsyncAdapter``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from .._twins import Kind, Steps, StoreT, Twin, store_call, twin, twin_of
from ..adapter import Adapter
from ..disabled import is_disabled
from ..errors import ConfigurationError, ValidationError
from ..models import User
from ..session_resolver import (
    ResolvedSession,
    SessionResolver,
    SessionResolverCore,
    stored_session,
)
from .cookies import AUTHJS_COOKIES, NEXTAUTH_V4_COOKIES, SessionCookie, read_session_cookie
from .jwt import (
    DEFAULT_CLOCK_TOLERANCE,
    MAX_TOKEN_SIZE,
    InvalidTokenError,
    decode,
    decode_v4,
    secret_from_env,
    secret_list,
)

__all__ = [
    "AuthJsDatabaseStrategy",
    "AuthJsDatabaseStrategyCore",
    "AuthJsJwtStrategy",
    "AuthJsJwtStrategyCore",
    "authjs_resolver",
]

logger = logging.getLogger("auth_store.authjs")


def _is_jwe(value: str) -> bool:
    # A JWE in compact form has five parts; a database session token (a UUID,
    # or auth-store's URL-safe random token) has no dot at all.
    return value.count(".") == 4


def _live_user(store: object, user_id: str) -> Steps[User | None]:
    """The user, unless missing or disabled (either revokes every session at once)."""
    try:
        user = yield from store_call(store, Adapter.get_user, user_id)
    except ValidationError:
        return None
    if user is None or is_disabled(user):
        return None
    return user


def _expiry(seconds: float) -> datetime:
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return datetime.max.replace(tzinfo=UTC)


class AuthJsJwtStrategyCore(Twin[StoreT]):
    """Auth.js's JWT session: the encrypted token in the session cookie, or a bearer token.

    ``secret`` is the app's ``AUTH_SECRET`` (a list, newest first, while
    rotating). ``cookies`` are the names looked at, with their format (default:
    Auth.js v5's, secure and plain; ``NEXTAUTH_V4_COOKIES`` for next-auth 4).
    With a ``store``, the token's ``sub`` must name a user who exists and is
    not disabled. ``is_revoked(claims)`` may refuse a token anyway (a ``jti``
    deny-list, a per-user "signed out everywhere" time against ``iat``).
    """

    name = "authjs-jwt"

    def __init__(
        self,
        secret: str | Sequence[str],
        *,
        store: StoreT | None = None,
        cookies: Sequence[SessionCookie] = AUTHJS_COOKIES,
        clock_tolerance: float = DEFAULT_CLOCK_TOLERANCE,
        is_revoked: Callable[[Mapping[str, Any]], bool] | None = None,
    ) -> None:
        super().__init__(store)  # type: ignore[arg-type]  # None: the token alone is trusted
        self._secret = secret_list(secret)
        if not cookies:
            raise ConfigurationError("AuthJsJwtStrategy needs at least one cookie name")
        self.store = store
        self.cookies = tuple(cookies)
        self.clock_tolerance = clock_tolerance
        self.is_revoked = is_revoked

    def __repr__(self) -> str:
        names = [c.name for c in self.cookies]
        return f"{type(self).__name__}(<{len(self._secret)} secret(s)>, cookies={names})"

    @twin
    def from_cookies(self, cookies: Mapping[str, str]) -> Steps[ResolvedSession | None]:
        """The session in the first of ``self.cookies`` that holds a valid token."""
        for cookie in self.cookies:
            value = read_session_cookie(cookies, cookie.name)
            if value is None or not _is_jwe(value):
                continue
            found = yield from self._resolve(value, cookie, "cookie")
            if found is not None:
                return found
        return None

    @twin
    def from_bearer(self, token: str) -> Steps[ResolvedSession | None]:
        """The session of a bearer JWT made for any of ``self.cookies`` (its salt)."""
        if not _is_jwe(token):
            return None
        tried: set[tuple[bool, str]] = set()
        for cookie in self.cookies:
            if (cookie.v4, cookie.salt) in tried:
                continue
            tried.add((cookie.v4, cookie.salt))
            found = yield from self._resolve(token, cookie, "bearer")
            if found is not None:
                return found
        return None

    def _resolve(
        self, token: str, cookie: SessionCookie, transport: Literal["cookie", "bearer"]
    ) -> Steps[ResolvedSession | None]:
        reader = decode_v4 if cookie.v4 else decode
        try:
            claims = reader(
                token,
                secret=self._secret,
                salt=cookie.salt,
                clock_tolerance=self.clock_tolerance,
                max_size=MAX_TOKEN_SIZE,
            )
        except InvalidTokenError as exc:
            logger.debug("%s %s token refused: %s", transport, cookie.name, exc.reason)
            return None
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            logger.debug("%s %s token refused: no sub claim", transport, cookie.name)
            return None
        if self.is_revoked is not None and self.is_revoked(claims):
            logger.debug("%s %s token refused: revoked", transport, cookie.name)
            return None
        user = None
        if self.store is not None:
            user = yield from _live_user(self.store, subject)
            if user is None:
                logger.debug(
                    "%s %s token refused: no such user, or disabled", transport, cookie.name
                )
                return None
        return ResolvedSession(
            user_id=subject,
            user=user,
            expires=_expiry(claims["exp"]),
            strategy=self.name,
            transport=transport,
            cookie=cookie.name if transport == "cookie" else None,
            claims=claims,
        )


class AuthJsJwtStrategy(AuthJsJwtStrategyCore[Adapter]):
    """Auth.js's JWT session on a sync store, or none (``auth_store.aio``'s is the async twin)."""


class AuthJsDatabaseStrategyCore(Twin[StoreT]):
    """Auth.js's database session: the session token in the cookie, looked up in the store.

    The store is the one the Next.js app's adapter writes (``@auth/pg-adapter``
    on auth-store's Postgres backend), which keeps session tokens as they are.
    A session is accepted while it has not expired and its user is not
    disabled; nothing is written.
    """

    name = "authjs-database"

    def __init__(self, store: StoreT, *, cookies: Sequence[SessionCookie] = AUTHJS_COOKIES) -> None:
        if not cookies:
            raise ConfigurationError("AuthJsDatabaseStrategy needs at least one cookie name")
        super().__init__(store)
        self.store = store
        self.cookies = tuple(cookies)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(cookies={[c.name for c in self.cookies]})"

    @twin
    def from_cookies(self, cookies: Mapping[str, str]) -> Steps[ResolvedSession | None]:
        """The session whose token is in the first of ``self.cookies`` that names a live one."""
        for cookie in self.cookies:
            value = read_session_cookie(cookies, cookie.name)
            if value is None or _is_jwe(value):
                continue
            found = yield from self._resolve(value, "cookie", cookie.name)
            if found is not None:
                return found
        return None

    @twin
    def from_bearer(self, token: str) -> Steps[ResolvedSession | None]:
        """The session a bearer session token names."""
        if _is_jwe(token):
            return None
        return (yield from self._resolve(token, "bearer", None))

    def _resolve(
        self, token: str, transport: Literal["cookie", "bearer"], cookie: str | None
    ) -> Steps[ResolvedSession | None]:
        return stored_session(
            self.store,
            token,
            strategy=self.name,
            transport=transport,
            cookie=cookie,
            logger=logger,
        )


class AuthJsDatabaseStrategy(AuthJsDatabaseStrategyCore[Adapter]):
    """Auth.js's database session on a sync store (``auth_store.aio``'s is the async twin)."""


def authjs_resolver(
    *,
    store: Adapter | None = None,
    secret: str | Sequence[str] | None = None,
    strategy: Literal["jwt", "database", "both"] | None = None,
    v4: bool = False,
    cookies: Sequence[SessionCookie] | None = None,
    clock_tolerance: float = DEFAULT_CLOCK_TOLERANCE,
    is_revoked: Callable[[Mapping[str, Any]], bool] | None = None,
) -> SessionResolver:
    """A resolver for the sessions of a Next.js app on Auth.js (on a sync store, or none).

    ``strategy`` is the app's ``session.strategy``: ``"jwt"``, ``"database"``
    (needs ``store``), or ``"both"``; by default ``"jwt"``, and ``"both"`` when a
    ``store`` is given. ``secret`` defaults to the environment, read as
    Auth.js reads it (``secret_from_env``). ``v4=True`` reads next-auth 4's
    cookies and tokens; ``cookies`` overrides the names.
    ``auth_store.aio.authjs_resolver`` is the async twin.
    """
    resolver: SessionResolver = make_authjs_resolver(
        "sync",
        store=store,
        secret=secret,
        strategy=strategy,
        v4=v4,
        cookies=cookies,
        clock_tolerance=clock_tolerance,
        is_revoked=is_revoked,
    )
    return resolver


def make_authjs_resolver(
    kind: Kind,
    *,
    store: object | None,
    secret: str | Sequence[str] | None,
    strategy: Literal["jwt", "database", "both"] | None,
    v4: bool,
    cookies: Sequence[SessionCookie] | None,
    clock_tolerance: float,
    is_revoked: Callable[[Mapping[str, Any]], bool] | None,
) -> Any:
    """``authjs_resolver`` of either twin (``kind``): its resolver and strategies."""
    if strategy is None:
        strategy = "jwt" if store is None else "both"
    if strategy not in ("jwt", "database", "both"):
        raise ConfigurationError('strategy must be "jwt", "database" or "both"')
    names = (
        tuple(cookies) if cookies is not None else (NEXTAUTH_V4_COOKIES if v4 else AUTHJS_COOKIES)
    )
    chosen: list[Any] = []
    if strategy in ("jwt", "both"):
        chosen.append(
            twin_of(AuthJsJwtStrategyCore, kind)(
                secret if secret is not None else secret_from_env(v4=v4),
                store=store,
                cookies=names,
                clock_tolerance=clock_tolerance,
                is_revoked=is_revoked,
            )
        )
    if strategy in ("database", "both"):
        if store is None:
            raise ConfigurationError("the database strategy needs a store")
        chosen.append(twin_of(AuthJsDatabaseStrategyCore, kind)(store, cookies=names))
    return twin_of(SessionResolverCore, kind)(chosen)
