"""``RequestAuth``: the per-request half of ``FastAPIAuth`` - session cookie, CSRF, state."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from fastapi import FastAPI, HTTPException, Request, Response, status
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ...aio import AuthFlow
from ...errors import ConfigurationError
from ...flow import SecondFactorRequired, SignedIn, SignInResult
from ...models import User
from ...sessions import SessionClient
from ..common import CSRF_FIELD, CSRF_HEADER, CookieSettings, WebAuth, WebPages
from ._errors import ErrorPage, install_error_handler

if TYPE_CHECKING:
    from ...aio import OAuthService

__all__ = ["RequestAuth"]

_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_COOKIES = "auth_store_cookies"


class _CookieMiddleware:
    """Adds the Set-Cookie headers an endpoint queued to whatever response it returns."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_cookies(message: Message) -> None:
            if message["type"] == "http.response.start":
                queued: list[bytes] = scope.get("state", {}).get(_COOKIES) or []
                if queued:
                    headers = list(message.get("headers", []))
                    headers.extend((b"set-cookie", value) for value in queued)
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_cookies)


class RequestAuth:
    """An ``auth_store.aio.AuthFlow`` on FastAPI, per request: cookies, the signed-in user, CSRF.

    The integration runs on the async twin: every store call is awaited on
    the event loop (natively on Postgres), none waits in the thread pool.
    ``FastAPIAuth`` adds the JSON router; the dependencies and the routes
    need only this.
    """

    def __init__(
        self,
        flow: AuthFlow,
        *,
        cookies: CookieSettings | None = None,
        oauth: OAuthService | None = None,
        pages: WebPages | None = None,
        prefix: str = "/auth",
        error_page: ErrorPage | None = None,
        trusted_proxies: Iterable[str] | str | None = None,
    ) -> None:
        if not isinstance(flow, AuthFlow):
            raise ConfigurationError(
                "the FastAPI integration runs on the async twin: build auth_store.aio.AuthFlow "
                "on `await auth_store.connect_async(url)`"
            )
        self.web = WebAuth(flow, cookies, trusted_proxies=trusted_proxies)
        self.flow = flow
        self.oauth = oauth
        self.pages = pages or WebPages()
        self.prefix = prefix.rstrip("/")
        #: Renders errors outside ``prefix`` as pages (``None``: JSON everywhere).
        self.error_page = error_page

    @property
    def cookies(self) -> CookieSettings:
        """The cookie names and flags in use."""
        return self.web.cookies

    def init_app(self, app: FastAPI) -> None:
        """Make this the app's auth (for the dependencies), add the cookie middleware,
        and answer ``AuthStoreError``s with the shared HTTP map (``integrations.errors``):
        JSON under ``prefix``, pages from ``error_page`` elsewhere when it is given."""
        app.state.auth_store = self
        app.add_middleware(_CookieMiddleware)
        install_error_handler(app, prefix=self.prefix, error_page=self.error_page)

    # -- per-request state -----------------------------------------------------

    async def load(self, request: Request) -> User | None:
        """Read the session cookie once per request (sliding its expiry); the user or None."""
        if getattr(request.state, "auth_store_loaded", False):
            user: User | None = request.state.auth_store_user
            return user
        raw = request.cookies.get(self.cookies.session)
        token = self.web.decode_session_cookie(raw)
        active = None if token is None else await self.flow.sessions.get(token)
        request.state.auth_store_loaded = True
        request.state.auth_store_token = token if active is not None else None
        request.state.auth_store_user = active.user if active is not None else None
        request.state.auth_store_session_id = active.session.id if active is not None else None
        if active is None and raw is not None:
            self.delete_cookie(request, self.cookies.session)
        elif active is not None and active.refreshed and token is not None:
            self.set_cookie(
                request,
                self.cookies.session,
                self.web.encode_session_cookie(token),
                self.web.max_age(active.expires),
            )
        return request.state.auth_store_user  # type: ignore[no-any-return]

    async def session_token(self, request: Request) -> str | None:
        """The live session token of this request (pass it as ``previous_token``)."""
        await self.load(request)
        token: str | None = request.state.auth_store_token
        return token

    def client(self, request: Request) -> SessionClient:
        """Who the request comes from (address and ``User-Agent``): the flow's ``client=``.

        The address is the peer's, or behind a trusted proxy (``trusted_proxies``)
        the one its ``X-Forwarded-For`` reports.
        """
        peer = request.client.host if request.client is not None else None
        forwarded = ",".join(request.headers.getlist("x-forwarded-for")) or None
        return self.web.client(peer, forwarded, request.headers.get("user-agent"))

    async def session_id(self, request: Request) -> str | None:
        """The id of this request's live session (re-authentication proofs are bound to it)."""
        await self.load(request)
        session_id: str | None = request.state.auth_store_session_id
        return session_id

    def apply(self, request: Request, result: SignInResult) -> bool:
        """Act on a sign-in result: True if signed in, False if a second step is due."""
        if isinstance(result, SecondFactorRequired):
            seconds = int(self.flow.second_step_max_age.total_seconds())
            self.set_cookie(request, self.cookies.pending, result.pending, seconds)
            return False
        self.login(request, result)
        return True

    def login(self, request: Request, signed_in: SignedIn) -> None:
        """Queue the new session cookie (and a fresh CSRF cookie) on this response."""
        self.set_cookie(
            request,
            self.cookies.session,
            self.web.encode_session_cookie(signed_in.session.token),
            self.web.max_age(signed_in.expires),
        )
        if request.cookies.get(self.cookies.pending):
            self.delete_cookie(request, self.cookies.pending)
        fresh = self.web.csrf.new_cookie_value()
        request.state.auth_store_csrf = fresh
        self.set_cookie(request, self.cookies.csrf, fresh, None)
        request.state.auth_store_loaded = True
        request.state.auth_store_token = signed_in.session.token
        request.state.auth_store_user = signed_in.user
        request.state.auth_store_session_id = signed_in.session.session.id

    async def logout(self, request: Request) -> None:
        """End the current session and clear its cookie."""
        await self.flow.sign_out(await self.session_token(request))
        self.delete_cookie(request, self.cookies.session)
        request.state.auth_store_token = None
        request.state.auth_store_user = None
        request.state.auth_store_session_id = None

    def pending(self, request: Request) -> str | None:
        """The pending second-step value from its cookie, if any."""
        return request.cookies.get(self.cookies.pending)

    def csrf_token(self, request: Request) -> str:
        """The CSRF token for forms rendered in this request (sets the cookie if needed)."""
        value = getattr(request.state, "auth_store_csrf", None) or request.cookies.get(
            self.cookies.csrf
        )
        if not value:
            value = self.web.csrf.new_cookie_value()
            request.state.auth_store_csrf = value
            self.set_cookie(request, self.cookies.csrf, value, None)
        return self.web.csrf.token_for(value)

    async def check_csrf(self, request: Request) -> None:
        """Raise 400 unless an unsafe request carries a valid CSRF token."""
        if request.method not in _UNSAFE:
            return
        submitted = request.headers.get(CSRF_HEADER)
        if not submitted:
            form = await request.form()
            value = form.get(CSRF_FIELD)
            submitted = value if isinstance(value, str) else None
        if not self.web.csrf.check(request.cookies.get(self.cookies.csrf), submitted):
            raise HTTPException(
                status.HTTP_400_BAD_REQUEST,
                "The form expired or came from another site (CSRF).",
            )

    def set_cookie(self, request: Request, name: str, value: str, max_age: int | None) -> None:
        """Queue a cookie with this integration's flags (HttpOnly, Secure, SameSite)."""
        helper = Response()
        helper.set_cookie(
            name,
            value,
            max_age=max_age,
            path=self.cookies.path,
            domain=self.cookies.domain,
            secure=self.cookies.secure,
            httponly=True,
            samesite=self.cookies.samesite,
        )
        self._queue(request, helper)

    def delete_cookie(self, request: Request, name: str) -> None:
        """Queue the removal of a cookie."""
        helper = Response()
        helper.delete_cookie(
            name,
            path=self.cookies.path,
            domain=self.cookies.domain,
            secure=self.cookies.secure,
            httponly=True,
            samesite=self.cookies.samesite,
        )
        self._queue(request, helper)

    @staticmethod
    def _queue(request: Request, helper: Response) -> None:
        queued = request.scope.setdefault("state", {}).setdefault(_COOKIES, [])
        queued.extend(v for k, v in helper.raw_headers if k == b"set-cookie")

    # -- the JSON router -------------------------------------------------------
