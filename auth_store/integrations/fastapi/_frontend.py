"""FastAPI dependencies for the session a front-end app signed someone in with.

The front end is a Next.js (or any) app on Auth.js or on Better Auth; the
resolver says which sessions count (``auth_store.authjs.authjs_resolver``,
``auth_store.better_auth.better_auth_resolver``, or a ``SessionResolver``
over the strategies of both)::

    from auth_store.aio import better_auth_resolver
    from auth_store.integrations.fastapi import FrontendSessions

    store = await auth_store.connect_async(url)  # at startup
    sessions = FrontendSessions(better_auth_resolver(store=store))  # secret from the env

    @app.get("/api/me")
    async def me(user: Annotated[User, Depends(sessions.current_user)]) -> dict: ...

The resolver (``auth_store.session_resolver``) decides; this module reads the
request's cookies and ``Authorization`` header once per request and answers
401, with ``WWW-Authenticate: Bearer``, when nobody is signed in. The
dependencies are coroutines: an async resolver (``auth_store.aio``'s, on an
``AsyncAdapter``) is awaited on the event loop; a sync one (``auth_store``'s)
still works, and runs in the thread pool.
"""

from __future__ import annotations

from fastapi import HTTPException, Request, status
from starlette.concurrency import run_in_threadpool

from ...aio import SessionResolver as AsyncSessionResolver
from ...errors import ConfigurationError
from ...models import User
from ...session_resolver import RequestCredentials, ResolvedSession, SessionResolver

__all__ = ["FrontendSessions", "credentials_of"]

_STATE = "auth_store_resolved_session"
_UNAUTHORIZED = {"WWW-Authenticate": "Bearer"}


def credentials_of(request: Request) -> RequestCredentials:
    """What authenticates a FastAPI request: its cookies and ``Authorization`` header."""
    return RequestCredentials(
        cookies=request.cookies, authorization=request.headers.get("authorization")
    )


class FrontendSessions:
    """The dependencies ``optional_session``, ``current_session``, ``optional_user``
    and ``current_user`` over one resolver."""

    def __init__(self, resolver: AsyncSessionResolver | SessionResolver) -> None:
        self.resolver = resolver

    async def optional_session(self, request: Request) -> ResolvedSession | None:
        """Dependency: the request's session, or ``None`` (resolved once per request)."""
        if hasattr(request.state, _STATE):
            cached: ResolvedSession | None = getattr(request.state, _STATE)
            return cached
        credentials = credentials_of(request)
        resolver = self.resolver
        found: ResolvedSession | None
        if isinstance(resolver, AsyncSessionResolver):
            found = await resolver.resolve(credentials)
        else:  # a sync resolver's store calls block: not on the event loop
            found = await run_in_threadpool(resolver.resolve, credentials)
        setattr(request.state, _STATE, found)
        return found

    async def current_session(self, request: Request) -> ResolvedSession:
        """Dependency: the request's session; 401 when there is none."""
        found = await self.optional_session(request)
        if found is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, "Please sign in.", headers=_UNAUTHORIZED
            )
        return found

    async def optional_user(self, request: Request) -> User | None:
        """Dependency: the signed-in user from the store, or ``None``."""
        found = await self.optional_session(request)
        if found is None:
            return None
        return _user_of(found)

    async def current_user(self, request: Request) -> User:
        """Dependency: the signed-in user from the store; 401 when nobody is signed in."""
        return _user_of(await self.current_session(request))


def _user_of(found: ResolvedSession) -> User:
    if found.user is None:
        raise ConfigurationError(
            "this session was resolved without a store: give the resolver a store to get "
            "users, or depend on current_session for the token's claims"
        )
    return found.user
