"""The FastAPI example: a complete sign-up / sign-in site on auth-store.

Run it (``make demo`` does) and open the printed URL::

    python examples/fastapi_app.py            # PORT=8000, store from AUTH_STORE_URL
                                              # (default sqlite:///./auth_store.db)

Pages: sign up (a verification link is mailed), sign in (password, or a
passkey: with a button or from the e-mail field's autofill), the second step
(authenticator code, backup code or passkey), TOTP enrolment with a QR code,
backup codes, passkeys (add, rename, delete), magic links, password reset
and change, sessions (revoke), API keys, and /outbox where the demo's mail
lands (on localhost only). The JSON API of the same flow is mounted at
/api/auth (see /docs); errors there are JSON, elsewhere pages. Passkeys need
a domain name: open the printed http://localhost URL. Behind HTTPS, set
``DEMO_BASE_URL`` (cookies are then ``Secure``) and ``DEMO_TRUSTED_PROXIES``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

if __package__ in (None, ""):  # run as a script: make ``examples`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fastapi import Depends, FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import auth_store
from auth_store.errors import as_sentence
from auth_store.flow import FlowError, SecondFactorMethod
from auth_store.integrations.common import CookieSettings, safe_next
from auth_store.integrations.errors import http_status
from auth_store.integrations.fastapi import (
    FastAPIAuth,
    WebPages,
    csrf_protect,
    current_user,
    optional_user,
)
from auth_store.mail import Mailer
from auth_store.models import User
from auth_store.oauth import OAuthProvider, OAuthService
from examples.demo_support import (
    APP_NAME,
    ERRORS,
    NO_STORE,
    NOTICES,
    SECURITY_HEADERS,
    STATIC,
    TEMPLATES,
    build_demo,
    cookies_secure_by_default,
    error_texts,
    qr_data_uri,
    session_rows,
    trusted_proxies,
)

CSRF = [Depends(csrf_protect)]
OptionalUser = Annotated[User | None, Depends(optional_user)]
CurrentUser = Annotated[User, Depends(current_user)]
API = "/api/auth"
# FastAPI's /docs page loads Swagger UI from a CDN and starts it with an inline script.
_DOCS_CSP = (
    "default-src 'none'; script-src https://cdn.jsdelivr.net 'unsafe-inline'; "
    "style-src https://cdn.jsdelivr.net; img-src 'self' data: https://fastapi.tiangolo.com; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)


class SecurityHeaders:
    """Adds ``SECURITY_HEADERS`` to every response (the pages set them too, for 500s)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        docs = scope["path"] in ("/docs", "/redoc")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                headers = list(message.get("headers", []))
                for name, value in SECURITY_HEADERS.items():
                    if docs and name == "Content-Security-Policy":
                        value = _DOCS_CSP
                    if name.lower().encode() not in present:
                        headers.append((name.lower().encode(), value.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(
    store: auth_store.Adapter | None = None,
    *,
    base_url: str = "http://localhost:8000",
    data_dir: str | Path = ".auth-store-demo",
    secure_cookies: bool | None = None,
    mailer: Mailer | None = None,
    providers: tuple[OAuthProvider, ...] = (),
) -> FastAPI:
    """The demo app on ``store`` (default: ``auth_store.connect()``).

    ``secure_cookies``: ``None`` reads ``DEMO_SECURE_COOKIES``, else on exactly
    when ``base_url`` is https (see ``examples.demo_support``).
    """
    store = store if store is not None else auth_store.connect()
    demo = build_demo(store, base_url=base_url, data_dir=data_dir, mailer=mailer)
    flow = demo.flow
    oauth = OAuthService(flow, providers) if providers else None
    secure = secure_cookies if secure_cookies is not None else cookies_secure_by_default(base_url)

    def error_page(request: Request, status_code: int, text: str) -> Response:
        heading, text = error_texts(status_code, text)
        # After a server failure, don't touch the store again to show who is signed in.
        who: dict[str, Any] = {"user": None} if status_code >= 500 else {}
        return page(
            request,
            "error.html",
            status_code,
            heading=heading,
            text=text,
            status=status_code,
            **who,
        )

    auth = FastAPIAuth(
        flow,
        cookies=CookieSettings(secure=secure),
        oauth=oauth,
        pages=WebPages(after_sign_in="/account", second_step="/second-step", sign_in="/sign-in"),
        prefix=API,
        error_page=error_page,
        trusted_proxies=trusted_proxies(),
    )
    app = FastAPI(title=APP_NAME, description="auth-store's FastAPI example")
    auth.init_app(app)
    app.add_middleware(SecurityHeaders)
    app.include_router(auth.router())
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.state.demo = demo
    templates = Jinja2Templates(directory=TEMPLATES)

    def page(
        request: Request,
        template: str,
        status_code: int = 200,
        *,
        no_store: bool = False,
        **context: Any,
    ) -> HTMLResponse:
        notice = NOTICES.get(request.query_params.get("notice", ""))
        error = ERRORS.get(request.query_params.get("error", ""))
        if context.get("error"):
            context["error"] = as_sentence(str(context["error"]))
        headers = {**SECURITY_HEADERS, **(NO_STORE if no_store else {})}
        user = context.pop("user") if "user" in context else auth.load(request)
        base = {
            "app_name": APP_NAME,
            "user": user,
            "csrf_token": lambda: auth.csrf_token(request),
            "outbox_enabled": demo.outbox_page,
            "providers": [p.name for p in providers],
            "oauth_base": auth.prefix,
            "passkeys": flow.passkeys_available,
            "passkeys_off": demo.passkeys_off,
            "passkey_api": auth.prefix,
            "notice": notice,
            "error": error,
        }
        return templates.TemplateResponse(
            request, template, {**base, **context}, status_code=status_code, headers=headers
        )

    def message(request: Request, heading: str, text: str) -> HTMLResponse:
        return page(request, "message.html", heading=heading, text=text)

    def see_other(url: str) -> RedirectResponse:
        return RedirectResponse(url, status_code=303)

    def after_first_factor(request: Request, result: Any, next_url: str = "/account") -> Response:
        if auth.apply(request, result):
            return see_other(safe_next(next_url, "/account"))
        return see_other("/second-step")

    # -- public pages --------------------------------------------------------

    @app.get("/", response_class=HTMLResponse)
    def index(request: Request) -> HTMLResponse:
        return page(request, "index.html")

    @app.get("/sign-up", response_class=HTMLResponse)
    def sign_up_form(request: Request) -> HTMLResponse:
        return page(request, "sign_up.html")

    @app.post("/sign-up", dependencies=CSRF)
    def sign_up(
        request: Request,
        email: Annotated[str, Form()],
        password: Annotated[str, Form()],
        name: Annotated[str, Form()] = "",
    ) -> Response:
        try:
            text = flow.sign_up(email, password, name=name or None)
        except FlowError as exc:
            return page(request, "sign_up.html", 400, error=str(exc), email=email, name=name)
        return message(request, "Check your inbox", text)

    @app.get("/sign-in", response_class=HTMLResponse)
    def sign_in_form(request: Request, next: str = "") -> HTMLResponse:
        return page(request, "sign_in.html", next=safe_next(next, ""))

    @app.post("/sign-in", dependencies=CSRF)
    def sign_in(
        request: Request,
        email: Annotated[str, Form()],
        password: Annotated[str, Form()],
        next: Annotated[str, Form()] = "",
    ) -> Response:
        try:
            result = flow.sign_in_password(
                email,
                password,
                previous_token=auth.session_token(request),
                client=auth.client(request),
            )
        except FlowError as exc:
            code = http_status(exc)
            return page(request, "sign_in.html", code, error=str(exc), email=email, next=next)
        return after_first_factor(request, result, next)

    def passkey_offered(request: Request) -> bool:
        try:
            return SecondFactorMethod.PASSKEY in flow.pending_methods(auth.pending(request))
        except FlowError:
            return False

    @app.get("/second-step", response_class=HTMLResponse)
    def second_step_form(request: Request) -> Response:
        if not auth.pending(request):
            return see_other("/sign-in")
        return page(request, "second_step.html", passkey_offered=passkey_offered(request))

    @app.post("/second-step", dependencies=CSRF)
    def second_step(request: Request, code: Annotated[str, Form()]) -> Response:
        try:
            result = flow.verify_second_factor(
                auth.pending(request),
                code,
                previous_token=auth.session_token(request),
                client=auth.client(request),
            )
        except FlowError as exc:
            offered = passkey_offered(request)
            return page(
                request,
                "second_step.html",
                http_status(exc),
                error=str(exc),
                passkey_offered=offered,
            )
        auth.login(request, result)
        return see_other("/account")

    @app.post("/sign-out", dependencies=CSRF)
    def sign_out(request: Request) -> Response:
        auth.logout(request)
        return see_other("/?notice=signed_out")

    @app.get("/magic-link", response_class=HTMLResponse)
    def magic_link_form(request: Request) -> HTMLResponse:
        return page(request, "magic_link.html")

    @app.post("/magic-link", dependencies=CSRF)
    def magic_link(request: Request, email: Annotated[str, Form()]) -> Response:
        return message(request, "Check your inbox", flow.request_magic_link(email))

    # The links in e-mails: GET shows a button, POST spends the token.
    @app.get(flow.paths.magic_link, response_class=HTMLResponse)
    def magic_link_confirm(request: Request, email: str = "", token: str = "") -> HTMLResponse:
        return page(
            request,
            "confirm.html",
            heading="Sign in",
            text="Press the button to sign in.",
            button="Sign in",
            action=flow.paths.magic_link,
            email=email,
            token=token,
        )

    @app.post(flow.paths.magic_link, dependencies=CSRF)
    def magic_link_consume(
        request: Request, email: Annotated[str, Form()], token: Annotated[str, Form()]
    ) -> Response:
        try:
            result = flow.sign_in_magic_link(
                email,
                token,
                previous_token=auth.session_token(request),
                client=auth.client(request),
            )
        except FlowError as exc:
            return message(request, "This link did not work", str(exc))
        return after_first_factor(request, result)

    @app.get(flow.paths.verify_email, response_class=HTMLResponse)
    def verify_email_confirm(request: Request, email: str = "", token: str = "") -> HTMLResponse:
        return page(
            request,
            "confirm.html",
            heading="Verify your address",
            text="Press the button to verify your address and sign in.",
            button="Verify",
            action=flow.paths.verify_email,
            email=email,
            token=token,
        )

    @app.post(flow.paths.verify_email, dependencies=CSRF)
    def verify_email(
        request: Request, email: Annotated[str, Form()], token: Annotated[str, Form()]
    ) -> Response:
        try:
            result = flow.verify_email(
                email,
                token,
                previous_token=auth.session_token(request),
                client=auth.client(request),
            )
        except FlowError as exc:
            return message(request, "This link did not work", str(exc))
        return after_first_factor(request, result)

    @app.get("/reset-password", response_class=HTMLResponse)
    def reset_request_form(request: Request) -> HTMLResponse:
        return page(request, "reset_request.html")

    @app.post("/reset-password", dependencies=CSRF)
    def reset_request(request: Request, email: Annotated[str, Form()]) -> Response:
        return message(request, "Check your inbox", flow.request_password_reset(email))

    @app.get(flow.paths.reset_password, response_class=HTMLResponse)
    def reset_form(request: Request, email: str = "", token: str = "") -> HTMLResponse:
        return page(
            request,
            "reset_password.html",
            action=flow.paths.reset_password,
            email=email,
            token=token,
        )

    @app.post(flow.paths.reset_password, dependencies=CSRF)
    def reset(
        request: Request,
        email: Annotated[str, Form()],
        token: Annotated[str, Form()],
        new_password: Annotated[str, Form()],
    ) -> Response:
        try:
            flow.reset_password(email, token, new_password)
        except FlowError as exc:
            return page(
                request,
                "reset_password.html",
                400,
                error=str(exc),
                action=flow.paths.reset_password,
                email=email,
                token=token,
            )
        return see_other("/sign-in?notice=password_reset")

    @app.get("/outbox", response_class=HTMLResponse)
    def outbox(request: Request) -> HTMLResponse:
        if not demo.outbox_page:  # a development tool: only while the demo runs on localhost
            raise HTTPException(404)
        messages = demo.outbox_messages()
        return page(request, "outbox.html", messages=list(reversed(messages)))

    # -- signed-in pages -------------------------------------------------------

    def require(request: Request, user: User | None) -> User | RedirectResponse:
        if user is None:
            return see_other(f"/sign-in?next={request.url.path}")
        return user

    @app.get("/account", response_class=HTMLResponse)
    def account(request: Request, user: OptionalUser) -> Response:
        checked = require(request, user)
        if isinstance(checked, Response):
            return checked
        return account_page(request, checked)

    def account_page(
        request: Request, user: User, status_code: int = 200, error: str | None = None
    ) -> HTMLResponse:
        enabled = flow.totp_enabled(user)
        extra: dict[str, Any] = {"error": error} if error else {}
        return page(
            request,
            "account.html",
            status_code,
            totp_enabled=enabled,
            backup_remaining=flow.backup_codes.remaining(user.id) if enabled else 0,
            has_password=flow.passwords.has_password(user.id),
            passkey_list=flow.passkeys.list(user) if flow.passkeys_available else [],
            **extra,
        )

    @app.post("/account/verify-email", dependencies=CSRF)
    def resend_verification(request: Request, user: CurrentUser) -> Response:
        flow.request_email_verification(user)
        return see_other("/account?notice=verification_sent")

    def totp_page(
        request: Request, user: User, status_code: int = 200, error: str | None = None
    ) -> HTMLResponse:
        # Shows the pending enrolment (the same key until it is confirmed or
        # expires), or a button to start one: a GET never makes a secret.
        enrollment = flow.totp_enrollment(user)
        extra: dict[str, Any] = {"error": error} if error else {}
        if enrollment is None:
            return page(request, "totp_enroll.html", status_code, **extra)
        return page(
            request,
            "totp_enroll.html",
            status_code,
            no_store=True,
            secret=enrollment.secret,
            qr=qr_data_uri(enrollment.provisioning_uri),
            **extra,
        )

    @app.get("/account/totp", response_class=HTMLResponse)
    def totp_form(request: Request, user: OptionalUser) -> Response:
        checked = require(request, user)
        if isinstance(checked, Response):
            return checked
        if flow.totp_enabled(checked):
            return see_other("/account")
        return totp_page(request, checked)

    @app.post("/account/totp/start", dependencies=CSRF)
    def totp_start(user: CurrentUser) -> Response:
        if not flow.totp_enabled(user):
            flow.start_totp(user)  # keeps an enrolment already pending
        return see_other("/account/totp")

    @app.post("/account/totp", dependencies=CSRF)
    def totp_confirm(request: Request, user: CurrentUser, code: Annotated[str, Form()]) -> Response:
        try:
            codes = flow.confirm_totp(user, code)
        except FlowError as exc:
            return totp_page(request, user, http_status(exc), str(exc))
        return page(
            request, "backup_codes.html", no_store=True, codes=codes, notice=NOTICES["totp_on"]
        )

    @app.post("/account/totp/disable", dependencies=CSRF)
    def totp_disable(request: Request, user: CurrentUser, code: Annotated[str, Form()]) -> Response:
        try:
            flow.disable_totp(user, code)
        except FlowError as exc:
            return account_page(request, user, http_status(exc), str(exc))
        return see_other("/account?notice=totp_off")

    @app.post("/account/backup-codes", dependencies=CSRF)
    def backup_codes(request: Request, user: CurrentUser, code: Annotated[str, Form()]) -> Response:
        try:
            ok = flow.check_second_factor(user, code)
        except FlowError as exc:
            return account_page(request, user, http_status(exc), str(exc))
        if not ok:
            return account_page(request, user, 401, "That code is not valid. Try again.")
        codes = flow.regenerate_backup_codes(user)
        return page(request, "backup_codes.html", no_store=True, codes=codes)

    @app.post("/account/password", dependencies=CSRF)
    def change_password(
        request: Request,
        user: CurrentUser,
        new_password: Annotated[str, Form()],
        current_password: Annotated[str, Form()] = "",
    ) -> Response:
        try:
            flow.change_password(
                user, current_password, new_password, keep_token=auth.session_token(request)
            )
        except FlowError as exc:
            return account_page(request, user, http_status(exc), str(exc))
        return see_other("/account?notice=password_changed")

    @app.get("/sessions", response_class=HTMLResponse)
    def sessions(request: Request, user: OptionalUser) -> Response:
        checked = require(request, user)
        if isinstance(checked, Response):
            return checked
        rows = session_rows(flow, checked.id, auth.session_token(request))
        return page(request, "sessions.html", sessions=rows)

    @app.post("/sessions/{session_id}/revoke", dependencies=CSRF)
    def revoke_session(session_id: str, user: CurrentUser) -> Response:
        flow.sessions.revoke_by_id(user.id, session_id)
        return see_other("/sessions?notice=session_revoked")

    @app.post("/sessions/revoke-others", dependencies=CSRF)
    def revoke_others(request: Request, user: CurrentUser) -> Response:
        flow.sessions.revoke_all(user.id, except_token=auth.session_token(request))
        return see_other("/sessions?notice=sessions_revoked")

    def keys_page(
        request: Request,
        user: User,
        status_code: int = 200,
        *,
        no_store: bool = False,
        **context: Any,
    ) -> HTMLResponse:
        keys = flow.api_keys.list(user.id)
        return page(request, "api_keys.html", status_code, no_store=no_store, keys=keys, **context)

    @app.get("/api-keys", response_class=HTMLResponse)
    def api_keys(request: Request, user: OptionalUser) -> Response:
        checked = require(request, user)
        if isinstance(checked, Response):
            return checked
        return keys_page(request, checked)

    @app.post("/api-keys", dependencies=CSRF)
    def add_api_key(
        request: Request,
        user: CurrentUser,
        label: Annotated[str, Form()],
        provider: Annotated[str, Form()],
        key: Annotated[str, Form()],
    ) -> Response:
        try:
            flow.api_keys.add(user.id, label=label, provider=provider, key=key)
        except auth_store.ValidationError as exc:
            return keys_page(request, user, 400, error=str(exc))
        return see_other("/api-keys?notice=key_added")

    @app.post("/api-keys/{key_id}/reveal", dependencies=CSRF)
    def reveal_api_key(request: Request, key_id: str, user: CurrentUser) -> Response:
        try:
            info = flow.api_keys.get(user.id, key_id)
        except auth_store.ValidationError:  # not even a valid id: no such key either
            info = None
        if info is None:
            return keys_page(request, user, 404, error="No such key.")
        revealed = {"label": info.label, "key": flow.api_keys.reveal(user.id, key_id)}
        return keys_page(request, user, no_store=True, revealed=revealed)

    @app.post("/api-keys/{key_id}/delete", dependencies=CSRF)
    def delete_api_key(request: Request, key_id: str, user: CurrentUser) -> Response:
        try:
            flow.api_keys.delete(user.id, key_id)
        except auth_store.ValidationError:
            return keys_page(request, user, 404, error="No such key.")
        return see_other("/api-keys?notice=key_deleted")

    return app


def main() -> None:
    """Serve the demo on 127.0.0.1:$PORT (default 8000) and print its URL."""
    import uvicorn

    port = int(os.environ.get("PORT", "8000"))
    # Passkeys need a name, not an IP address; behind HTTPS, DEMO_BASE_URL is the public URL.
    base_url = os.environ.get("DEMO_BASE_URL") or f"http://localhost:{port}"
    app = create_app(base_url=base_url)
    print(f"auth-store demo: open {base_url}  (mail goes to {base_url}/outbox)", flush=True)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main()
