"""FastAPI integration: dependencies ``current_user``/``optional_user`` and a JSON router.

::

    from auth_store.integrations.fastapi import FastAPIAuth, current_user

    auth = FastAPIAuth(flow)
    auth.init_app(app)                         # cookie middleware + app.state
    app.include_router(auth.router())          # /auth/... JSON endpoints

    @app.get("/me")
    def me(user: Annotated[User, Depends(current_user)]) -> dict: ...

The router's POST endpoints take JSON only (415 otherwise): a cross-site
form cannot send ``application/json`` without a CORS preflight, and other
origins cannot send DELETE without one either; with the ``SameSite=Lax``
cookie that is what protects the router from CSRF. HTML form posts
in your own pages use ``csrf_protect`` and ``auth.csrf_token(request)``.
Every decision is made in ``auth_store.flow``; this module moves cookies and
maps errors to status codes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response, status
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import BaseModel, Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import (
    AuthStoreError,
    ConfigurationError,
    ConflictError,
    NotFoundError,
    ValidationError,
)
from ..flow import AuthFlow, FlowError, SecondFactorRequired, SignedIn, SignInResult
from ..models import User
from ..oauth import AccountNotLinkedError, OAuthService
from .common import CSRF_FIELD, CSRF_HEADER, CookieSettings, WebAuth, WebPages, safe_next

__all__ = [
    "FastAPIAuth",
    "WebPages",
    "csrf_protect",
    "current_user",
    "get_auth",
    "optional_user",
]

T = TypeVar("T")
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


class FastAPIAuth:
    """The FastAPI side of an ``AuthFlow``: cookies, dependencies, the JSON router."""

    def __init__(
        self,
        flow: AuthFlow,
        *,
        cookies: CookieSettings | None = None,
        oauth: OAuthService | None = None,
        pages: WebPages | None = None,
        prefix: str = "/auth",
    ) -> None:
        self.web = WebAuth(flow, cookies)
        self.flow = flow
        self.oauth = oauth
        self.pages = pages or WebPages()
        self.prefix = prefix.rstrip("/")

    @property
    def cookies(self) -> CookieSettings:
        """The cookie names and flags in use."""
        return self.web.cookies

    def init_app(self, app: FastAPI) -> None:
        """Make this the app's auth (for the dependencies) and add the cookie middleware.

        Also answers invalid request bodies under ``prefix`` with a 422 that
        does not echo the submitted values (they may be passwords).
        """
        app.state.auth_store = self
        app.add_middleware(_CookieMiddleware)
        prefix = self.prefix

        async def invalid_body(request: Request, exc: Exception) -> Response:
            assert isinstance(exc, RequestValidationError)
            if not request.url.path.startswith(f"{prefix}/"):
                return await request_validation_exception_handler(request, exc)
            detail = [
                {"type": e.get("type"), "loc": list(e.get("loc", ())), "msg": e.get("msg")}
                for e in exc.errors()
            ]
            return JSONResponse({"detail": detail}, status_code=422)

        app.add_exception_handler(RequestValidationError, invalid_body)

    # -- per-request state -----------------------------------------------------

    def load(self, request: Request) -> User | None:
        """Read the session cookie once per request (sliding its expiry); the user or None."""
        if getattr(request.state, "auth_store_loaded", False):
            user: User | None = request.state.auth_store_user
            return user
        raw = request.cookies.get(self.cookies.session)
        token, active = self.web.load_session(raw)
        request.state.auth_store_loaded = True
        request.state.auth_store_token = token if active is not None else None
        request.state.auth_store_user = active.user if active is not None else None
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

    def session_token(self, request: Request) -> str | None:
        """The live session token of this request (pass it as ``previous_token``)."""
        self.load(request)
        token: str | None = request.state.auth_store_token
        return token

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

    def logout(self, request: Request) -> None:
        """End the current session and clear its cookie."""
        self.flow.sign_out(self.session_token(request))
        self.delete_cookie(request, self.cookies.session)
        request.state.auth_store_token = None
        request.state.auth_store_user = None

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

    def router(self) -> APIRouter:
        """The JSON API of the flow, sessions, TOTP, backup codes, API keys (and OAuth)."""
        return _build_router(self)

    def call(self, fn: Callable[[], T]) -> T:
        """Run a flow step, turning its errors into ``HTTPException``s."""
        try:
            return fn()
        except AuthStoreError as exc:
            raise _http_error(exc) from None


def _http_error(exc: AuthStoreError) -> HTTPException:
    if isinstance(exc, FlowError):
        code = WebAuth.status_for(exc)
    elif isinstance(exc, ValidationError):
        code = 400
    elif isinstance(exc, ConflictError):
        code = 409
    elif isinstance(exc, NotFoundError):
        code = 404
    elif isinstance(exc, ConfigurationError):
        code = 501
    else:
        raise exc
    retry = WebAuth.retry_after(exc)
    headers = {"Retry-After": str(retry)} if retry is not None else None
    return HTTPException(code, str(exc), headers=headers)


# -- dependencies ------------------------------------------------------------


def get_auth(request: Request) -> FastAPIAuth:
    """The app's ``FastAPIAuth`` (set by ``init_app``)."""
    auth = getattr(request.app.state, "auth_store", None)
    if not isinstance(auth, FastAPIAuth):
        raise RuntimeError("call FastAPIAuth(...).init_app(app) first")
    return auth


def optional_user(request: Request) -> User | None:
    """Dependency: the signed-in user, or ``None``."""
    return get_auth(request).load(request)


def current_user(user: Annotated[User | None, Depends(optional_user)]) -> User:
    """Dependency: the signed-in user; 401 when nobody is signed in."""
    if user is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "Please sign in.")
    return user


#: ``Annotated`` alias for endpoints: the signed-in user (401 otherwise).
CurrentUser = Annotated[User, Depends(current_user)]


async def csrf_protect(request: Request) -> None:
    """Dependency for HTML form posts: 400 without a valid CSRF token."""
    await get_auth(request).check_csrf(request)


async def _require_json(request: Request) -> None:
    # POST is the one unsafe method a cross-site form can send; PUT, PATCH and
    # DELETE from another origin need a CORS preflight anyway.
    if request.method == "POST":
        media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media != "application/json":
            raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "Send application/json.")
        if _has_lone_surrogate(await request.body()):
            raise HTTPException(
                status.HTTP_400_BAD_REQUEST, "The request body is not valid Unicode JSON."
            )


def _has_lone_surrogate(body: bytes) -> bool:
    """Whether a JSON body holds half a UTF-16 surrogate pair (``"\\ud800"``).

    JSON parsers accept such escapes (and such code units in UTF-16 bodies),
    but the text they make can't be encoded: hashing a password, writing a
    row, rendering an error that echoes the input would all fail, so the
    request is refused before any of that.
    """
    try:
        value = json.loads(body)
    except ValueError:
        return False  # not JSON at all: the router's validation answers 422
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


# -- request and response bodies -------------------------------------------


class SignUpIn(BaseModel):
    """A new account: e-mail, password and an optional display name."""

    email: str = Field(max_length=320)
    password: str = Field(max_length=4096)
    name: str | None = Field(default=None, max_length=200)


class SignInIn(BaseModel):
    """E-mail and password for a password sign-in."""

    email: str = Field(max_length=320)
    password: str = Field(max_length=4096)


class EmailIn(BaseModel):
    """An e-mail address to mail a link to."""

    email: str = Field(max_length=320)


class LinkIn(BaseModel):
    """The ``email`` and ``token`` query parameters of a mailed link."""

    email: str = Field(max_length=320)
    token: str = Field(max_length=512)


class ResetIn(LinkIn):
    """A reset link's parameters and the new password."""

    new_password: str = Field(max_length=4096)


class ChangePasswordIn(BaseModel):
    """The current password (empty if none is set yet) and the new one."""

    current_password: str = Field(default="", max_length=4096)
    new_password: str = Field(max_length=4096)


class SecondFactorIn(BaseModel):
    """A TOTP or backup code; the pending token unless its cookie is sent."""

    code: str = Field(max_length=64)
    pending_token: str | None = Field(default=None, max_length=2048)


class CodeIn(BaseModel):
    """A TOTP or backup code."""

    code: str = Field(max_length=64)


class ApiKeyIn(BaseModel):
    """A third-party API key to store encrypted, with a label and its provider."""

    label: str = Field(max_length=200)
    provider: str = Field(max_length=200)
    key: str = Field(max_length=8192)


class MessageOut(BaseModel):
    """A message to show; the same whether or not an account exists."""

    message: str


class UserOut(BaseModel):
    """The signed-in user."""

    id: str
    email: str
    email_verified: datetime | None
    name: str | None
    image: str | None

    @classmethod
    def of(cls, user: User) -> UserOut:
        """The public fields of ``user``."""
        return cls(
            id=user.id or "",
            email=user.email,
            email_verified=user.email_verified,
            name=user.name,
            image=user.image,
        )


class SignInOut(BaseModel):
    """Signed in (the session cookie is set), or a second step is due."""

    status: Literal["signed_in", "second_factor_required"]
    user: UserOut | None = None
    expires: datetime | None = None
    pending_token: str | None = None
    methods: list[str] = []


class SessionOut(BaseModel):
    """One of the user's sessions; ``current`` is the one making the request."""

    id: str
    expires: datetime
    current: bool


class CountOut(BaseModel):
    """A count."""

    count: int


class TotpStatusOut(BaseModel):
    """Whether TOTP can be used, is on, or waits for its first code."""

    available: bool
    enabled: bool
    pending: bool


class TotpEnrollOut(BaseModel):
    """A new TOTP secret and its ``otpauth://`` URI (shown once)."""

    secret: str
    provisioning_uri: str


class BackupCodesOut(BaseModel):
    """A new set of single-use backup codes (shown once)."""

    backup_codes: list[str]


class ApiKeyOut(BaseModel):
    """A stored API key, masked to its last four characters."""

    id: str
    label: str
    provider: str
    masked: str
    created_at: datetime | None


class RevealOut(BaseModel):
    """A stored API key, decrypted."""

    key: str


def _build_router(auth: FastAPIAuth) -> APIRouter:
    flow = auth.flow
    router = APIRouter(prefix=auth.prefix, tags=["auth"], dependencies=[Depends(_require_json)])

    def sign_in_out(request: Request, result: SignInResult) -> SignInOut:
        if isinstance(result, SecondFactorRequired):
            auth.apply(request, result)
            return SignInOut(
                status="second_factor_required",
                pending_token=result.pending,
                methods=[m.value for m in result.methods],
            )
        auth.login(request, result)
        return SignInOut(status="signed_in", user=UserOut.of(result.user), expires=result.expires)

    @router.post("/sign-up", summary="Create an account (a verification link is mailed)")
    def sign_up(body: SignUpIn) -> MessageOut:
        return MessageOut(
            message=auth.call(lambda: flow.sign_up(body.email, body.password, name=body.name))
        )

    @router.post("/sign-in", summary="Sign in with e-mail and password")
    def sign_in(request: Request, body: SignInIn) -> SignInOut:
        previous = auth.session_token(request)
        result = auth.call(
            lambda: flow.sign_in_password(body.email, body.password, previous_token=previous)
        )
        return sign_in_out(request, result)

    @router.post("/second-factor", summary="Finish signing in with a TOTP or backup code")
    def second_factor(request: Request, body: SecondFactorIn) -> SignInOut:
        pending = body.pending_token or auth.pending(request)
        previous = auth.session_token(request)
        result = auth.call(
            lambda: flow.verify_second_factor(pending, body.code, previous_token=previous)
        )
        return sign_in_out(request, result)

    @router.post("/magic-link", summary="Mail a sign-in link")
    def magic_link(body: EmailIn) -> MessageOut:
        return MessageOut(message=auth.call(lambda: flow.request_magic_link(body.email)))

    @router.post("/magic-link/consume", summary="Sign in with a magic link's token")
    def magic_link_consume(request: Request, body: LinkIn) -> SignInOut:
        previous = auth.session_token(request)
        result = auth.call(
            lambda: flow.sign_in_magic_link(body.email, body.token, previous_token=previous)
        )
        return sign_in_out(request, result)

    @router.post("/verify-email", summary="Verify an address with its link's token (signs in)")
    def verify_email(request: Request, body: LinkIn) -> SignInOut:
        previous = auth.session_token(request)
        result = auth.call(
            lambda: flow.verify_email(body.email, body.token, previous_token=previous)
        )
        return sign_in_out(request, result)

    @router.post("/verify-email/resend", summary="Mail the signed-in user a new verification link")
    def verify_email_resend(user: CurrentUser) -> MessageOut:
        return MessageOut(message=auth.call(lambda: flow.request_email_verification(user)))

    @router.post("/password-reset", summary="Mail a password-reset link")
    def password_reset(body: EmailIn) -> MessageOut:
        return MessageOut(message=auth.call(lambda: flow.request_password_reset(body.email)))

    @router.post("/password-reset/confirm", summary="Set a new password with a reset token")
    def password_reset_confirm(body: ResetIn) -> MessageOut:
        return MessageOut(
            message=auth.call(
                lambda: flow.reset_password(body.email, body.token, body.new_password)
            )
        )

    @router.post("/password", summary="Change the signed-in user's password")
    def change_password(request: Request, user: CurrentUser, body: ChangePasswordIn) -> MessageOut:
        keep = auth.session_token(request)
        message = auth.call(
            lambda: flow.change_password(
                user, body.current_password, body.new_password, keep_token=keep
            )
        )
        return MessageOut(message=message)

    @router.post("/sign-out", summary="End the current session")
    def sign_out(request: Request) -> MessageOut:
        auth.logout(request)
        return MessageOut(message="Signed out.")

    @router.get("/me", summary="The signed-in user")
    def me(user: CurrentUser) -> UserOut:
        return UserOut.of(user)

    @router.get("/sessions", summary="The signed-in user's sessions")
    def list_sessions(request: Request, user: CurrentUser) -> list[SessionOut]:
        token = auth.session_token(request)
        assert user.id is not None
        return [
            SessionOut(id=s.id or "", expires=s.expires, current=flow.sessions.is_current(s, token))
            for s in flow.sessions.list(user.id)
        ]

    @router.delete(
        "/sessions/{session_id}",
        status_code=status.HTTP_204_NO_CONTENT,
        summary="End one of the signed-in user's sessions",
    )
    def revoke_session(session_id: str, user: CurrentUser) -> None:
        assert user.id is not None
        if not auth.call(lambda: flow.sessions.revoke_by_id(user.id or "", session_id)):
            raise HTTPException(status.HTTP_404_NOT_FOUND, "No such session.")

    @router.delete("/sessions", summary="End every other session of the signed-in user")
    def revoke_other_sessions(request: Request, user: CurrentUser) -> CountOut:
        assert user.id is not None
        keep = auth.session_token(request)
        return CountOut(count=flow.sessions.revoke_all(user.id, except_token=keep))

    @router.get("/totp", summary="Whether TOTP is available, enabled or pending")
    def totp_status(user: CurrentUser) -> TotpStatusOut:
        assert user.id is not None
        if not flow.totp_available:
            return TotpStatusOut(available=False, enabled=False, pending=False)
        return TotpStatusOut(
            available=True,
            enabled=flow.totp.is_enabled(user.id),
            pending=flow.totp.is_pending(user.id),
        )

    @router.post("/totp/enroll", summary="Start TOTP enrolment (secret and otpauth:// URI)")
    def totp_enroll(user: CurrentUser) -> TotpEnrollOut:
        enrollment = auth.call(lambda: flow.start_totp(user))
        return TotpEnrollOut(secret=enrollment.secret, provisioning_uri=enrollment.provisioning_uri)

    @router.post("/totp/confirm", summary="Turn TOTP on with a first code; returns backup codes")
    def totp_confirm(user: CurrentUser, body: CodeIn) -> BackupCodesOut:
        return BackupCodesOut(backup_codes=auth.call(lambda: flow.confirm_totp(user, body.code)))

    @router.post("/totp/disable", summary="Turn TOTP off (needs a TOTP or backup code)")
    def totp_disable(user: CurrentUser, body: CodeIn) -> MessageOut:
        auth.call(lambda: flow.disable_totp(user, body.code))
        return MessageOut(message="Two-step sign-in is off.")

    @router.get("/backup-codes", summary="How many unused backup codes remain")
    def backup_codes_remaining(user: CurrentUser) -> CountOut:
        return CountOut(count=auth.call(lambda: flow.backup_codes.remaining(user.id or "")))

    @router.post("/backup-codes", summary="A new set of backup codes (voids the old set)")
    def backup_codes_regenerate(user: CurrentUser, body: CodeIn) -> BackupCodesOut:
        if not auth.call(lambda: flow.check_second_factor(user, body.code)):
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "That code is not valid.")
        return BackupCodesOut(backup_codes=auth.call(lambda: flow.regenerate_backup_codes(user)))

    def key_out(info: Any) -> ApiKeyOut:
        return ApiKeyOut(
            id=info.id,
            label=info.label,
            provider=info.provider,
            masked=info.masked,
            created_at=info.created_at,
        )

    @router.get("/api-keys", summary="The signed-in user's API keys, masked")
    def list_api_keys(user: CurrentUser) -> list[ApiKeyOut]:
        return [key_out(i) for i in auth.call(lambda: flow.api_keys.list(user.id or ""))]

    @router.post("/api-keys", status_code=status.HTTP_201_CREATED, summary="Store an API key")
    def add_api_key(user: CurrentUser, body: ApiKeyIn) -> ApiKeyOut:
        info = auth.call(
            lambda: flow.api_keys.add(
                user.id or "", label=body.label, provider=body.provider, key=body.key
            )
        )
        return key_out(info)

    @router.post("/api-keys/{key_id}/reveal", summary="Decrypt one of the user's API keys")
    def reveal_api_key(key_id: str, user: CurrentUser) -> RevealOut:
        return RevealOut(key=auth.call(lambda: flow.api_keys.reveal(user.id or "", key_id)))

    @router.delete(
        "/api-keys/{key_id}",
        status_code=status.HTTP_204_NO_CONTENT,
        summary="Delete one of the user's API keys",
    )
    def delete_api_key(key_id: str, user: CurrentUser) -> None:
        if not auth.call(lambda: flow.api_keys.delete(user.id or "", key_id)):
            raise HTTPException(status.HTTP_404_NOT_FOUND, "No such API key.")

    if auth.oauth is not None:
        _add_oauth_routes(router, auth, auth.oauth)
    return router


def _add_oauth_routes(router: APIRouter, auth: FastAPIAuth, oauth: OAuthService) -> None:
    pages = auth.pages

    def callback_url(provider: str) -> str:
        return f"{auth.flow.base_url}{auth.prefix}/oauth/{provider}/callback"

    @router.get("/oauth/{provider}/login", summary="Start signing in with a provider")
    def oauth_login(request: Request, provider: str, next: str | None = None) -> RedirectResponse:
        start = auth.call(
            lambda: oauth.begin(provider, callback_url(provider), next_url=safe_next(next))
        )
        seconds = int(oauth.state_max_age.total_seconds())
        auth.set_cookie(request, auth.cookies.oauth_state, start.state_cookie, seconds)
        return RedirectResponse(start.url, status_code=status.HTTP_302_FOUND)

    @router.get("/oauth/{provider}/callback", summary="The provider's redirect back")
    def oauth_callback(request: Request, provider: str) -> RedirectResponse:
        state_cookie = request.cookies.get(auth.cookies.oauth_state)
        auth.delete_cookie(request, auth.cookies.oauth_state)
        try:
            result = oauth.finish(
                provider,
                dict(request.query_params),
                state_cookie,
                current_user=auth.load(request),
                previous_token=auth.session_token(request),
            )
        except AccountNotLinkedError:
            return RedirectResponse(f"{pages.sign_in}?error=oauth_not_linked", status_code=302)
        except FlowError:
            return RedirectResponse(f"{pages.sign_in}?error=oauth_failed", status_code=302)
        if not auth.apply(request, result):
            return RedirectResponse(pages.second_step, status_code=302)
        target = safe_next(oauth.next_url(state_cookie), pages.after_sign_in)
        return RedirectResponse(target, status_code=302)
