"""The Flask integration: every flow through the example's pages, and the extension itself.

Flask's test client against the example app on a real SQLite file; mail goes
to a real outbox folder that the tests read back.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

import auth_store
from auth_store import clock
from auth_store.disabled import disabled_extra
from auth_store.flow import AuthFlow
from auth_store.integrations.flask import (
    FlaskAuth,
    csrf_exempt,
    current_user,
    login_required,
)
from auth_store.mail import Message, OutboxMailer
from auth_store.signing import Signer
from examples.flask_app import create_app

PASSWORD = "correct horse battery"


class Outbox(OutboxMailer):
    def last(self, to: str) -> Message:
        return [m for m in self.messages() if m.to == to][-1]


class Env:
    def __init__(self, tmp_path: Path) -> None:
        self.store = auth_store.connect(f"sqlite:///{tmp_path}/auth.db")
        self.mailer = Outbox(tmp_path / "outbox", console=None)
        self.app = create_app(
            self.store, base_url="http://localhost", data_dir=tmp_path / "demo", mailer=self.mailer
        )
        self.auth: FlaskAuth = self.app.extensions["auth_store"]

    def client(self) -> FlaskClient:
        return self.app.test_client()

    def link(self, to: str) -> tuple[str, dict[str, str]]:
        match = re.search(r"http://localhost(\S+)", self.mailer.last(to).text)
        assert match
        url = urlsplit(match.group(1))
        return url.path, {k: v[0] for k, v in parse_qs(url.query).items()}

    def sign_up(self, client: FlaskClient, email: str, password: str = PASSWORD) -> None:
        post(client, "/sign-up", "/sign-up", email=email, password=password)
        path, query = self.link(email)
        done = post(client, f"{path}?{_qs(query)}", path, **query)
        assert done.status_code == 303, done.text


def _qs(query: dict[str, str]) -> str:
    from urllib.parse import urlencode

    return urlencode(query)


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


def post(client: FlaskClient, page: str, action: str, **data: str) -> TestResponse:
    """GET ``page`` for its CSRF token, then POST the form to ``action``."""
    token = csrf_of(client.get(page).text)
    return client.post(action, data={**data, "csrf_token": token})


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    environment = Env(tmp_path)
    yield environment
    environment.store.close()


@pytest.fixture
def client(env: Env) -> FlaskClient:
    return env.client()


def test_sign_up_verify_totp_and_sign_in_with_a_code(env: Env, client: FlaskClient) -> None:
    response = post(client, "/sign-up", "/sign-up", email="ann@example.com", password=PASSWORD)
    assert "Check your inbox" in response.text
    # Not verified yet: the password does not sign in.
    early = post(client, "/sign-in", "/sign-in", email="ann@example.com", password=PASSWORD)
    assert early.status_code == 403

    path, query = env.link("ann@example.com")
    confirm = client.get(path, query_string=query)
    assert 'id="confirm"' in confirm.text
    done = client.post(path, data={**query, "csrf_token": csrf_of(confirm.text)})
    assert done.status_code == 303
    assert done.headers["Location"] == "/account"
    account = client.get("/account")
    assert 'id="account-email">ann@example.com<' in account.text

    start = client.get("/account/totp")
    assert 'id="start-totp"' in start.text  # a GET makes no secret
    enrol = client.post(
        "/account/totp/start", data={"csrf_token": csrf_of(start.text)}, follow_redirects=True
    )
    assert "data:image/svg+xml;base64," in enrol.text
    match = re.search(r'id="totp-secret">([A-Z2-7]+)<', enrol.text)
    assert match
    secret = match.group(1)
    codes = client.post(
        "/account/totp", data={"code": pyotp.TOTP(secret).now(), "csrf_token": csrf_of(enrol.text)}
    )
    backup = re.findall(r"<li>([0-9a-z-]{14})</li>", codes.text)
    assert len(backup) == 10

    signed_out = post(client, "/account", "/sign-out")
    assert signed_out.headers["Location"] == "/?notice=signed_out"
    assert client.get("/account").status_code == 302

    first = post(client, "/sign-in", "/sign-in", email="ann@example.com", password=PASSWORD)
    assert first.headers["Location"] == "/second-step"
    wrong = post(client, "/second-step", "/second-step", code="000000")
    assert wrong.status_code == 401
    assert "not valid" in wrong.text
    code = pyotp.TOTP(secret).at(time.time() + 30)
    finished = post(client, "/second-step", "/second-step", code=code)
    assert finished.headers["Location"] == "/account"
    assert "On: sign-in asks for a code" in client.get("/account").text

    # A backup code signs in on another browser, once.
    laptop = env.client()
    post(laptop, "/sign-in", "/sign-in", email="ann@example.com", password=PASSWORD)
    assert post(laptop, "/second-step", "/second-step", code=backup[0]).status_code == 303
    phone = env.client()
    post(phone, "/sign-in", "/sign-in", email="ann@example.com", password=PASSWORD)
    assert post(phone, "/second-step", "/second-step", code=backup[0]).status_code == 401
    assert "9 backup code(s) left" in client.get("/account").text


def test_second_step_without_a_first_step_goes_back(client: FlaskClient) -> None:
    response = client.get("/second-step")
    assert response.headers["Location"] == "/sign-in"


def test_magic_link_confirm_step(env: Env, client: FlaskClient) -> None:
    response = post(client, "/magic-link", "/magic-link", email="new@example.com")
    assert "Check your inbox" in response.text
    path, query = env.link("new@example.com")
    for _ in range(3):  # a scanner opening the link spends nothing
        confirm = client.get(path, query_string=query)
    done = client.post(path, data={**query, "csrf_token": csrf_of(confirm.text)})
    assert done.status_code == 303
    assert "new@example.com" in client.get("/account").text
    # Signing in rotated the CSRF cookie: the old page's token is dead.
    stale = client.post(path, data={**query, "csrf_token": csrf_of(confirm.text)})
    assert stale.status_code == 400
    confirm = client.get(path, query_string=query)
    again = client.post(path, data={**query, "csrf_token": csrf_of(confirm.text)})
    assert "did not work" in again.text


def test_password_reset_pages(env: Env, client: FlaskClient) -> None:
    env.sign_up(client, "ann@example.com")
    stranger = env.client()
    post(stranger, "/reset-password", "/reset-password", email="ann@example.com")
    path, query = env.link("ann@example.com")
    form = stranger.get(path, query_string=query)
    assert 'name="new_password"' in form.text
    done = stranger.post(
        path, data={**query, "new_password": "brand new pass", "csrf_token": csrf_of(form.text)}
    )
    assert done.headers["Location"] == "/sign-in?notice=password_reset"
    assert client.get("/account").status_code == 302  # signed out everywhere
    signed = post(stranger, "/sign-in", "/sign-in", email="ann@example.com", password=PASSWORD)
    assert signed.status_code == 401
    signed = post(
        stranger, "/sign-in", "/sign-in", email="ann@example.com", password="brand new pass"
    )
    assert signed.headers["Location"] == "/account"


def test_change_password_and_sessions_page(env: Env, client: FlaskClient) -> None:
    env.sign_up(client, "ann@example.com")
    laptop = env.client()
    post(laptop, "/sign-in", "/sign-in", email="ann@example.com", password=PASSWORD)
    sessions = client.get("/sessions")
    assert sessions.text.count("data-session-id=") == 2
    assert "(this browser)" in sessions.text
    other = re.search(r'action="/sessions/([^/]+)/revoke"', sessions.text)
    assert other
    revoked = post(client, "/sessions", f"/sessions/{other.group(1)}/revoke")
    assert revoked.headers["Location"] == "/sessions?notice=session_revoked"
    assert laptop.get("/account").status_code == 302

    post(laptop, "/sign-in", "/sign-in", email="ann@example.com", password=PASSWORD)
    wrong = post(
        client, "/account", "/account/password", current_password="x" * 9, new_password="n" * 10
    )
    assert wrong.status_code == 401
    changed = post(
        client, "/account", "/account/password", current_password=PASSWORD, new_password="n" * 10
    )
    assert changed.headers["Location"] == "/account?notice=password_changed"
    assert client.get("/account").status_code == 200
    assert laptop.get("/account").status_code == 302


def test_api_keys_page(env: Env, client: FlaskClient) -> None:
    env.sign_up(client, "ann@example.com")
    key = "sk-live-" + "q" * 24 + "WXYZ"
    post(client, "/api-keys", "/api-keys", label="work", provider="openai", key=key)
    page = client.get("/api-keys")
    assert "WXYZ" in page.text
    assert key not in page.text
    key_id = re.search(r'action="/api-keys/([^/]+)/reveal"', page.text)
    assert key_id
    revealed = post(client, "/api-keys", f"/api-keys/{key_id.group(1)}/reveal")
    assert f'id="revealed-key">{key}<' in revealed.text
    post(client, "/api-keys", f"/api-keys/{key_id.group(1)}/delete")
    assert "No keys yet." in client.get("/api-keys").text


BAD_KEY_IDS = {"space": "a b", "dots": "..", "path": "../x", "long": "k" * 200, "accent": "ké"}


@pytest.mark.parametrize("key_id", BAD_KEY_IDS.values(), ids=BAD_KEY_IDS.keys())
def test_api_key_pages_answer_404_for_an_invalid_id(
    env: Env, client: FlaskClient, key_id: str
) -> None:
    env.sign_up(client, "ann@example.com")
    post(client, "/api-keys", "/api-keys", label="work", provider="openai", key="k" * 20)
    for action in ("reveal", "delete"):
        response = post(client, "/api-keys", f"/api-keys/{quote(key_id, safe='')}/{action}")
        assert response.status_code == 404, (action, response.text)
    assert client.get("/api-keys").text.count('/reveal"') == 1


# -- the extension on its own -------------------------------------------------------


def small_app(tmp_path: Path, **config: object) -> tuple[Flask, AuthFlow]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    store = auth_store.connect(f"sqlite:///{tmp_path}/own.db")
    flow = AuthFlow(
        store,
        signer=Signer("k" * 40),
        mailer=OutboxMailer(tmp_path / "out", console=None),
        base_url="http://localhost",
    )
    app = Flask(__name__)
    app.config.update(config)
    auth = FlaskAuth(app, flow=flow)

    @app.get("/private")
    @login_required
    def private() -> str:
        return f"hello {current_user.email if current_user else ''}"

    @app.get("/login")
    def login() -> str:
        return "login page"

    @app.post("/as/<email>")
    def sign_in_as(email: str) -> str:
        user = flow.adapter.get_user_by_email(email) or flow.adapter.create_user(
            auth_store.User(email=email)
        )
        assert auth.apply(flow.sign_in_user(user, previous_token=auth.session_token))
        return "ok"

    @app.post("/hook")
    @csrf_exempt
    def hook() -> str:
        return "no csrf needed"

    @app.post("/form")
    def form() -> str:
        return "posted"

    return app, flow


def test_login_required_gives_401_or_redirects(tmp_path: Path) -> None:
    app, _ = small_app(tmp_path, AUTH_STORE_CSRF=False)
    client = app.test_client()
    assert client.get("/private").status_code == 401
    client.post("/as/ann@example.com")
    assert client.get("/private").text == "hello ann@example.com"

    redirecting, _ = small_app(tmp_path / "two", AUTH_STORE_LOGIN_VIEW="login")
    response = redirecting.test_client().get("/private?x=1")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/private?x%3D1"


def test_a_disabled_users_session_is_signed_out(tmp_path: Path) -> None:
    app, flow = small_app(tmp_path, AUTH_STORE_CSRF=False)
    client = app.test_client()
    client.post("/as/ann@example.com")
    assert client.get("/private").text == "hello ann@example.com"
    ann = flow.adapter.get_user_by_email("ann@example.com")
    assert ann is not None
    assert ann.id is not None
    flow.adapter.update_user(ann.id, extra=disabled_extra(ann))  # the flag alone
    response = client.get("/private")  # login_required, current_user
    assert response.status_code == 401
    assert any(c.startswith("auth_store_session=;") for c in response.headers.getlist("Set-Cookie"))
    assert flow.adapter.list_sessions(ann.id) == []


def test_csrf_is_required_unless_exempt(tmp_path: Path) -> None:
    app, _ = small_app(tmp_path)
    client = app.test_client()
    assert client.post("/form").status_code == 400
    assert client.post("/form", data={"csrf_token": "forged"}).status_code == 400
    assert client.post("/hook").text == "no csrf needed"


def test_sliding_expiry_resends_the_cookie(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    moment = [datetime(2030, 1, 1, tzinfo=UTC)]
    monkeypatch.setattr(clock, "now", lambda: moment[0])
    app, _ = small_app(tmp_path, AUTH_STORE_CSRF=False)
    client = app.test_client()
    client.post("/as/ann@example.com")
    moment[0] += timedelta(hours=2)
    quiet = client.get("/private")
    assert "auth_store_session" not in str(quiet.headers.getlist("Set-Cookie"))
    moment[0] += timedelta(days=2)
    refreshed = client.get("/private")
    [cookie] = [c for c in refreshed.headers.getlist("Set-Cookie") if "auth_store_session" in c]
    assert "Max-Age=2592000" in cookie
    moment[0] += timedelta(days=29)
    assert client.get("/private").status_code == 200  # the slid expiry holds
    moment[0] += timedelta(days=31)
    gone = client.get("/private")
    assert gone.status_code == 401
    assert any(c.startswith("auth_store_session=;") for c in gone.headers.getlist("Set-Cookie"))


def test_a_forged_session_cookie_is_cleared(tmp_path: Path) -> None:
    app, _ = small_app(tmp_path, AUTH_STORE_CSRF=False)
    client = app.test_client()
    client.set_cookie("auth_store_session", "made-up.value")
    response = client.get("/private")
    assert response.status_code == 401
    assert any(c.startswith("auth_store_session=;") for c in response.headers.getlist("Set-Cookie"))
