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
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Literal

from .. import clock
from ..adapter import Adapter
from ..disabled import is_disabled
from ..errors import ConfigurationError, ValidationError
from ..session_resolver import ResolvedSession, SessionResolver
from .cookies import BETTER_AUTH_COOKIES, COOKIE_PREFIX, session_cookie_name, verify_cookie
from .env import secret_from_env

__all__ = ["BetterAuthSessionStrategy", "better_auth_resolver"]

logger = logging.getLogger("auth_store.better_auth")

#: Longest session token looked up (Better Auth makes 32 characters).
_MAX_SESSION_TOKEN = 512


class BetterAuthSessionStrategy:
    """Better Auth's session: a signed token in the cookie (or bearer), looked up in the store.

    ``secret`` is the app's ``BETTER_AUTH_SECRET`` (a list while rotating:
    each is tried). ``cookies`` are the names read, in order (default: the
    ``__Secure-`` name, then the plain one).
    """

    name = "better-auth"

    def __init__(
        self,
        store: Adapter,
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
        self.store = store
        self.cookies = tuple(cookies)
        self.require_signature = require_signature

    def __repr__(self) -> str:
        secrets = f"<{len(self._secret)} secret(s)>"
        return f"BetterAuthSessionStrategy({secrets}, cookies={list(self.cookies)})"

    def from_cookies(self, cookies: Mapping[str, str]) -> ResolvedSession | None:
        """The session whose signed token is in the first of ``self.cookies`` naming a live one."""
        for name in self.cookies:
            value = cookies.get(name)
            if not value:
                continue
            token = verify_cookie(value, self._secret)
            if token is None:
                logger.debug("%s cookie refused: bad signature", name)
                continue
            found = self._resolve(token, "cookie", name)
            if found is not None:
                return found
        return None

    def from_bearer(self, token: str) -> ResolvedSession | None:
        """The session a bearer token names: ``token.signature``, or the token alone."""
        signed = verify_cookie(token, self._secret)
        if signed is not None:
            return self._resolve(signed, "bearer", None)
        if self.require_signature or "." in token:
            return None
        return self._resolve(token, "bearer", None)

    def _resolve(
        self, token: str, transport: Literal["cookie", "bearer"], cookie: str | None
    ) -> ResolvedSession | None:
        if len(token) > _MAX_SESSION_TOKEN:
            return None
        try:
            found = self.store.get_session_and_user(token)
        except ValidationError:
            return None
        if found is None:
            return None
        session, user = found
        if session.expires <= clock.now() or is_disabled(user):
            logger.debug("%s session refused: expired, or its user is disabled", transport)
            return None
        return ResolvedSession(
            user_id=user.id,
            user=user,
            expires=session.expires,
            strategy=self.name,
            transport=transport,
            cookie=cookie,
            session=session,
        )


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
    """
    names = [session_cookie_name(secure=s, prefix=cookie_prefix) for s in (True, False)]
    return SessionResolver(
        [
            BetterAuthSessionStrategy(
                store,
                secret if secret is not None else secret_from_env(),
                cookies=names,
                require_signature=require_signature,
            )
        ]
    )
