"""FastAPI integration: dependencies ``current_user``/``optional_user`` and a JSON router.

::

    from auth_store.integrations.fastapi import FastAPIAuth, current_user

    auth = FastAPIAuth(flow)
    auth.init_app(app)                 # cookie middleware, app.state, error handler
    app.include_router(auth.router())  # /auth/... JSON endpoints

    @app.get("/me")
    def me(user: Annotated[User, Depends(current_user)]) -> dict: ...

``init_app`` installs one exception handler for ``AuthStoreError``: any
endpoint (the router's and yours) may let a flow error rise, and the client
gets ``{"detail": message, "code": code}`` with the status that
``auth_store.integrations.errors`` gives that code. Give
``FastAPIAuth(..., error_page=render)`` (an ``ErrorPage``: ``(request, status,
message) -> Response``) and every error outside the router's prefix - a flow
error, a 404, a refused CSRF token, an invalid form (400), a server failure
(500) - is a page of your site instead; under the prefix it stays JSON.

The router's POST endpoints take JSON only (415 otherwise): a cross-site
form cannot send ``application/json`` without a CORS preflight, and other
origins cannot send DELETE without one either; with the ``SameSite=Lax``
cookie that is what protects the router from CSRF. HTML form posts
in your own pages use ``csrf_protect`` and ``auth.csrf_token(request)``.
Every decision is made in ``auth_store.flow``; this package moves cookies.

Modules, by concern: ``_auth`` (``RequestAuth``: cookies and per-request
state), ``_dependencies``, ``_errors`` (the exception handler), ``_schemas``
(request and response bodies), ``_routes``, ``_oauth`` and ``_passkeys``
(the router; the passkey routes come with ``flow.enable_passkeys``),
``_app`` (``FastAPIAuth``: ``RequestAuth`` with its router), and
``_frontend`` (``FrontendSessions``: dependencies for the sessions of a
front-end app on Auth.js or Better Auth, when the front end signs people in).
"""

from __future__ import annotations

from ..._extras import missing_extra

try:
    import fastapi  # noqa: F401 - the check, before the modules that need it
except ModuleNotFoundError as exc:  # pragma: no cover - tested in a subprocess
    raise missing_extra(exc, "auth_store.integrations.fastapi", "fastapi") from exc

from ..common import WebPages
from ._app import FastAPIAuth
from ._auth import RequestAuth
from ._dependencies import CurrentUser, csrf_protect, current_user, get_auth, optional_user
from ._errors import ErrorPage
from ._frontend import FrontendSessions

__all__ = [
    "CurrentUser",
    "ErrorPage",
    "FastAPIAuth",
    "FrontendSessions",
    "RequestAuth",
    "WebPages",
    "csrf_protect",
    "current_user",
    "get_auth",
    "optional_user",
]
