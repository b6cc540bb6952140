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

import asyncio
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
import auth_store.aio as aio
from auth_store.async_twin import ThreadedAsyncAdapter
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
from auth_store.oauth import OAuthProvider
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
    store: auth_store.AsyncAdapter | auth_store.Adapter,
    *,
    base_url: str = "http://localhost:8000",
    data_dir: str | Path = ".auth-store-demo",
    secure_cookies: bool | None = None,
    mailer: Mailer | None = None,
    providers: tuple[OAuthProvider, ...] = (),
) -> FastAPI:
    """The demo app on the async twin of ``store``.

    ``store`` is an async store (``await auth_store.connect_async(url)``:
    native on Postgres), or a sync one, which then runs on worker threads
    (``ThreadedAsyncAdapter``, what ``connect_async`` does for SQLite).
    ``secure_cookies``: ``None`` reads ``DEMO_SECURE_COOKIES``, else on exactly
    when ``base_url`` is https (see ``examples.demo_support``).
    """
    if isinstance(store, auth_store.Adapter):
        store = ThreadedAsyncAdapter(store)
    demo = build_demo(
        store, flow_class=aio.AuthFlow, base_url=base_url, data_dir=data_dir, mailer=mailer
    )
    flow = demo.flow
    oauth = aio.OAuthService(flow, providers) if providers else None
    secure = secure_cookies if secure_cookies is not None else cookies_secure_by_default(base_url)

    async def error_page(request: Request, status_code: int, text: str) -> Response:
        heading, text = error_texts(status_code, text)
        # After a server failure, don't touch the store again to show who is signed in.
        who: dict[str, Any] = {"user": None} if status_code >= 500 else {}
        return await page(
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

    async def page(
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
        user = context.pop("user") if "user" in context else await auth.load(request)
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

    async def message(request: Request, heading: str, text: str) -> HTMLResponse:
        return await page(request, "message.html", heading=heading, text=text)

    def see_other(url: str) -> RedirectResponse:
        return RedirectResponse(url, status_code=303)

    def after_first_factor(request: Request, result: Any, next_url: str = "/account") -> Response:
        if auth.apply(request, result):
            return see_other(safe_next(next_url, "/account"))
        return see_other("/second-step")

    # -- public pages --------------------------------------------------------

    @app.get("/", response_class=HTMLResponse)
    async def index(request: Request) -> HTMLResponse:
        return await page(request, "index.html")

    @app.get("/sign-up", response_class=HTMLResponse)
    async def sign_up_form(request: Request) -> HTMLResponse:
        return await page(request, "sign_up.html")

    @app.post("/sign-up", dependencies=CSRF)
    async def sign_up(
        request: Request,
        email: Annotated[str, Form()],
        password: Annotated[str, Form()],
        name: Annotated[str, Form()] = "",
    ) -> Response:
        try:
            text = await flow.sign_up(email, password, name=name or None)
        except FlowError as exc:
            return await page(request, "sign_up.html", 400, error=str(exc), email=email, name=name)
        return await message(request, "Check your inbox", text)

    @app.get("/sign-in", response_class=HTMLResponse)
    async def sign_in_form(request: Request, next: str = "") -> HTMLResponse:
        return await page(request, "sign_in.html", next=safe_next(next, ""))

    @app.post("/sign-in", dependencies=CSRF)
    async def sign_in(
        request: Request,
        email: Annotated[str, Form()],
        password: Annotated[str, Form()],
        next: Annotated[str, Form()] = "",
    ) -> Response:
        try:
            result = await flow.sign_in_password(
                email,
                password,
                previous_token=await auth.session_token(request),
                client=auth.client(request),
            )
        except FlowError as exc:
            code = http_status(exc)
            return await page(request, "sign_in.html", code, error=str(exc), email=email, next=next)
        return after_first_factor(request, result, next)

    async def passkey_offered(request: Request) -> bool:
        try:
            return SecondFactorMethod.PASSKEY in await flow.pending_methods(auth.pending(request))
        except FlowError:
            return False

    @app.get("/second-step", response_class=HTMLResponse)
    async def second_step_form(request: Request) -> Response:
        if not auth.pending(request):
            return see_other("/sign-in")
        return await page(
            request, "second_step.html", passkey_offered=await passkey_offered(request)
        )

    @app.post("/second-step", dependencies=CSRF)
    async def second_step(request: Request, code: Annotated[str, Form()]) -> Response:
        try:
            result = await flow.verify_second_factor(
                auth.pending(request),
                code,
                previous_token=await auth.session_token(request),
                client=auth.client(request),
            )
        except FlowError as exc:
            offered = await passkey_offered(request)
            return await page(
                request,
                "second_step.html",
                http_status(exc),
                error=str(exc),
                passkey_offered=offered,
            )
        auth.login(request, result)
        return see_other("/account")

    @app.post("/sign-out", dependencies=CSRF)
    async def sign_out(request: Request) -> Response:
        await auth.logout(request)
        return see_other("/?notice=signed_out")

    @app.get("/magic-link", response_class=HTMLResponse)
    async def magic_link_form(request: Request) -> HTMLResponse:
        return await page(request, "magic_link.html")

    @app.post("/magic-link", dependencies=CSRF)
    async def magic_link(request: Request, email: Annotated[str, Form()]) -> Response:
        return await message(request, "Check your inbox", await flow.request_magic_link(email))

    # The links in e-mails: GET shows a button, POST spends the token.
    @app.get(flow.paths.magic_link, response_class=HTMLResponse)
    async def magic_link_confirm(
        request: Request, email: str = "", token: str = ""
    ) -> HTMLResponse:
        return await page(
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
    async def magic_link_consume(
        request: Request, email: Annotated[str, Form()], token: Annotated[str, Form()]
    ) -> Response:
        try:
            result = await flow.sign_in_magic_link(
                email,
                token,
                previous_token=await auth.session_token(request),
                client=auth.client(request),
            )
        except FlowError as exc:
            return await message(request, "This link did not work", str(exc))
        return after_first_factor(request, result)

    @app.get(flow.paths.verify_email, response_class=HTMLResponse)
    async def verify_email_confirm(
        request: Request, email: str = "", token: str = ""
    ) -> HTMLResponse:
        return await page(
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
    async def verify_email(
        request: Request, email: Annotated[str, Form()], token: Annotated[str, Form()]
    ) -> Response:
        try:
            result = await flow.verify_email(
                email,
                token,
                previous_token=await auth.session_token(request),
                client=auth.client(request),
            )
        except FlowError as exc:
            return await message(request, "This link did not work", str(exc))
        return after_first_factor(request, result)

    @app.get("/reset-password", response_class=HTMLResponse)
    async def reset_request_form(request: Request) -> HTMLResponse:
        return await page(request, "reset_request.html")

    @app.post("/reset-password", dependencies=CSRF)
    async def reset_request(request: Request, email: Annotated[str, Form()]) -> Response:
        return await message(request, "Check your inbox", await flow.request_password_reset(email))

    @app.get(flow.paths.reset_password, response_class=HTMLResponse)
    async def reset_form(request: Request, email: str = "", token: str = "") -> HTMLResponse:
        return await page(
            request,
            "reset_password.html",
            action=flow.paths.reset_password,
            email=email,
            token=token,
        )

    @app.post(flow.paths.reset_password, dependencies=CSRF)
    async def reset(
        request: Request,
        email: Annotated[str, Form()],
        token: Annotated[str, Form()],
        new_password: Annotated[str, Form()],
    ) -> Response:
        try:
            await flow.reset_password(email, token, new_password)
        except FlowError as exc:
            return await page(
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
    async def outbox(request: Request) -> HTMLResponse:
        if not demo.outbox_page:  # a development tool: only while the demo runs on localhost
            raise HTTPException(404)
        # Waits for the mail worker, which has this loop compose: not on the loop.
        messages = await asyncio.to_thread(demo.outbox_messages)
        return await page(request, "outbox.html", messages=list(reversed(messages)))

    # -- signed-in pages -------------------------------------------------------

    def require(request: Request, user: User | None) -> User | RedirectResponse:
        if user is None:
            return see_other(f"/sign-in?next={request.url.path}")
        return user

    @app.get("/account", response_class=HTMLResponse)
    async def account(request: Request, user: OptionalUser) -> Response:
        checked = require(request, user)
        if isinstance(checked, Response):
            return checked
        return await account_page(request, checked)

    async def account_page(
        request: Request, user: User, status_code: int = 200, error: str | None = None
    ) -> HTMLResponse:
        enabled = await flow.totp_enabled(user)
        extra: dict[str, Any] = {"error": error} if error else {}
        return await page(
            request,
            "account.html",
            status_code,
            totp_enabled=enabled,
            backup_remaining=await flow.backup_codes.remaining(user.id) if enabled else 0,
            has_password=await flow.passwords.has_password(user.id),
            passkey_list=await flow.passkeys.list(user) if flow.passkeys_available else [],
            **extra,
        )

    @app.post("/account/verify-email", dependencies=CSRF)
    async def resend_verification(request: Request, user: CurrentUser) -> Response:
        await flow.request_email_verification(user)
        return see_other("/account?notice=verification_sent")

    async def totp_page(
        request: Request, user: User, status_code: int = 200, error: str | None = None
    ) -> HTMLResponse:
        # Shows the pending enrolment (the same key until it is confirmed or
        # expires), or a button to start one: a GET never makes a secret.
        enrollment = await flow.totp_enrollment(user)
        extra: dict[str, Any] = {"error": error} if error else {}
        if enrollment is None:
            return await page(request, "totp_enroll.html", status_code, **extra)
        return await page(
            request,
            "totp_enroll.html",
            status_code,
            no_store=True,
            secret=enrollment.secret,
            qr=qr_data_uri(enrollment.provisioning_uri),
            **extra,
        )

    @app.get("/account/totp", response_class=HTMLResponse)
    async def totp_form(request: Request, user: OptionalUser) -> Response:
        checked = require(request, user)
        if isinstance(checked, Response):
            return checked
        if await flow.totp_enabled(checked):
            return see_other("/account")
        return await totp_page(request, checked)

    @app.post("/account/totp/start", dependencies=CSRF)
    async def totp_start(user: CurrentUser) -> Response:
        if not await flow.totp_enabled(user):
            await flow.start_totp(user)  # keeps an enrolment already pending
        return see_other("/account/totp")

    @app.post("/account/totp", dependencies=CSRF)
    async def totp_confirm(
        request: Request, user: CurrentUser, code: Annotated[str, Form()]
    ) -> Response:
        try:
            codes = await flow.confirm_totp(user, code)
        except FlowError as exc:
            return await totp_page(request, user, http_status(exc), str(exc))
        return await page(
            request, "backup_codes.html", no_store=True, codes=codes, notice=NOTICES["totp_on"]
        )

    @app.post("/account/totp/disable", dependencies=CSRF)
    async def totp_disable(
        request: Request, user: CurrentUser, code: Annotated[str, Form()]
    ) -> Response:
        try:
            await flow.disable_totp(user, code)
        except FlowError as exc:
            return await account_page(request, user, http_status(exc), str(exc))
        return see_other("/account?notice=totp_off")

    @app.post("/account/backup-codes", dependencies=CSRF)
    async def backup_codes(
        request: Request, user: CurrentUser, code: Annotated[str, Form()]
    ) -> Response:
        try:
            ok = await flow.check_second_factor(user, code)
        except FlowError as exc:
            return await account_page(request, user, http_status(exc), str(exc))
        if not ok:
            return await account_page(request, user, 401, "That code is not valid. Try again.")
        codes = await flow.regenerate_backup_codes(user)
        return await page(request, "backup_codes.html", no_store=True, codes=codes)

    @app.post("/account/password", dependencies=CSRF)
    async def change_password(
        request: Request,
        user: CurrentUser,
        new_password: Annotated[str, Form()],
        current_password: Annotated[str, Form()] = "",
    ) -> Response:
        try:
            await flow.change_password(
                user, current_password, new_password, keep_token=await auth.session_token(request)
            )
        except FlowError as exc:
            return await account_page(request, user, http_status(exc), str(exc))
        return see_other("/account?notice=password_changed")

    @app.get("/sessions", response_class=HTMLResponse)
    async def sessions(request: Request, user: OptionalUser) -> Response:
        checked = require(request, user)
        if isinstance(checked, Response):
            return checked
        token = await auth.session_token(request)
        rows = session_rows(flow, await flow.sessions.list(checked.id), token)
        return await page(request, "sessions.html", sessions=rows)

    @app.post("/sessions/{session_id}/revoke", dependencies=CSRF)
    async def revoke_session(session_id: str, user: CurrentUser) -> Response:
        await flow.sessions.revoke_by_id(user.id, session_id)
        return see_other("/sessions?notice=session_revoked")

    @app.post("/sessions/revoke-others", dependencies=CSRF)
    async def revoke_others(request: Request, user: CurrentUser) -> Response:
        await flow.sessions.revoke_all(user.id, except_token=await auth.session_token(request))
        return see_other("/sessions?notice=sessions_revoked")

    async def keys_page(
        request: Request,
        user: User,
        status_code: int = 200,
        *,
        no_store: bool = False,
        **context: Any,
    ) -> HTMLResponse:
        keys = await flow.api_keys.list(user.id)
        return await page(
            request, "api_keys.html", status_code, no_store=no_store, keys=keys, **context
        )

    @app.get("/api-keys", response_class=HTMLResponse)
    async def api_keys(request: Request, user: OptionalUser) -> Response:
        checked = require(request, user)
        if isinstance(checked, Response):
            return checked
        return await keys_page(request, checked)

    @app.post("/api-keys", dependencies=CSRF)
    async def add_api_key(
        request: Request,
        user: CurrentUser,
        label: Annotated[str, Form()],
        provider: Annotated[str, Form()],
        key: Annotated[str, Form()],
    ) -> Response:
        try:
            await flow.api_keys.add(user.id, label=label, provider=provider, key=key)
        except auth_store.ValidationError as exc:
            return await keys_page(request, user, 400, error=str(exc))
        return see_other("/api-keys?notice=key_added")

    @app.post("/api-keys/{key_id}/reveal", dependencies=CSRF)
    async def reveal_api_key(request: Request, key_id: str, user: CurrentUser) -> Response:
        try:
            info = await flow.api_keys.get(user.id, key_id)
        except auth_store.ValidationError:  # not even a valid id: no such key either
            info = None
        if info is None:
            return await keys_page(request, user, 404, error="No such key.")
        revealed = {"label": info.label, "key": await flow.api_keys.reveal(user.id, key_id)}
        return await keys_page(request, user, no_store=True, revealed=revealed)

    @app.post("/api-keys/{key_id}/delete", dependencies=CSRF)
    async def delete_api_key(request: Request, key_id: str, user: CurrentUser) -> Response:
        try:
            await flow.api_keys.delete(user.id, key_id)
        except auth_store.ValidationError:
            return await keys_page(request, user, 404, error="No such key.")
        return see_other("/api-keys?notice=key_deleted")

    return app


def main() -> None:
    """Serve the demo on 127.0.0.1:$PORT (default 8000) and print its URL."""
    import uvicorn

    port = int(os.environ.get("PORT", "8000"))
    # Passkeys need a name, not an IP address; behind HTTPS, DEMO_BASE_URL is the public URL.
    base_url = os.environ.get("DEMO_BASE_URL") or f"http://localhost:{port}"

    async def serve() -> None:
        # The store is opened on the loop that serves the app (a Postgres pool lives there).
        async with await auth_store.connect_async() as store:
            app = create_app(store, base_url=base_url)
            print(f"auth-store demo: open {base_url}  (mail goes to {base_url}/outbox)", flush=True)
            config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
            await uvicorn.Server(config).serve()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
