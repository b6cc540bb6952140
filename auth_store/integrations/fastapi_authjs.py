"""FastAPI dependencies for the session a Next.js (Auth.js) app signed someone in with.

::

    from auth_store.authjs import authjs_resolver
    from auth_store.integrations.fastapi_authjs import AuthJsDependencies

    sessions = AuthJsDependencies(authjs_resolver(store=store))  # AUTH_SECRET from the env

    @app.get("/api/me")
    def me(user: Annotated[User, Depends(sessions.current_user)]) -> dict: ...

The resolver (``auth_store.session_resolver``) decides; this module reads the
request's cookies and ``Authorization`` header once per request and answers
401, with ``WWW-Authenticate: Bearer``, when nobody is signed in.
"""

from __future__ import annotations

try:
    from fastapi import HTTPException, Request, status
except ImportError as exc:  # the extra is not installed
    raise ImportError(
        "auth_store.integrations.fastapi_authjs needs FastAPI: pip install 'auth-store[fastapi]'"
    ) from exc

from ..errors import ConfigurationError
from ..models import User
from ..session_resolver import RequestCredentials, ResolvedSession, SessionResolver

__all__ = ["AuthJsDependencies", "credentials_of"]

_STATE = "auth_store_resolved_session"
_UNAUTHORIZED = {"WWW-Authenticate": "Bearer"}


def credentials_of(request: Request) -> RequestCredentials:
    """What authenticates a FastAPI request: its cookies and ``Authorization`` header."""
    return RequestCredentials(
        cookies=request.cookies, authorization=request.headers.get("authorization")
    )


class AuthJsDependencies:
    """``optional_session``, ``current_session``, ``optional_user``, ``current_user``."""

    def __init__(self, resolver: SessionResolver) -> None:
        self.resolver = resolver

    def optional_session(self, request: Request) -> ResolvedSession | None:
        """Dependency: the request's session, or ``None`` (resolved once per request)."""
        if hasattr(request.state, _STATE):
            cached: ResolvedSession | None = getattr(request.state, _STATE)
            return cached
        found = self.resolver.resolve(credentials_of(request))
        setattr(request.state, _STATE, found)
        return found

    def current_session(self, request: Request) -> ResolvedSession:
        """Dependency: the request's session; 401 when there is none."""
        found = self.optional_session(request)
        if found is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, "Please sign in.", headers=_UNAUTHORIZED
            )
        return found

    def optional_user(self, request: Request) -> User | None:
        """Dependency: the signed-in user from the store, or ``None``."""
        found = self.optional_session(request)
        if found is None:
            return None
        return _user_of(found)

    def current_user(self, request: Request) -> User:
        """Dependency: the signed-in user from the store; 401 when nobody is signed in."""
        return _user_of(self.current_session(request))


def _user_of(found: ResolvedSession) -> User:
    if found.user is None:
        raise ConfigurationError(
            "this session was resolved without a store: give the resolver a store to get "
            "users, or depend on current_session for the token's claims"
        )
    return found.user
