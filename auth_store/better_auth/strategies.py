"""Better Auth's database session, for ``auth_store.session_resolver``.

``BetterAuthSessionStrategy`` reads the signed ``better-auth.session_token``
cookie (or its ``__Secure-`` twin), checks the signature with the app's
secret and looks the token up in the store the Better Auth app writes (a
store with ``?flavor=better-auth``). ``Authorization: Bearer`` works as with
Better Auth's bearer plugin: the signed value (``token.signature``, as the
plugin's ``set-auth-token`` header gives it) or, unless
``require_signature``, the token alone. ``better_auth_resolver`` builds a
resolver with it.

A session is accepted while it has not expired and its user is not disabled.
Nothing is written: sliding the expiry is the Better Auth app's job (its
``getSession`` does it once a day). With Better Auth's cookie cache on
(``session.cookieCache``), the app may accept a session for up to the cache's
``maxAge`` after it was revoked; this strategy always reads the store.

The strategy is written once, as steps (``auth_store._twins``): these are the
sync twins, ``auth_store.aio.BetterAuthSessionStrategy`` and
``better_auth_resolver`` the async ones, on an ``AsyncAdapter``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from .._twins import Kind, Steps, StoreT, Twin, twin, twin_of
from ..adapter import Adapter
from ..errors import ConfigurationError
from ..session_resolver import (
    ResolvedSession,
    SessionResolver,
    SessionResolverCore,
    stored_session,
)
from .cookies import BETTER_AUTH_COOKIES, COOKIE_PREFIX, session_cookie_name, verify_cookie
from .env import secret_from_env

__all__ = ["BetterAuthSessionStrategy", "BetterAuthSessionStrategyCore", "better_auth_resolver"]

logger = logging.getLogger("auth_store.better_auth")


class BetterAuthSessionStrategyCore(Twin[StoreT]):
    """Better Auth's session: a signed token in the cookie (or bearer), looked up in the store.

    ``secret`` is the app's ``BETTER_AUTH_SECRET`` (a list while rotating:
    each is tried). ``cookies`` are the names read, in order (default: the
    ``__Secure-`` name, then the plain one).
    """

    name = "better-auth"

    def __init__(
        self,
        store: StoreT,
        secret: str | Sequence[str],
        *,
        cookies: Sequence[str] = BETTER_AUTH_COOKIES,
        require_signature: bool = False,
    ) -> None:
        self._secret = (secret,) if isinstance(secret, str) else tuple(secret)
        if not self._secret or not all(isinstance(s, str) and s for s in self._secret):
            raise ConfigurationError("BetterAuthSessionStrategy needs the app's secret")
        if not cookies:
            raise ConfigurationError("BetterAuthSessionStrategy needs at least one cookie name")
        super().__init__(store)
        self.store = store
        self.cookies = tuple(cookies)
        self.require_signature = require_signature

    def __repr__(self) -> str:
        secrets = f"<{len(self._secret)} secret(s)>"
        return f"{type(self).__name__}({secrets}, cookies={list(self.cookies)})"

    @twin
    def from_cookies(self, cookies: Mapping[str, str]) -> Steps[ResolvedSession | None]:
        """The session whose signed token is in the first of ``self.cookies`` naming a live one."""
        for name in self.cookies:
            value = cookies.get(name)
            if not value:
                continue
            token = verify_cookie(value, self._secret)
            if token is None:
                logger.debug("%s cookie refused: bad signature", name)
                continue
            found = yield from self._resolve(token, "cookie", name)
            if found is not None:
                return found
        return None

    @twin
    def from_bearer(self, token: str) -> Steps[ResolvedSession | None]:
        """The session a bearer token names: ``token.signature``, or the token alone."""
        signed = verify_cookie(token, self._secret)
        if signed is not None:
            return (yield from self._resolve(signed, "bearer", None))
        if self.require_signature or "." in token:
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


class BetterAuthSessionStrategy(BetterAuthSessionStrategyCore[Adapter]):
    """Better Auth's session on a sync store (``auth_store.aio``'s is the async twin)."""


def better_auth_resolver(
    *,
    store: Adapter,
    secret: str | Sequence[str] | None = None,
    cookie_prefix: str = COOKIE_PREFIX,
    require_signature: bool = False,
) -> SessionResolver:
    """A resolver for the sessions of an app on Better Auth that shares ``store``.

    ``secret`` defaults to the environment, read as Better Auth reads it
    (``secret_from_env``); ``cookie_prefix`` is the app's
    ``advanced.cookiePrefix``. Both cookie names are read (``__Secure-`` and
    plain), and bearer tokens as the bearer plugin sends them.
    ``auth_store.aio.better_auth_resolver`` is the async twin.
    """
    resolver: SessionResolver = make_better_auth_resolver(
        "sync",
        store=store,
        secret=secret,
        cookie_prefix=cookie_prefix,
        require_signature=require_signature,
    )
    return resolver


def make_better_auth_resolver(
    kind: Kind,
    *,
    store: object,
    secret: str | Sequence[str] | None,
    cookie_prefix: str,
    require_signature: bool,
) -> Any:
    """``better_auth_resolver`` of either twin (``kind``): its resolver and strategy."""
    names = [session_cookie_name(secure=s, prefix=cookie_prefix) for s in (True, False)]
    return twin_of(SessionResolverCore, kind)(
        [
            twin_of(BetterAuthSessionStrategyCore, kind)(
                store,
                secret if secret is not None else secret_from_env(),
                cookies=names,
                require_signature=require_signature,
            )
        ]
    )
