"""The Flask example: the same site as ``fastapi_app.py``, on ``FlaskAuth``.

Run it and open the printed URL::

    python examples/flask_app.py              # PORT=5000, store from AUTH_STORE_URL

It shares the templates in ``examples/templates`` with the FastAPI example:
sign up, sign in (password or passkey), the second step (code or passkey),
TOTP enrolment with a QR code, backup codes, passkeys, magic links, password
reset and change, sessions, API keys, /outbox. The passkey and OAuth
endpoints are ``passkeys_blueprint()`` and ``oauth_blueprint()`` under
/api/auth (as in the FastAPI example: errors there are JSON, elsewhere
pages); open the printed http://localhost URL. Behind HTTPS, set
``DEMO_BASE_URL`` (cookies are then ``Secure``) and ``DEMO_TRUSTED_PROXIES``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make ``examples`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask import Flask, abort, make_response, redirect, render_template, request
from werkzeug.wrappers import Response

import auth_store
from auth_store.errors import as_sentence
from auth_store.flow import AuthFlow, FlowError, SecondFactorMethod, SignInResult
from auth_store.integrations.common import CookieSettings, WebPages, safe_next
from auth_store.integrations.errors import http_status
from auth_store.integrations.flask import (
    FlaskAuth,
    get_current_user,
    login_required,
    oauth_blueprint,
)
from auth_store.integrations.flask_passkeys import passkeys_blueprint
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

#: Where the JSON endpoints (passkeys) and the OAuth routes live.
API = "/api/auth"


def create_app(
    store: auth_store.Adapter | None = None,
    *,
    base_url: str = "http://localhost:5000",
    data_dir: str | Path = ".auth-store-demo",
    secure_cookies: bool | None = None,
    mailer: Mailer | None = None,
    providers: tuple[OAuthProvider, ...] = (),
) -> Flask:
    """The demo app on ``store`` (default: ``auth_store.connect()``).

    ``secure_cookies``: ``None`` reads ``DEMO_SECURE_COOKIES``, else on exactly
    when ``base_url`` is https (see ``examples.demo_support``).
    """
    store = store if store is not None else auth_store.connect()
    demo = build_demo(
        store, flow_class=AuthFlow, base_url=base_url, data_dir=data_dir, mailer=mailer
    )
    flow = demo.flow
    app = Flask(
        __name__,
        template_folder=str(TEMPLATES),
        static_folder=str(STATIC),
        static_url_path="/static",
    )
    app.config["AUTH_STORE_LOGIN_VIEW"] = "sign_in_form"
    secure = secure_cookies if secure_cookies is not None else cookies_secure_by_default(base_url)

    def error_page(status_code: int, text: str) -> Response:
        heading, text = error_texts(status_code, text)
        html, _, headers = page(
            "error.html", status_code, heading=heading, text=text, status=status_code
        )
        return make_response(html, status_code, headers)

    auth = FlaskAuth(
        app,
        flow=flow,
        cookies=CookieSettings(secure=secure),
        error_page=error_page,
        api_prefix=API,
        trusted_proxies=trusted_proxies(),
    )

    @app.after_request
    def security_headers(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    if providers:
        pages = WebPages(after_sign_in="/account", second_step="/second-step", sign_in="/sign-in")
        app.register_blueprint(
            oauth_blueprint(OAuthService(flow, providers), url_prefix=API, pages=pages)
        )
    if flow.passkeys_available:
        app.register_blueprint(passkeys_blueprint(url_prefix=API))
    app.extensions["demo"] = demo

    def page(
        template: str, status_code: int = 200, *, no_store: bool = False, **context: Any
    ) -> tuple[str, int, dict[str, str]]:
        if context.get("error"):
            context["error"] = as_sentence(str(context["error"]))
        headers = {**SECURITY_HEADERS, **(NO_STORE if no_store else {})}
        base = {
            "app_name": APP_NAME,
            "user": get_current_user(),
            "outbox_enabled": demo.outbox_page,
            "providers": [p.name for p in providers],
            "oauth_base": API,
            "passkeys": flow.passkeys_available,
            "passkeys_off": demo.passkeys_off,
            "passkey_api": API,
            "notice": NOTICES.get(request.args.get("notice", "")),
            "error": ERRORS.get(request.args.get("error", "")),
        }
        return render_template(template, **{**base, **context}), status_code, headers

    def message(heading: str, text: str) -> tuple[str, int, dict[str, str]]:
        return page("message.html", heading=heading, text=text)

    def user() -> User:
        found = get_current_user()
        assert found is not None  # behind @login_required
        return found

    def after_first_factor(result: SignInResult, next_url: str = "/account") -> Response:
        if auth.apply(result):
            return redirect(safe_next(next_url, "/account"), 303)
        return redirect("/second-step", 303)

    # -- public pages --------------------------------------------------------

    @app.get("/")
    def index() -> Any:
        return page("index.html")

    @app.get("/sign-up")
    def sign_up_form() -> Any:
        return page("sign_up.html")

    @app.post("/sign-up")
    def sign_up() -> Any:
        form = request.form
        try:
            text = flow.sign_up(form["email"], form["password"], name=form.get("name") or None)
        except FlowError as exc:
            return page("sign_up.html", 400, error=str(exc), email=form["email"])
        return message("Check your inbox", text)

    @app.get("/sign-in")
    def sign_in_form() -> Any:
        return page("sign_in.html", next=safe_next(request.args.get("next"), ""))

    @app.post("/sign-in")
    def sign_in() -> Any:
        form = request.form
        try:
            result = flow.sign_in_password(
                form["email"],
                form["password"],
                previous_token=auth.session_token,
                client=auth.client,
            )
        except FlowError as exc:
            return page(
                "sign_in.html",
                http_status(exc),
                error=str(exc),
                email=form["email"],
                next=form.get("next"),
            )
        return after_first_factor(result, form.get("next") or "/account")

    def passkey_offered() -> bool:
        try:
            return SecondFactorMethod.PASSKEY in flow.pending_methods(auth.pending)
        except FlowError:
            return False

    @app.get("/second-step")
    def second_step_form() -> Any:
        if not auth.pending:
            return redirect("/sign-in", 303)
        return page("second_step.html", passkey_offered=passkey_offered())

    @app.post("/second-step")
    def second_step() -> Any:
        try:
            result = flow.verify_second_factor(
                auth.pending,
                request.form["code"],
                previous_token=auth.session_token,
                client=auth.client,
            )
        except FlowError as exc:
            offered = passkey_offered()
            return page(
                "second_step.html", http_status(exc), error=str(exc), passkey_offered=offered
            )
        auth.login(result)
        return redirect("/account", 303)

    @app.post("/sign-out")
    def sign_out() -> Any:
        auth.logout()
        return redirect("/?notice=signed_out", 303)

    @app.get("/magic-link")
    def magic_link_form() -> Any:
        return page("magic_link.html")

    @app.post("/magic-link")
    def magic_link() -> Any:
        return message("Check your inbox", flow.request_magic_link(request.form["email"]))

    # The links in e-mails: GET shows a button, POST spends the token.
    @app.get(flow.paths.magic_link)
    def magic_link_confirm() -> Any:
        return page(
            "confirm.html",
            heading="Sign in",
            text="Press the button to sign in.",
            button="Sign in",
            action=flow.paths.magic_link,
            email=request.args.get("email", ""),
            token=request.args.get("token", ""),
        )

    @app.post(flow.paths.magic_link)
    def magic_link_consume() -> Any:
        form = request.form
        try:
            result = flow.sign_in_magic_link(
                form["email"], form["token"], previous_token=auth.session_token, client=auth.client
            )
        except FlowError as exc:
            return message("This link did not work", str(exc))
        return after_first_factor(result)

    @app.get(flow.paths.verify_email)
    def verify_email_confirm() -> Any:
        return page(
            "confirm.html",
            heading="Verify your address",
            text="Press the button to verify your address and sign in.",
            button="Verify",
            action=flow.paths.verify_email,
            email=request.args.get("email", ""),
            token=request.args.get("token", ""),
        )

    @app.post(flow.paths.verify_email)
    def verify_email() -> Any:
        form = request.form
        try:
            result = flow.verify_email(
                form["email"], form["token"], previous_token=auth.session_token, client=auth.client
            )
        except FlowError as exc:
            return message("This link did not work", str(exc))
        return after_first_factor(result)

    @app.get("/reset-password")
    def reset_request_form() -> Any:
        return page("reset_request.html")

    @app.post("/reset-password")
    def reset_request() -> Any:
        return message("Check your inbox", flow.request_password_reset(request.form["email"]))

    @app.get(flow.paths.reset_password)
    def reset_form() -> Any:
        return page(
            "reset_password.html",
            action=flow.paths.reset_password,
            email=request.args.get("email", ""),
            token=request.args.get("token", ""),
        )

    @app.post(flow.paths.reset_password)
    def reset() -> Any:
        form = request.form
        try:
            flow.reset_password(form["email"], form["token"], form["new_password"])
        except FlowError as exc:
            return page(
                "reset_password.html",
                400,
                error=str(exc),
                action=flow.paths.reset_password,
                email=form["email"],
                token=form["token"],
            )
        return redirect("/sign-in?notice=password_reset", 303)

    @app.get("/outbox")
    def outbox() -> Any:
        if not demo.outbox_page:  # a development tool: only while the demo runs on localhost
            abort(404)
        messages = demo.outbox_messages()
        return page("outbox.html", messages=list(reversed(messages)))

    # -- signed-in pages -------------------------------------------------------

    def account_page(
        status_code: int = 200, error: str | None = None
    ) -> tuple[str, int, dict[str, str]]:
        me = user()
        enabled = flow.totp_enabled(me)
        extra: dict[str, Any] = {"error": error} if error else {}
        return page(
            "account.html",
            status_code,
            totp_enabled=enabled,
            backup_remaining=flow.backup_codes.remaining(me.id) if enabled else 0,
            has_password=flow.passwords.has_password(me.id),
            passkey_list=flow.passkeys.list(me) if flow.passkeys_available else [],
            **extra,
        )

    @app.get("/account")
    @login_required
    def account() -> Any:
        return account_page()

    @app.post("/account/verify-email")
    @login_required
    def resend_verification() -> Any:
        flow.request_email_verification(user())
        return redirect("/account?notice=verification_sent", 303)

    def totp_page(status_code: int = 200, error: str | None = None) -> Any:
        # Shows the pending enrolment (the same key until it is confirmed or
        # expires), or a button to start one: a GET never makes a secret.
        enrollment = flow.totp_enrollment(user())
        extra: dict[str, Any] = {"error": error} if error else {}
        if enrollment is None:
            return page("totp_enroll.html", status_code, **extra)
        return page(
            "totp_enroll.html",
            status_code,
            no_store=True,
            secret=enrollment.secret,
            qr=qr_data_uri(enrollment.provisioning_uri),
            **extra,
        )

    @app.get("/account/totp")
    @login_required
    def totp_form() -> Any:
        if flow.totp_enabled(user()):
            return redirect("/account", 303)
        return totp_page()

    @app.post("/account/totp/start")
    @login_required
    def totp_start() -> Any:
        if not flow.totp_enabled(user()):
            flow.start_totp(user())  # keeps an enrolment already pending
        return redirect("/account/totp", 303)

    @app.post("/account/totp")
    @login_required
    def totp_confirm() -> Any:
        try:
            codes = flow.confirm_totp(user(), request.form["code"])
        except FlowError as exc:
            return totp_page(http_status(exc), str(exc))
        return page("backup_codes.html", no_store=True, codes=codes, notice=NOTICES["totp_on"])

    @app.post("/account/totp/disable")
    @login_required
    def totp_disable() -> Any:
        try:
            flow.disable_totp(user(), request.form["code"])
        except FlowError as exc:
            return account_page(http_status(exc), str(exc))
        return redirect("/account?notice=totp_off", 303)

    @app.post("/account/backup-codes")
    @login_required
    def backup_codes() -> Any:
        try:
            ok = flow.check_second_factor(user(), request.form["code"])
        except FlowError as exc:
            return account_page(http_status(exc), str(exc))
        if not ok:
            return account_page(401, "That code is not valid. Try again.")
        return page("backup_codes.html", no_store=True, codes=flow.regenerate_backup_codes(user()))

    @app.post("/account/password")
    @login_required
    def change_password() -> Any:
        form = request.form
        try:
            flow.change_password(
                user(),
                form.get("current_password", ""),
                form["new_password"],
                keep_token=auth.session_token,
            )
        except FlowError as exc:
            return account_page(http_status(exc), str(exc))
        return redirect("/account?notice=password_changed", 303)

    @app.get("/sessions")
    @login_required
    def sessions() -> Any:
        rows = session_rows(flow, flow.sessions.list(user().id), auth.session_token)
        return page("sessions.html", sessions=rows)

    @app.post("/sessions/<session_id>/revoke")
    @login_required
    def revoke_session(session_id: str) -> Any:
        flow.sessions.revoke_by_id(user().id, session_id)
        return redirect("/sessions?notice=session_revoked", 303)

    @app.post("/sessions/revoke-others")
    @login_required
    def revoke_others() -> Any:
        flow.sessions.revoke_all(user().id, except_token=auth.session_token)
        return redirect("/sessions?notice=sessions_revoked", 303)

    def keys_page(
        status_code: int = 200, *, no_store: bool = False, **context: Any
    ) -> tuple[str, int, dict[str, str]]:
        keys = flow.api_keys.list(user().id)
        return page("api_keys.html", status_code, no_store=no_store, keys=keys, **context)

    @app.get("/api-keys")
    @login_required
    def api_keys() -> Any:
        return keys_page()

    @app.post("/api-keys")
    @login_required
    def add_api_key() -> Any:
        form = request.form
        try:
            flow.api_keys.add(
                user().id, label=form["label"], provider=form["provider"], key=form["key"]
            )
        except auth_store.ValidationError as exc:
            return keys_page(400, error=str(exc))
        return redirect("/api-keys?notice=key_added", 303)

    @app.post("/api-keys/<key_id>/reveal")
    @login_required
    def reveal_api_key(key_id: str) -> Any:
        try:
            info = flow.api_keys.get(user().id, key_id)
        except auth_store.ValidationError:  # not even a valid id: no such key either
            info = None
        if info is None:
            return keys_page(404, error="No such key.")
        revealed = {"label": info.label, "key": flow.api_keys.reveal(user().id, key_id)}
        return keys_page(no_store=True, revealed=revealed)

    @app.post("/api-keys/<key_id>/delete")
    @login_required
    def delete_api_key(key_id: str) -> Any:
        try:
            flow.api_keys.delete(user().id, key_id)
        except auth_store.ValidationError:
            return keys_page(404, error="No such key.")
        return redirect("/api-keys?notice=key_deleted", 303)

    return app


def main() -> None:
    """Serve the demo on 127.0.0.1:$PORT (default 5000) with Flask's development server."""
    port = int(os.environ.get("PORT", "5000"))
    # Passkeys need a name, not an IP address; behind HTTPS, DEMO_BASE_URL is the public URL.
    base_url = os.environ.get("DEMO_BASE_URL") or f"http://localhost:{port}"
    app = create_app(base_url=base_url)
    print(f"auth-store Flask demo: open {base_url}  (mail goes to {base_url}/outbox)", flush=True)
    app.run(host="127.0.0.1", port=port)


if __name__ == "__main__":
    main()
