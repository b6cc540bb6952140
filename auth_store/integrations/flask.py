"""Flask integration: ``FlaskAuth``, ``current_user``, ``login_required``, CSRF.

::

    from auth_store.integrations.flask import FlaskAuth, current_user, login_required

    auth = FlaskAuth(app, flow=flow)          # or auth.init_app(app, flow=flow)

    @app.post("/sign-in")
    def sign_in():
        result = flow.sign_in_password(form["email"], form["password"],
                                       previous_token=auth.session_token)
        auth.apply(result)                      # sets the cookie (or starts the second step)

The session cookie is HttpOnly, ``Secure`` (``AUTH_STORE_COOKIE_SECURE = False``
for local ``http://`` only) and ``SameSite=Lax``. Every POST, PUT, PATCH and
DELETE must carry the CSRF token (form field ``csrf_token`` or header
``X-CSRF-Token``; templates get ``csrf_token()``), unless the view is
decorated with ``csrf_exempt``. All decisions live in ``auth_store.flow``;
this module only moves cookies. ``init_app`` also answers every
``AuthStoreError`` a view lets rise with the shared HTTP map
(``auth_store.integrations.errors``): JSON ``{"detail", "code"}`` for a
client that asks for JSON, the usual error page otherwise. With
``FlaskAuth(app, flow=flow, error_page=render, api_prefix="/api/auth")``
(``render(status, message)`` returns a response) every error - a flow error,
a 404, a refused CSRF token, a server failure (500) - is a page of your site,
and JSON under ``api_prefix`` or for a client that asks for JSON.

When a front-end app signs people in instead (Next.js on Auth.js or on
Better Auth), ``FrontendSessions`` reads its session from the request::

    from auth_store.better_auth import better_auth_resolver
    from auth_store.integrations.flask import FrontendSessions

    sessions = FrontendSessions(app, resolver=better_auth_resolver(store=store))

    @app.get("/api/me")
    @sessions.required                      # 401 JSON without a session
    def me():
        return {"email": sessions.user().email}
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any, Literal, TypeVar, cast

from .._extras import missing_extra

try:
    from flask import (
        Blueprint,
        Flask,
        Response,
        abort,
        current_app,
        g,
        jsonify,
        redirect,
        request,
        url_for,
    )
    from werkzeug.exceptions import HTTPException
    from werkzeug.local import LocalProxy
    from werkzeug.wrappers import Response as BaseResponse
except ModuleNotFoundError as exc:  # pragma: no cover - tested in a subprocess
    raise missing_extra(exc, "auth_store.integrations.flask", "flask") from exc

from ..errors import AuthStoreError, ConfigurationError
from ..flow import AuthFlow, FlowError, SecondFactorRequired, SignedIn, SignInResult
from ..models import User
from ..oauth import AccountNotLinkedError, OAuthService
from ..session_resolver import RequestCredentials, ResolvedSession, SessionResolver
from ..sessions import ActiveSession, SessionClient
from .common import CSRF_FIELD, CSRF_HEADER, CookieSettings, WebAuth, WebPages, safe_next
from .errors import http_error

__all__ = [
    "ErrorPage",
    "FlaskAuth",
    "FrontendSessions",
    "csrf_exempt",
    "current_user",
    "get_auth",
    "get_current_user",
    "get_frontend_sessions",
    "login_required",
    "oauth_blueprint",
]

F = TypeVar("F", bound=Callable[..., Any])
#: Renders an error page: ``(status, message) -> response``.
ErrorPage = Callable[[int, str], BaseResponse]
SERVER_ERROR = "Something went wrong on our side. Please try again in a moment."
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_EXTENSION = "auth_store"


class FlaskAuth:
    """The Flask extension: loads the session per request and writes cookies back.

    Config keys (read by ``init_app``): ``AUTH_STORE_COOKIE_SECURE`` (default
    True), ``AUTH_STORE_COOKIE_SAMESITE`` ("lax"), ``AUTH_STORE_COOKIE_NAME``,
    ``AUTH_STORE_TRUSTED_PROXIES`` (addresses or networks whose
    ``X-Forwarded-For`` is believed; default none),
    ``AUTH_STORE_CSRF`` (default True), ``AUTH_STORE_LOGIN_VIEW`` (endpoint
    ``login_required`` redirects to; without it, 401).
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        flow: AuthFlow | None = None,
        cookies: CookieSettings | None = None,
        error_page: ErrorPage | None = None,
        api_prefix: str | None = None,
        trusted_proxies: Iterable[str] | str | None = None,
    ) -> None:
        self._flow = flow
        self._trusted_proxies = trusted_proxies
        self._cookies = cookies
        #: Renders errors as pages (``None``: Flask's own pages, JSON for JSON clients).
        self.error_page = error_page
        #: Requests under this path always get JSON errors.
        self.api_prefix = api_prefix.rstrip("/") if api_prefix else None
        self.web: WebAuth | None = None
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask, *, flow: AuthFlow | None = None) -> None:
        """Register the extension on ``app``."""
        flow = flow or self._flow
        if flow is None:
            raise RuntimeError("FlaskAuth needs flow=AuthFlow(...)")
        cookies = self._cookies or CookieSettings(
            session=app.config.get("AUTH_STORE_COOKIE_NAME", "auth_store_session"),
            secure=bool(app.config.get("AUTH_STORE_COOKIE_SECURE", True)),
            samesite=app.config.get("AUTH_STORE_COOKIE_SAMESITE", "lax"),
        )
        proxies = self._trusted_proxies
        if proxies is None:
            proxies = app.config.get("AUTH_STORE_TRUSTED_PROXIES")
        self.web = WebAuth(flow, cookies, trusted_proxies=proxies)
        self.csrf_enabled = bool(app.config.get("AUTH_STORE_CSRF", True))
        self.login_view: str | None = app.config.get("AUTH_STORE_LOGIN_VIEW")
        app.extensions[_EXTENSION] = self
        app.before_request(self._before)
        app.after_request(self._after)
        app.context_processor(
            lambda: {"current_user": get_current_user(), "csrf_token": self.csrf_token}
        )
        app.register_error_handler(AuthStoreError, _answer_error)
        if self.error_page is not None:
            app.register_error_handler(HTTPException, _answer_http_error)

    # -- request state -------------------------------------------------------

    @property
    def flow(self) -> AuthFlow:
        """The flow this extension serves."""
        flow = self._web.flow
        assert isinstance(flow, AuthFlow)  # init_app takes the sync flow only
        return flow

    @property
    def cookies(self) -> CookieSettings:
        """The cookie names and flags in use."""
        return self._web.cookies

    @property
    def _web(self) -> WebAuth:
        if self.web is None:
            raise RuntimeError("FlaskAuth.init_app() was not called")
        return self.web

    @property
    def session_token(self) -> str | None:
        """The session token the browser sent (pass it as ``previous_token``)."""
        token: str | None = g.get("_auth_token")
        return token

    @property
    def session_id(self) -> str | None:
        """The id of this request's live session (re-authentication proofs are bound to it)."""
        login: SignedIn | None = g.get("_auth_login")
        if login is not None:
            return login.session.session.id
        active: ActiveSession | None = g.get("_auth_active")
        if active is None or g.get("_auth_logout"):
            return None
        return active.session.id

    @property
    def client(self) -> SessionClient:
        """Who this request comes from (address and ``User-Agent``): the flow's ``client=``.

        The address is the peer's, or behind a trusted proxy
        (``AUTH_STORE_TRUSTED_PROXIES``) the one its ``X-Forwarded-For`` reports.
        """
        forwarded = ",".join(request.headers.getlist("X-Forwarded-For")) or None
        return self._web.client(request.remote_addr, forwarded, request.headers.get("User-Agent"))

    @property
    def pending(self) -> str | None:
        """The pending second-step value from its cookie, if any."""
        return request.cookies.get(self._web.cookies.pending)

    def apply(self, result: SignInResult) -> bool:
        """Act on a sign-in result: True if signed in, False if a second step is due."""
        if isinstance(result, SecondFactorRequired):
            g._auth_pending = result.pending
            return False
        self.login(result)
        return True

    def login(self, signed_in: SignedIn) -> None:
        """Send the new session's cookie with this response (and a fresh CSRF cookie)."""
        g._auth_login = signed_in
        g._auth_user = signed_in.user
        g._auth_pending = ""
        g._auth_csrf_new = self._web.csrf.new_cookie_value()

    def logout(self) -> None:
        """End the current session and clear its cookie."""
        self.flow.sign_out(self.session_token)
        g._auth_logout = True
        g._auth_user = None

    def csrf_token(self) -> str:
        """The CSRF token for forms rendered in this request."""
        value = g.get("_auth_csrf_new") or request.cookies.get(self._web.cookies.csrf)
        if not value:
            value = g._auth_csrf_new = self._web.csrf.new_cookie_value()
        return self._web.csrf.token_for(value)

    # -- hooks ---------------------------------------------------------------

    def _before(self) -> None:
        web = self._web
        token, active = web.load_session(request.cookies.get(web.cookies.session))
        g._auth_token = token if active is not None else None
        g._auth_active = active
        g._auth_user = active.user if active is not None else None
        g._auth_stale = request.cookies.get(web.cookies.session) is not None and active is None
        if self.csrf_enabled and request.method in _UNSAFE and not self._exempt():
            submitted = request.form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)
            if not web.csrf.check(request.cookies.get(web.cookies.csrf), submitted):
                abort(400, description="The form expired or came from another site (CSRF).")

    def _exempt(self) -> bool:
        view = current_app.view_functions.get(request.endpoint or "")
        return bool(getattr(view, "_auth_store_csrf_exempt", False))

    def _after(self, response: Response) -> Response:
        web = self._web
        cookies = web.cookies
        login: SignedIn | None = g.get("_auth_login")
        active = g.get("_auth_active")
        if login is not None:
            self.set_cookie(
                response,
                cookies.session,
                web.encode_session_cookie(login.session.token),
                web.max_age(login.expires),
            )
        elif g.get("_auth_logout") or g.get("_auth_stale"):
            self.delete_cookie(response, cookies.session)
        elif active is not None and active.refreshed and g.get("_auth_token"):
            self.set_cookie(
                response,
                cookies.session,
                web.encode_session_cookie(g._auth_token),
                web.max_age(active.expires),
            )
        pending = g.get("_auth_pending")
        if pending:
            seconds = int(self.flow.second_step_max_age.total_seconds())
            self.set_cookie(response, cookies.pending, pending, seconds)
        elif pending == "" and request.cookies.get(cookies.pending):
            self.delete_cookie(response, cookies.pending)
        if g.get("_auth_csrf_new"):
            self.set_cookie(response, cookies.csrf, g._auth_csrf_new, None)
        return response

    def set_cookie(
        self, response: BaseResponse, name: str, value: str, max_age: int | None
    ) -> None:
        """Set a cookie with this integration's flags (HttpOnly, Secure, SameSite)."""
        cookies = self._web.cookies
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            path=cookies.path,
            domain=cookies.domain,
            secure=cookies.secure,
            httponly=True,
            samesite=cast(Literal["Lax", "Strict", "None"], cookies.samesite.capitalize()),
        )

    def delete_cookie(self, response: BaseResponse, name: str) -> None:
        """Remove a cookie set with ``set_cookie``."""
        cookies = self._web.cookies
        response.delete_cookie(
            name,
            path=cookies.path,
            domain=cookies.domain,
            secure=cookies.secure,
            httponly=True,
            samesite=cast(Literal["Lax", "Strict", "None"], cookies.samesite.capitalize()),
        )


def _wants_json() -> bool:
    prefix = get_auth().api_prefix
    if prefix and (request.path == prefix or request.path.startswith(f"{prefix}/")):
        return True
    return request.accept_mimetypes.best == "application/json" or request.is_json


def _answer_error(error: AuthStoreError) -> BaseResponse:
    """An error a view let rise, answered with its status from the shared map."""
    answer = http_error(error)
    if answer is None:
        raise error  # the server's failure: Flask answers 500 (a page with ``error_page``)
    response: BaseResponse
    render = get_auth().error_page
    if _wants_json():
        response = jsonify(answer.body())
        response.status_code = answer.status
    elif render is not None:
        response = render(answer.status, answer.message)
    else:
        page = HTTPException(description=answer.message)
        page.code = answer.status
        response = page.get_response()
    response.headers.update(answer.headers)
    return response


def _answer_http_error(error: HTTPException) -> BaseResponse:
    """A 404, a refused CSRF token, a 500...: JSON or a page (``FlaskAuth.error_page``)."""
    status = error.code or 500
    # A 500 wraps the original exception; its text is never shown.
    message = SERVER_ERROR if status >= 500 else (error.description or error.name)
    response: BaseResponse
    render = get_auth().error_page
    if _wants_json() or render is None:
        response = jsonify({"detail": message})
        response.status_code = status
    else:
        response = render(status, message)
    for name, value in error.get_headers():
        if name.lower() not in ("content-type", "content-length"):
            response.headers[name] = value
    return response


def get_auth() -> FlaskAuth:
    """The ``FlaskAuth`` of the current app."""
    auth: FlaskAuth = current_app.extensions[_EXTENSION]
    return auth


def get_current_user() -> User | None:
    """The signed-in user of this request, or ``None``."""
    user: User | None = g.get("_auth_user")
    return user


#: The signed-in ``User`` of this request; falsy when nobody is signed in.
current_user: User | None = cast(User | None, LocalProxy(get_current_user))


def login_required(view: F) -> F:
    """Let only signed-in users reach ``view``: others get 401, or the login view."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if get_current_user() is None:
            login_view = get_auth().login_view
            if login_view:
                return redirect(url_for(login_view, next=request.full_path.rstrip("?")))
            abort(401)
        return view(*args, **kwargs)

    return cast(F, wrapper)


def csrf_exempt(view: F) -> F:
    """Exempt a view from the CSRF check (for JSON APIs authenticated another way)."""
    view._auth_store_csrf_exempt = True  # type: ignore[attr-defined]
    return view


def oauth_blueprint(
    oauth: OAuthService, *, url_prefix: str = "/auth", pages: WebPages | None = None
) -> Blueprint:
    """Routes ``<prefix>/oauth/<provider>/login`` and ``.../callback`` for ``oauth``.

    The callback URL to register with a provider is
    ``{flow.base_url}{url_prefix}/oauth/{provider}/callback``.
    """
    pages = pages or WebPages()
    blueprint = Blueprint("auth_store_oauth", __name__, url_prefix=url_prefix)

    def callback_url(provider: str) -> str:
        return f"{get_auth().flow.base_url}{url_prefix}/oauth/{provider}/callback"

    @blueprint.get("/oauth/<provider>/login")
    def login(provider: str) -> Any:
        auth = get_auth()
        next_url = safe_next(request.args.get("next"))
        start = oauth.begin(provider, callback_url(provider), next_url=next_url)
        response = redirect(start.url)
        seconds = int(oauth.state_max_age.total_seconds())
        auth.set_cookie(response, auth._web.cookies.oauth_state, start.state_cookie, seconds)
        return response

    @blueprint.get("/oauth/<provider>/callback")
    def callback(provider: str) -> Any:
        auth = get_auth()
        state_cookie = request.cookies.get(auth._web.cookies.oauth_state)
        try:
            result = oauth.finish(
                provider,
                request.args.to_dict(),
                state_cookie,
                current_user=get_current_user(),
                previous_token=auth.session_token,
                client=auth.client,
            )
        except AccountNotLinkedError:
            response = redirect(f"{pages.sign_in}?error=oauth_not_linked")
        except FlowError:
            response = redirect(f"{pages.sign_in}?error=oauth_failed")
        else:
            if auth.apply(result):
                response = redirect(safe_next(oauth.next_url(state_cookie), pages.after_sign_in))
            else:
                response = redirect(pages.second_step)
        auth.delete_cookie(response, auth._web.cookies.oauth_state)
        return response

    return blueprint


# -- sessions a front-end app made -----------------------------------------------------

_FRONTEND_EXTENSION = "auth_store_frontend"
_MISSING = object()


def _request_credentials() -> RequestCredentials:
    return RequestCredentials(
        cookies=request.cookies, authorization=request.headers.get("Authorization")
    )


class FrontendSessions:
    """The session a front-end app (Auth.js, Better Auth) signed the request's user in with.

    ``resolver`` says which sessions count (``auth_store.authjs.authjs_resolver``,
    ``auth_store.better_auth.better_auth_resolver``, or a ``SessionResolver``
    over the strategies of both). Each request is resolved once (kept on
    ``flask.g``); views marked ``required`` answer 401 JSON, with
    ``WWW-Authenticate: Bearer``, when nobody is signed in.
    """

    def __init__(
        self, app: Flask | None = None, *, resolver: SessionResolver | None = None
    ) -> None:
        self.resolver = resolver
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask, *, resolver: SessionResolver | None = None) -> None:
        """Register on ``app`` (``app.extensions["auth_store_frontend"]``)."""
        self.resolver = resolver or self.resolver
        if self.resolver is None:
            raise ConfigurationError(
                "FrontendSessions needs resolver=authjs_resolver(...) or better_auth_resolver(...)"
            )
        if getattr(self.resolver, "_kind", "sync") == "async":
            raise ConfigurationError(
                "Flask's FrontendSessions needs a sync resolver (auth_store.authjs.authjs_resolver,"
                " auth_store.better_auth.better_auth_resolver), not auth_store.aio's"
            )
        app.extensions[_FRONTEND_EXTENSION] = self

    def session(self) -> ResolvedSession | None:
        """The current request's session, or ``None`` (resolved once per request)."""
        found = g.get("_auth_store_frontend_session", _MISSING)
        if found is _MISSING:
            assert self.resolver is not None
            found = self.resolver.resolve(_request_credentials())
            g._auth_store_frontend_session = found
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


def get_frontend_sessions() -> FrontendSessions:
    """The app's ``FrontendSessions`` (set by ``init_app``)."""
    extension = current_app.extensions.get(_FRONTEND_EXTENSION)
    if not isinstance(extension, FrontendSessions):
        raise RuntimeError("FrontendSessions(app, resolver=...) was not set up on this app")
    return extension
