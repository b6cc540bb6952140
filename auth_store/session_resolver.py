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
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable
from urllib.parse import unquote

from .models import Session, User

__all__ = [
    "MAX_CREDENTIAL_LENGTH",
    "RequestCredentials",
    "ResolvedSession",
    "SessionResolver",
    "SessionStrategy",
]

#: Longest bearer token looked at, in characters (a session token is far shorter).
MAX_CREDENTIAL_LENGTH = 64 * 1024


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


class SessionResolver:
    """Asks its strategies, in order, who a request's user is."""

    def __init__(self, strategies: Sequence[SessionStrategy]) -> None:
        if not strategies:
            raise ValueError("a SessionResolver needs at least one strategy")
        self.strategies = tuple(strategies)

    def __repr__(self) -> str:
        return f"SessionResolver({[s.name for s in self.strategies]})"

    def resolve(self, request: RequestCredentials) -> ResolvedSession | None:
        """The request's session: from a cookie, else from a bearer token; else ``None``."""
        if request.cookies:
            for strategy in self.strategies:
                found = strategy.from_cookies(request.cookies)
                if found is not None:
                    return found
        token = request.bearer_token
        if token:
            for strategy in self.strategies:
                found = strategy.from_bearer(token)
                if found is not None:
                    return found
        return None
