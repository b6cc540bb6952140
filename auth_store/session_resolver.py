"""Who is the user of a request: one resolver over pluggable session strategies.

Nothing here imports a web framework. An integration reduces a request to
what can authenticate it, ``RequestCredentials`` (its cookies and its
``Authorization`` header), and asks a ``SessionResolver``. The resolver asks
each of its ``SessionStrategy`` objects in turn: first for the cookies, then,
when no cookie named anyone, for the bearer token. A browser's session cookie
thus wins over a header, as in Auth.js's ``getToken``.

A strategy knows one kind of session: an Auth.js JWT cookie, an Auth.js
database session (``auth_store.authjs.strategies``), or any other kind a
later module adds (a signed cookie of another framework) by implementing the
two methods of the protocol. A strategy returns ``None`` for anything it does
not accept, and only lets storage errors through: an unreachable store is
an error, not an anonymous request.

Both have an async twin, on an ``AsyncAdapter`` (``auth_store.aio.SessionResolver``,
``auth_store.aio.AuthJsJwtStrategy``...): the same logic, written once as steps
(``auth_store._twins``), whose methods are coroutines. An async resolver asks
``AsyncSessionStrategy`` objects (a strategy of one's own may be either kind
there: a plain method is called in place, so it must not block).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable
from urllib.parse import unquote

from . import clock
from ._twins import Steps, StoreT, Twin, call, store_call, twin
from .adapter import Adapter
from .disabled import is_disabled
from .errors import ConfigurationError, ValidationError
from .models import Session, User

__all__ = [
    "MAX_CREDENTIAL_LENGTH",
    "AsyncSessionStrategy",
    "RequestCredentials",
    "ResolvedSession",
    "SessionResolver",
    "SessionResolverCore",
    "SessionStrategy",
    "stored_session",
]

#: Longest bearer token looked at, in characters (a session token is far shorter).
MAX_CREDENTIAL_LENGTH = 64 * 1024
#: Longest database session token looked up (Auth.js makes UUIDs, Better Auth 32 characters).
MAX_SESSION_TOKEN = 512


@dataclass(frozen=True)
class RequestCredentials:
    """What authenticates a request: its cookies and its ``Authorization`` header."""

    cookies: Mapping[str, str] = field(default_factory=dict, repr=False)
    authorization: str | None = field(default=None, repr=False)

    @property
    def bearer_token(self) -> str | None:
        """The token of ``Authorization: Bearer <token>`` (percent-decoded, as Auth.js does)."""
        header = self.authorization
        if not header or len(header) > MAX_CREDENTIAL_LENGTH + 7:
            return None
        scheme, _, token = header.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return None
        try:
            return unquote(token, errors="strict")
        except UnicodeDecodeError:
            return None


@dataclass(frozen=True, kw_only=True)
class ResolvedSession:
    """The session a request carries: whose it is, until when, and how it came.

    ``user`` is the store's record of ``user_id`` (``None`` only when the
    strategy has no store and trusts the token alone). ``claims`` are a JWT's
    claims (empty for a database session); ``session`` the database session.
    ``transport`` is ``cookie`` (``cookie`` names it) or ``bearer``.
    """

    user_id: str
    user: User | None
    expires: datetime
    strategy: str
    transport: Literal["cookie", "bearer"]
    cookie: str | None = None
    claims: Mapping[str, Any] = field(default_factory=dict, repr=False)
    session: Session | None = None


@runtime_checkable
class SessionStrategy(Protocol):
    """One kind of session. Each method returns ``None`` for what it does not accept."""

    #: A short name, reported as ``ResolvedSession.strategy`` (``authjs-jwt``, ...).
    name: str

    def from_cookies(self, cookies: Mapping[str, str]) -> ResolvedSession | None:
        """The session the request's cookies carry, if this strategy recognises one."""
        ...

    def from_bearer(self, token: str) -> ResolvedSession | None:
        """The session an ``Authorization: Bearer`` token names, if this strategy accepts it."""
        ...


def stored_session(
    store: object,
    token: str,
    *,
    strategy: str,
    transport: Literal["cookie", "bearer"],
    cookie: str | None,
    logger: logging.Logger,
) -> Steps[ResolvedSession | None]:
    """The database session ``token`` names in ``store`` (an ``Adapter`` or an ``AsyncAdapter``),
    while it has not expired and its user is not disabled; nothing is written."""
    if len(token) > MAX_SESSION_TOKEN:
        return None
    try:
        found = yield from store_call(store, Adapter.get_session_and_user, token)
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
        strategy=strategy,
        transport=transport,
        cookie=cookie,
        session=session,
    )


@runtime_checkable
class AsyncSessionStrategy(Protocol):
    """``SessionStrategy`` for an async resolver: the same two methods, as coroutines."""

    name: str

    async def from_cookies(self, cookies: Mapping[str, str]) -> ResolvedSession | None:
        """The session the request's cookies carry, if this strategy recognises one."""
        ...

    async def from_bearer(self, token: str) -> ResolvedSession | None:
        """The session an ``Authorization: Bearer`` token names, if this strategy accepts it."""
        ...


def _ask(strategy: object, method: str, value: Any) -> Steps[ResolvedSession | None]:
    """``strategy.<method>(value)``: a twin's steps run in place; another's method is called
    (and awaited by the async driver when it is a coroutine)."""
    bound = getattr(strategy, method)
    steps = getattr(bound, "steps", None)
    found: ResolvedSession | None
    if steps is not None:
        found = yield from steps(value)
    else:
        found = yield from call(bound, value)
    return found


class SessionResolverCore(Twin[StoreT]):
    """Asks its strategies, in order, who a request's user is (``SessionResolver`` and
    ``auth_store.aio.SessionResolver`` are its twins)."""

    def __init__(self, strategies: Sequence[SessionStrategy | AsyncSessionStrategy]) -> None:
        # No store of its own: the strategies have them. Only the kind is checked.
        if self._kind is None:
            raise TypeError(
                "SessionResolverCore is the shared core of a service: use "
                "auth_store.session_resolver.SessionResolver or auth_store.aio.SessionResolver"
            )
        if not strategies:
            raise ValueError("a SessionResolver needs at least one strategy")
        for strategy in strategies:
            kind = getattr(strategy, "_kind", self._kind)
            if kind != self._kind:
                where = "auth_store.aio" if kind == "async" else "auth_store.session_resolver"
                raise ConfigurationError(
                    f"{type(strategy).__name__} is the {kind} twin: give it to "
                    f"{where}.SessionResolver"
                )
        self.strategies = tuple(strategies)

    def __repr__(self) -> str:
        return f"SessionResolver({[s.name for s in self.strategies]})"

    @twin
    def resolve(self, request: RequestCredentials) -> Steps[ResolvedSession | None]:
        """The request's session: from a cookie, else from a bearer token; else ``None``."""
        if request.cookies:
            for strategy in self.strategies:
                found = yield from _ask(strategy, "from_cookies", request.cookies)
                if found is not None:
                    return found
        token = request.bearer_token
        if token:
            for strategy in self.strategies:
                found = yield from _ask(strategy, "from_bearer", token)
                if found is not None:
                    return found
        return None


class SessionResolver(SessionResolverCore[Adapter]):
    """Asks its strategies, in order, who a request's user is (``auth_store.aio.SessionResolver``
    is the async twin)."""
