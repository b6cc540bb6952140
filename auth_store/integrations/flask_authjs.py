"""Flask helpers for the session a Next.js (Auth.js) app signed someone in with.

::

    from auth_store.authjs import authjs_resolver
    from auth_store.integrations.flask_authjs import FlaskAuthJs

    sessions = FlaskAuthJs(app, resolver=authjs_resolver(store=store))

    @app.get("/api/me")
    @sessions.required
    def me():
        return {"email": sessions.user().email}

The resolver (``auth_store.session_resolver``) decides; this module reads the
request's cookies and ``Authorization`` header once per request (kept on
``flask.g``) and answers 401 JSON, with ``WWW-Authenticate: Bearer``, from
views marked ``required`` when nobody is signed in.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

try:
    from flask import Flask, current_app, g, jsonify, request
except ImportError as exc:  # the extra is not installed
    raise ImportError(
        "auth_store.integrations.flask_authjs needs Flask: pip install 'auth-store[flask]'"
    ) from exc

from ..errors import ConfigurationError
from ..models import User
from ..session_resolver import RequestCredentials, ResolvedSession, SessionResolver

__all__ = ["FlaskAuthJs", "credentials_of", "get_authjs"]

F = TypeVar("F", bound=Callable[..., Any])
_EXTENSION = "auth_store_authjs"
_MISSING = object()


def credentials_of() -> RequestCredentials:
    """What authenticates the current Flask request: its cookies and ``Authorization``."""
    return RequestCredentials(
        cookies=request.cookies, authorization=request.headers.get("Authorization")
    )


class FlaskAuthJs:
    """The extension: ``session()``, ``user()`` and the ``required`` decorator."""

    def __init__(
        self, app: Flask | None = None, *, resolver: SessionResolver | None = None
    ) -> None:
        self.resolver = resolver
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask, *, resolver: SessionResolver | None = None) -> None:
        """Register on ``app`` (``app.extensions["auth_store_authjs"]``)."""
        self.resolver = resolver or self.resolver
        if self.resolver is None:
            raise ConfigurationError("FlaskAuthJs needs resolver=authjs_resolver(...)")
        app.extensions[_EXTENSION] = self

    def session(self) -> ResolvedSession | None:
        """The current request's session, or ``None`` (resolved once per request)."""
        found = g.get("_auth_store_session", _MISSING)
        if found is _MISSING:
            assert self.resolver is not None
            found = self.resolver.resolve(credentials_of())
            g._auth_store_session = found
        return cast(ResolvedSession | None, found)

    def user(self) -> User | None:
        """The signed-in user from the store, or ``None``."""
        found = self.session()
        if found is None:
            return None
        if found.user is None:
            raise ConfigurationError(
                "this session was resolved without a store: give the resolver a store to "
                "get users, or use session() for the token's claims"
            )
        return found.user

    def required(self, view: F) -> F:
        """Decorator: 401 JSON unless the request carries a session."""

        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if self.session() is None:
                response = jsonify(detail="Please sign in.")
                response.status_code = 401
                response.headers["WWW-Authenticate"] = "Bearer"
                return response
            return view(*args, **kwargs)

        return cast(F, wrapper)


def get_authjs() -> FlaskAuthJs:
    """The app's ``FlaskAuthJs`` (set by ``init_app``)."""
    extension = current_app.extensions.get(_EXTENSION)
    if not isinstance(extension, FlaskAuthJs):
        raise RuntimeError("FlaskAuthJs(app, resolver=...) was not set up on this app")
    return extension
