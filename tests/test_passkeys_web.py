"""The passkey endpoints of both integrations, over HTTP, on both example apps.

Each test runs against the FastAPI example (``/api/auth``, Starlette's
TestClient) and the Flask one (``/auth``, Flask's test client) on a real
SQLite file; the JSON endpoints are driven as the browser script drives
them, with the software authenticator in ``tests/soft_authenticator.py``
making real keys and real WebAuthn messages. One test runs the whole JSON
flow on every backend.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pyotp
import pytest
from fastapi.testclient import TestClient

import auth_store
from auth_store.adapter import Adapter
from auth_store.disabled import disabled_extra
from auth_store.flow import AuthFlow
from auth_store.integrations.passkey_web import MAX_BODY_BYTES, SCRIPT
from auth_store.mail import MemoryMailer
from auth_store.models import User
from auth_store.testing import stores
from examples.fastapi_app import create_app as create_fastapi_app
from examples.flask_app import create_app as create_flask_app
from tests.soft_authenticator import SoftAuthenticator
from tests.sync_flow import sync_twin_of

PASSWORD = "correct horse battery"
BASE_URL = "http://localhost"
ORIGIN = "http://localhost"
PREFIX = {"fastapi": "/api/auth", "flask": "/api/auth"}


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    cookies: list[str] = field(default_factory=list)

    @property
    def code(self) -> str | None:
        return self.body.get("code") if isinstance(self.body, dict) else None


class Site:
    """One of the example apps on its own store, with passkeys on (``http://localhost``)."""

    def __init__(self, kind: str, store: Adapter, tmp_path: Path, base_url: str = BASE_URL):
        self.kind = kind
        self.store = store
        self.api = PREFIX[kind]
        self.mailer = MemoryMailer()
        options: dict[str, Any] = {
            "base_url": base_url,
            "data_dir": tmp_path / "demo",
            "mailer": self.mailer,
        }
        if kind == "flask":
            self.app: Any = create_flask_app(store, **options)
            self.flow: AuthFlow = self.app.extensions["auth_store"].flow
        else:
            self.app = create_fastapi_app(store, **options)
            self.flow = sync_twin_of(self.app.state.auth_store.flow, store, self.mailer)

    def browser(self) -> Browser:
        return Browser(self)

    def user(self, email: str = "ann@example.com", *, password: bool = True) -> User:
        user = self.store.create_user(User(email=email, email_verified=auth_store.clock.now()))
        if password:
            self.flow.passwords.set_password(user.id, PASSWORD)
        return user

    def enable_totp(self, user: User) -> str:
        secret = self.flow.start_totp(user).secret
        self.flow.confirm_totp(user, pyotp.TOTP(secret).now())
        return secret


class Browser:
    """A cookie jar on one site that speaks JSON to the API (sending the CSRF header)."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.api = site.api
        if site.kind == "flask":
            self.flask = site.app.test_client()
        else:
            self.starlette = TestClient(site.app, base_url=BASE_URL, follow_redirects=False)

    def call(
        self,
        method: str,
        path: str,
        body: object = None,
        *,
        content: bytes | None = None,
        content_type: str = "application/json",
        csrf: str | bool = True,
    ) -> Answer:
        """``method`` on ``<api><path>``: JSON ``body`` (or raw ``content``), CSRF header."""
        headers = {"Accept": "application/json"}
        if csrf is True:
            headers["X-CSRF-Token"] = self.csrf_token()
        elif csrf:
            headers["X-CSRF-Token"] = csrf
        data = content if content is not None else (b"" if body is None else json.dumps(body))
        if method != "GET":
            headers["Content-Type"] = content_type
        return self.raw(method, self.api + path, data, headers)

    def raw(self, method: str, url: str, data: bytes | str, headers: dict[str, str]) -> Answer:
        if self.site.kind == "flask":
            response = self.flask.open(url, method=method, data=data, headers=headers)
            body = response.get_json(silent=True)
            if body is None and response.data:
                body = response.get_data(as_text=True)
            response.close()  # a file response holds the file open until closed
            return Answer(
                response.status_code,
                body,
                {k.lower(): v for k, v in response.headers.items()},
                response.headers.getlist("Set-Cookie"),
            )
        answer = self.starlette.request(method, url, content=data or None, headers=headers)
        try:
            parsed: Any = answer.json()
        except ValueError:
            parsed = answer.text
        return Answer(
            answer.status_code,
            parsed,
            {k.lower(): v for k, v in answer.headers.items()},
            answer.headers.get_list("set-cookie"),
        )

    def csrf_token(self) -> str:
        answer = self.call("GET", "/csrf", csrf=False)
        assert answer.status == 200, answer
        token: str = answer.body["csrf_token"]
        return token

    def page(self, path: str) -> tuple[int, str]:
        if self.site.kind == "flask":
            response = self.flask.get(path)
            return response.status_code, response.get_data(as_text=True)
        answer = self.starlette.get(path)
        return answer.status_code, answer.text

    def form(self, path: str, page: str, data: dict[str, str]) -> int:
        """Post an HTML form of ``page`` (with the CSRF token rendered in it)."""
        _, html = self.page(page)
        match = re.search(r'name="csrf_token" value="([^"]+)"', html)
        assert match, html
        fields = {**data, "csrf_token": match.group(1)}
        if self.site.kind == "flask":
            status: int = self.flask.post(path, data=fields).status_code
            return status
        return self.starlette.post(path, data=fields).status_code

    def cookie(self, name: str) -> str | None:
        if self.site.kind == "flask":
            found = self.flask.get_cookie(name)
            return found.value if found is not None else None
        value: str | None = self.starlette.cookies.get(name)
        return value

    def set_cookie(self, name: str, value: str) -> None:
        if self.site.kind == "flask":
            self.flask.set_cookie(name, value)
        else:
            self.starlette.cookies.set(name, value, domain="localhost.local")

    # -- what the page script does ---------------------------------------------------

    def sign_in_password(self, email: str = "ann@example.com") -> int:
        return self.form("/sign-in", "/sign-in", {"email": email, "password": PASSWORD})

    def signed_in_as(self) -> str | None:
        status, html = self.page("/account")
        if status != 200:
            return None
        match = re.search(r'id="account-email">([^<]+)<', html)
        return match.group(1) if match else None

    def sign_out(self) -> None:
        assert self.form("/sign-out", "/account", {}) == 303

    def register(self, device: SoftAuthenticator, name: str | None = None) -> Answer:
        options = self.call("POST", "/passkeys/register/options", {})
        assert options.status == 200, options
        response = device.create(options.body, origin=ORIGIN)
        query = f"?name={quote(name)}" if name else ""
        return self.call("POST", f"/passkeys/register{query}", response)

    def options(self, path: str, body: object = None) -> dict[str, Any]:
        answer = self.call("POST", path, {} if body is None else body)
        assert answer.status == 200, answer
        options: dict[str, Any] = answer.body
        return options

    def passkey_sign_in(
        self, device: SoftAuthenticator, *, conditional: bool = False, **get: Any
    ) -> Answer:
        body = {"conditional": True} if conditional else {}
        options = self.options("/passkeys/sign-in/options", body)
        query = "?mediation=conditional" if conditional else ""
        return self.call(
            "POST", f"/passkeys/sign-in{query}", device.get(options, origin=ORIGIN, **get)
        )

    def reauthenticate(self, device: SoftAuthenticator) -> Answer:
        options = self.options("/passkeys/reauthenticate/options")
        return self.call("POST", "/passkeys/reauthenticate", device.get(options, origin=ORIGIN))


@pytest.fixture(params=["fastapi", "flask"])
def site(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Site]:
    store = auth_store.connect(f"sqlite:///{tmp_path}/auth.db")
    try:
        yield Site(request.param, store, tmp_path)
    finally:
        store.close()


@pytest.fixture
def ann(site: Site) -> User:
    return site.user()


@pytest.fixture
def browser(site: Site, ann: User) -> Browser:
    """A browser signed in as Ann (by password)."""
    made = site.browser()
    assert made.sign_in_password() == 303
    return made


def registered(browser: Browser, name: str | None = "Laptop") -> SoftAuthenticator:
    device = SoftAuthenticator()
    answer = browser.register(device, name)
    assert answer.status == 201, answer
    return device


# -- the whole round ---------------------------------------------------------------------


def test_register_sign_out_and_sign_in_without_a_name(site: Site, browser: Browser) -> None:
    device = SoftAuthenticator()
    answer = browser.register(device, "Work laptop")
    assert answer.status == 201, answer
    assert answer.body["name"] == "Work laptop"
    assert answer.body["device_type"] == "multiDevice"
    assert set(answer.body) == {
        "id",
        "name",
        "created_at",
        "last_used_at",
        "device_type",
        "backed_up",
        "transports",
    }
    assert browser.cookie("auth_store_passkey") is None  # spent: cleared
    listed = browser.call("GET", "/passkeys", csrf=False)
    assert listed.status == 200
    assert [p["name"] for p in listed.body] == ["Work laptop"]
    assert site.store.counts()["authenticators"] == 1

    browser.sign_out()
    assert browser.signed_in_as() is None
    signed = browser.passkey_sign_in(device)
    assert signed.status == 200, signed
    assert signed.body["status"] == "signed_in"
    assert signed.body["user"]["email"] == "ann@example.com"
    assert set(signed.body["user"]) == {"id", "email", "email_verified", "name", "image"}
    assert browser.signed_in_as() == "ann@example.com"
    session_cookie = next(c for c in signed.cookies if c.startswith("auth_store_session="))
    assert "HttpOnly" in session_cookie
    assert browser.call("GET", "/passkeys", csrf=False).body[0]["last_used_at"] is not None


def test_the_options_are_webauthn_json(site: Site, browser: Browser) -> None:
    registered(browser)
    creation = browser.options("/passkeys/register/options")
    assert creation["rp"] == {"id": "localhost", "name": "auth-store demo"}
    assert creation["user"]["name"] == "ann@example.com"
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", creation["challenge"])  # 32 bytes, base64url
    assert len(creation["excludeCredentials"]) == 1  # Ann's passkey
    set_cookie = browser.call("POST", "/passkeys/register/options", {}).cookies
    state = next(c for c in set_cookie if c.startswith("auth_store_passkey="))
    assert "Max-Age=300" in state
    assert "HttpOnly" in state
    assert "samesite=lax" in state.lower()
    platform = browser.options(
        "/passkeys/register/options", {"authenticator_attachment": "platform"}
    )
    assert platform["authenticatorSelection"]["authenticatorAttachment"] == "platform"
    request = browser.options("/passkeys/sign-in/options")
    assert request["rpId"] == "localhost"
    assert request["allowCredentials"] == []
    by_email = browser.options("/passkeys/sign-in/options", {"email": "ann@example.com"})
    assert len(by_email["allowCredentials"]) == 1


def test_autofill_and_a_button_keep_their_challenges_apart(site: Site, browser: Browser) -> None:
    device = registered(browser)
    browser.sign_out()
    # The page starts the autofill sign-in, then the person presses the button.
    autofill = browser.options("/passkeys/sign-in/options", {"conditional": True})
    button = browser.options("/passkeys/sign-in/options", {})
    assert browser.cookie("auth_store_passkey_autofill") is not None
    assert browser.cookie("auth_store_passkey") is not None
    # Each answer is verified against its own cookie, whichever comes back first.
    first = browser.call("POST", "/passkeys/sign-in", device.get(button, origin=ORIGIN))
    assert first.body["status"] == "signed_in", first
    browser.sign_out()
    second = browser.call(
        "POST", "/passkeys/sign-in?mediation=conditional", device.get(autofill, origin=ORIGIN)
    )
    assert second.body["status"] == "signed_in", second
    # An answer to the autofill's challenge does not pass with the button's cookie.
    browser.sign_out()
    again = browser.options("/passkeys/sign-in/options", {"conditional": True})
    wrong = browser.call("POST", "/passkeys/sign-in", device.get(again, origin=ORIGIN))
    assert wrong.status == 401
    assert wrong.code == "passkey_challenge_invalid"
    odd = browser.call("POST", "/passkeys/sign-in?mediation=sideways", {})
    assert odd.status == 400


def test_sign_in_with_an_email(site: Site, browser: Browser) -> None:
    device = registered(browser)
    browser.sign_out()
    options = browser.options("/passkeys/sign-in/options", {"email": "ANN@example.com"})
    answer = browser.call("POST", "/passkeys/sign-in", device.get(options, origin=ORIGIN))
    assert answer.body["status"] == "signed_in", answer
    unknown = browser.options("/passkeys/sign-in/options", {"email": "nobody@example.com"})
    assert len(unknown["allowCredentials"]) == 1  # looks like a real one
    conditional_with_email = browser.call(
        "POST", "/passkeys/sign-in/options", {"email": "ann@example.com", "conditional": True}
    )
    assert conditional_with_email.status == 400


# -- refusals ------------------------------------------------------------------------------


def test_a_replayed_response_is_refused(site: Site, browser: Browser) -> None:
    device = registered(browser)
    browser.sign_out()
    options = browser.options("/passkeys/sign-in/options")
    state = browser.cookie("auth_store_passkey")
    assert state is not None
    response = device.get(options, origin=ORIGIN)
    assert browser.call("POST", "/passkeys/sign-in", response).status == 200
    browser.sign_out()
    browser.set_cookie("auth_store_passkey", state)  # the same cookie and answer again
    replay = browser.call("POST", "/passkeys/sign-in", response)
    assert replay.status == 401
    assert replay.code == "passkey_challenge_invalid"
    assert browser.signed_in_as() is None
    # Without any state cookie at all: the same refusal.
    other = site.browser()
    assert other.call("POST", "/passkeys/sign-in", response).code == "passkey_challenge_invalid"


def test_every_ceremony_refuses_a_replayed_answer(site: Site, ann: User, browser: Browser) -> None:
    """Registration, second step and re-authentication: an answer and its cookie work once."""
    device = SoftAuthenticator()
    options = browser.options("/passkeys/register/options")
    state = browser.cookie("auth_store_passkey")
    created = device.create(options, origin=ORIGIN)
    assert browser.call("POST", "/passkeys/register", created).status == 201
    browser.set_cookie("auth_store_passkey", state or "")
    again = browser.call("POST", "/passkeys/register", created)
    assert again.status == 401, again
    assert again.code == "passkey_challenge_invalid"

    options = browser.options("/passkeys/reauthenticate/options")
    state = browser.cookie("auth_store_passkey")
    answer = device.get(options, origin=ORIGIN)
    assert browser.call("POST", "/passkeys/reauthenticate", answer).status == 200
    browser.set_cookie("auth_store_passkey", state or "")
    again = browser.call("POST", "/passkeys/reauthenticate", answer)
    assert again.code == "passkey_challenge_invalid", again

    site.enable_totp(ann)
    browser.sign_out()
    browser.sign_in_password()
    options = browser.options("/passkeys/second-factor/options")
    state = browser.cookie("auth_store_passkey")
    pending = browser.cookie("auth_store_pending")
    answer = device.get(options, origin=ORIGIN)
    malformed = browser.call("POST", "/passkeys/second-factor", content=b"{not json")
    assert malformed.status == 400
    assert malformed.code == "passkey_invalid_response"
    assert browser.call("POST", "/passkeys/second-factor", answer).status == 200
    browser.sign_out()
    browser.set_cookie("auth_store_passkey", state or "")
    browser.set_cookie("auth_store_pending", pending or "")
    again = browser.call("POST", "/passkeys/second-factor", answer)
    assert again.code == "passkey_challenge_invalid", again
    assert browser.signed_in_as() is None


def test_an_unregistered_passkey_and_a_wrong_origin_are_refused(
    site: Site, browser: Browser
) -> None:
    registered(browser)
    stranger = SoftAuthenticator()
    # A credential made for this site that was never registered here.
    stranger.create(browser.options("/passkeys/register/options"), origin=ORIGIN)
    browser.sign_out()
    refused = browser.passkey_sign_in(stranger)
    assert refused.status == 401
    assert refused.code == "passkey_refused"
    assert refused.body["detail"] == "That passkey did not work. Try again, or sign in another way."
    assert browser.signed_in_as() is None
    browser.sign_in_password()
    device = SoftAuthenticator()
    options = browser.options("/passkeys/register/options")
    phished = device.create(options, origin="https://evil.example")
    assert browser.call("POST", "/passkeys/register", phished).code == "passkey_refused"


def test_every_unsafe_endpoint_needs_the_csrf_token(site: Site, browser: Browser) -> None:
    registered(browser)
    passkey_id = browser.call("GET", "/passkeys", csrf=False).body[0]["id"]
    other = site.browser()
    foreign = other.csrf_token()  # a real token, of another browser
    endpoints = [
        ("POST", "/passkeys/register/options"),
        ("POST", "/passkeys/register"),
        ("POST", "/passkeys/sign-in/options"),
        ("POST", "/passkeys/sign-in"),
        ("POST", "/passkeys/second-factor/options"),
        ("POST", "/passkeys/second-factor"),
        ("POST", "/passkeys/reauthenticate/options"),
        ("POST", "/passkeys/reauthenticate"),
        ("POST", "/reauthenticate"),
        ("PATCH", f"/passkeys/{passkey_id}"),
        ("DELETE", f"/passkeys/{passkey_id}"),
    ]
    for method, path in endpoints:
        for csrf in (False, foreign):
            answer = browser.call(method, path, {"name": "x", "password": PASSWORD}, csrf=csrf)
            assert answer.status == 400, (method, path, csrf, answer)
            assert "CSRF" in answer.body["detail"], answer
    # Nothing took effect.
    listed = browser.call("GET", "/passkeys", csrf=False).body
    assert [p["name"] for p in listed] == ["Laptop"]
    assert browser.cookie("auth_store_reauth") is None


def test_posts_take_json_only(site: Site, browser: Browser) -> None:
    for path in ("/passkeys/sign-in/options", "/passkeys/register", "/reauthenticate"):
        answer = browser.call("POST", path, content=b"password=x", content_type="text/plain")
        assert answer.status == 415, (path, answer)


GARBAGE = {
    "not json": b"{not json",
    "a list": b"[1, 2]",
    "not utf-8": b'{"a": "\xff"}',
    "deep": b"[" * 100_000,
    "too large": b'{"name": "' + b"x" * MAX_BODY_BYTES + b'"}',
}


@pytest.mark.parametrize("garbage", GARBAGE.values(), ids=GARBAGE.keys())
def test_malformed_bodies_are_a_clear_400(site: Site, browser: Browser, garbage: bytes) -> None:
    registered(browser)
    passkey_id = browser.call("GET", "/passkeys", csrf=False).body[0]["id"]
    browser.options("/passkeys/register/options")
    for method, path in (
        ("POST", "/passkeys/register/options"),
        ("POST", "/passkeys/register"),
        ("POST", "/passkeys/sign-in/options"),
        ("POST", "/passkeys/sign-in"),
        ("POST", "/passkeys/reauthenticate"),
        ("POST", "/reauthenticate"),
        ("PATCH", f"/passkeys/{passkey_id}"),
    ):
        answer = browser.call(method, path, content=garbage)
        assert answer.status == 400, (path, answer)
        assert answer.code in ("invalid_input", "passkey_invalid_response"), (path, answer)
        assert answer.body["detail"], answer


def test_well_formed_json_of_the_wrong_shape_is_a_400(site: Site, browser: Browser) -> None:
    registered(browser)
    passkey_id = browser.call("GET", "/passkeys", csrf=False).body[0]["id"]
    wrong = [
        ("POST", "/passkeys/register", {"id": "AAAA", "type": "public-key"}),
        ("POST", "/passkeys/sign-in", {"rawId": 5}),
        ("POST", "/passkeys/sign-in/options", {"email": 5}),
        ("POST", "/passkeys/sign-in/options", {"conditional": "yes"}),
        ("POST", "/passkeys/register/options", {"authenticator_attachment": "pocket"}),
        ("POST", "/reauthenticate", {}),
        ("POST", "/reauthenticate", {"password": PASSWORD, "code": "123456"}),
        ("PATCH", f"/passkeys/{passkey_id}", {}),
        ("PATCH", f"/passkeys/{passkey_id}", {"name": "   "}),
        ("PATCH", f"/passkeys/{passkey_id}", {"name": "x" * 65}),
        ("DELETE", "/passkeys/not%20base64", None),
    ]
    for method, path, body in wrong:
        answer = browser.call(method, path, body)
        if method == "DELETE":
            # Without a proof, "confirm it's you" comes first, before the id is looked at.
            assert answer.status == 401, answer
            continue
        assert answer.status == 400, (method, path, body, answer)
        assert answer.body["detail"], answer
    malformed = browser.call("POST", "/passkeys/sign-in", {"rawId": 5})
    assert "rawId" in malformed.body["detail"]


def test_not_signed_in_is_401(site: Site, ann: User) -> None:
    stranger = site.browser()
    for method, path in (
        ("GET", "/passkeys"),
        ("POST", "/passkeys/register/options"),
        ("POST", "/passkeys/register"),
        ("PATCH", "/passkeys/AAAA"),
        ("DELETE", "/passkeys/AAAA"),
        ("POST", "/passkeys/reauthenticate/options"),
        ("POST", "/passkeys/reauthenticate"),
        ("POST", "/reauthenticate"),
    ):
        answer = stranger.call(method, path, {"name": "x", "password": PASSWORD})
        assert answer.status == 401, (method, path, answer)
        assert answer.code == "not_signed_in", answer


# -- management and re-authentication ------------------------------------------------------


def test_rename(site: Site, browser: Browser) -> None:
    registered(browser, None)
    (listed,) = browser.call("GET", "/passkeys", csrf=False).body
    assert listed["name"] == "Passkey"
    renamed = browser.call("PATCH", f"/passkeys/{listed['id']}", {"name": "  Phone  "})
    assert renamed.status == 200, renamed
    assert renamed.body["name"] == "Phone"
    assert browser.call("GET", "/passkeys", csrf=False).body[0]["name"] == "Phone"
    # Bob can't rename Ann's passkey: it is not his (404, like a missing one).
    site.user("bob@example.com")
    bob = site.browser()
    bob.sign_in_password("bob@example.com")
    theirs = bob.call("PATCH", f"/passkeys/{listed['id']}", {"name": "Mine"})
    assert theirs.status == 404
    assert browser.call("GET", "/passkeys", csrf=False).body[0]["name"] == "Phone"


def test_delete_needs_a_fresh_reauthentication(site: Site, browser: Browser) -> None:
    first = registered(browser, "First")
    registered(browser, "Second")
    listed = browser.call("GET", "/passkeys", csrf=False).body
    ids = {p["name"]: p["id"] for p in listed}
    refused = browser.call("DELETE", f"/passkeys/{ids['First']}")
    assert refused.status == 401
    assert refused.code == "reauthentication_required"
    # A wrong password earns nothing.
    wrong = browser.call("POST", "/reauthenticate", {"password": "not it"})
    assert wrong.status == 401
    assert browser.cookie("auth_store_reauth") is None
    # The password does.
    proved = browser.call("POST", "/reauthenticate", {"password": PASSWORD})
    assert proved.status == 200, proved
    assert proved.body["method"] == "password"
    reauth_cookie = next(c for c in proved.cookies if c.startswith("auth_store_reauth="))
    assert "HttpOnly" in reauth_cookie
    assert "Max-Age=300" in reauth_cookie
    assert browser.call("DELETE", f"/passkeys/{ids['Second']}").status == 204
    # The proof is good only in the session that earned it.
    proof = browser.cookie("auth_store_reauth")
    assert proof is not None
    elsewhere = site.browser()
    elsewhere.sign_in_password()
    elsewhere.set_cookie("auth_store_reauth", proof)
    stolen = elsewhere.call("DELETE", f"/passkeys/{ids['First']}")
    assert stolen.status == 401
    assert stolen.code == "reauthentication_required"
    # A passkey is a re-authentication too (here the very one to delete).
    by_passkey = elsewhere.reauthenticate(first)
    assert by_passkey.status == 200, by_passkey
    assert by_passkey.body["method"] == "passkey"
    assert elsewhere.call("DELETE", f"/passkeys/{ids['First']}").status == 204
    assert elsewhere.call("GET", "/passkeys", csrf=False).body == []
    assert site.store.counts()["authenticators"] == 0
    gone = elsewhere.call("DELETE", f"/passkeys/{ids['First']}")
    assert gone.status == 404


def test_a_code_is_a_reauthentication_for_someone_without_a_password(site: Site) -> None:
    user = site.user("cy@example.com", password=False)
    secret = site.enable_totp(user)
    browser = site.browser()
    # Signed in by other means (a magic link, say).
    browser.set_cookie(
        "auth_store_session",
        _session_cookie(site, site.flow.sessions.create(user).token),
    )
    assert browser.signed_in_as() == "cy@example.com"
    no_password = browser.call("POST", "/reauthenticate", {"password": PASSWORD})
    assert no_password.status == 401
    code = pyotp.TOTP(secret).at(auth_store.clock.now().timestamp() + 30)
    proved = browser.call("POST", "/reauthenticate", {"code": code})
    assert proved.status == 200, proved
    assert proved.body["method"] == "totp"
    spent = browser.call("POST", "/reauthenticate", {"code": code})  # a code works once
    assert spent.status == 401


def _session_cookie(site: Site, token: str) -> str:
    return site.flow.signer.sign(token, purpose="session-cookie")


# -- the second step and "user verification counts as both" -----------------------------------


def test_a_passkey_is_offered_and_works_at_the_second_step(
    site: Site, ann: User, browser: Browser
) -> None:
    device = registered(browser)
    site.enable_totp(ann)
    browser.sign_out()
    assert browser.sign_in_password() == 303
    assert browser.signed_in_as() is None
    status, html = browser.page("/second-step")
    assert status == 200
    assert 'id="passkey-second-step"' in html
    options = browser.options("/passkeys/second-factor/options")
    assert len(options["allowCredentials"]) == 1  # only Ann's passkey
    done = browser.call("POST", "/passkeys/second-factor", device.get(options, origin=ORIGIN))
    assert done.status == 200, done
    assert done.body["status"] == "signed_in"
    assert browser.signed_in_as() == "ann@example.com"
    assert browser.cookie("auth_store_pending") is None


def test_the_second_step_takes_only_the_pending_users_passkey(
    site: Site, ann: User, browser: Browser
) -> None:
    registered(browser)
    site.enable_totp(ann)
    bob = site.user("bob@example.com")
    bobs_browser = site.browser()
    bobs_browser.sign_in_password("bob@example.com")
    bobs_device = registered(bobs_browser)
    assert bob.id is not None
    browser.sign_out()
    browser.sign_in_password()
    options = browser.options("/passkeys/second-factor/options")
    # Bob's passkey, answering Ann's second-step challenge.
    answer = bobs_device.get({**options, "allowCredentials": []}, origin=ORIGIN)
    refused = browser.call("POST", "/passkeys/second-factor", answer)
    assert refused.status == 401
    assert refused.code == "passkey_refused"
    assert browser.signed_in_as() is None
    # No pending sign-in at all.
    stranger = site.browser()
    assert stranger.call("POST", "/passkeys/second-factor/options", {}).code == "invalid_link"
    assert stranger.call("POST", "/passkeys/second-factor", answer).code == "invalid_link"


def test_without_a_passkey_the_second_step_offers_none(
    site: Site, ann: User, browser: Browser
) -> None:
    site.enable_totp(ann)
    browser.sign_out()
    browser.sign_in_password()
    _, html = browser.page("/second-step")
    assert "passkey-second-step" not in html
    assert browser.call("POST", "/passkeys/second-factor/options", {}).status == 400


def test_user_verification_counts_as_both_factors(site: Site, ann: User, browser: Browser) -> None:
    device = registered(browser)
    secret = site.enable_totp(ann)
    browser.sign_out()
    # Unlocked with PIN or biometrics: signed in at once, TOTP or not.
    verified = browser.passkey_sign_in(device, user_verified=True)
    assert verified.body["status"] == "signed_in", verified
    browser.sign_out()
    # Without user verification, the passkey is one factor: the TOTP step follows...
    unverified = browser.passkey_sign_in(device, user_verified=False)
    assert unverified.status == 200, unverified
    assert unverified.body["status"] == "second_factor_required"
    assert unverified.body["methods"] == ["totp", "backup_code"]  # ...not the passkey again
    assert browser.signed_in_as() is None
    _, html = browser.page("/second-step")
    assert "passkey-second-step" not in html
    twice = browser.call("POST", "/passkeys/second-factor/options", {})
    assert twice.status == 400
    assert "code" in twice.body["detail"]
    code = pyotp.TOTP(secret).at(auth_store.clock.now().timestamp() + 30)
    assert browser.form("/second-step", "/second-step", {"code": code}) == 303
    assert browser.signed_in_as() == "ann@example.com"


def test_without_totp_one_passkey_is_enough(site: Site, browser: Browser) -> None:
    device = registered(browser)
    browser.sign_out()
    answer = browser.passkey_sign_in(device, user_verified=False)
    assert answer.body["status"] == "signed_in", answer


def test_a_disabled_user_gets_in_by_no_passkey_route(
    site: Site, ann: User, browser: Browser
) -> None:
    device = registered(browser)
    browser.sign_out()
    site.store.update_user(ann.id, extra=disabled_extra(ann))
    refused = browser.passkey_sign_in(device)
    assert refused.status == 401
    assert refused.body["detail"] == "That passkey did not work. Try again, or sign in another way."


# -- pages, script, schema ----------------------------------------------------------------------


def test_the_script_is_served_as_a_file(site: Site) -> None:
    answer = site.browser().call("GET", "/passkeys.js", csrf=False)
    assert answer.status == 200
    assert answer.headers["content-type"].startswith("text/javascript")
    assert answer.body == SCRIPT.read_text(encoding="utf-8")
    for helper in ("parseCreationOptionsFromJSON", "parseRequestOptionsFromJSON", "toJSON"):
        assert helper in answer.body


def test_the_pages_offer_passkeys(site: Site, browser: Browser) -> None:
    registered(browser, "Laptop")
    _, account = browser.page("/account")
    assert 'id="add-passkey"' in account
    assert "Laptop" in account
    assert re.search(r'data-passkey-rename="[A-Za-z0-9_-]+"', account)
    assert re.search(r'data-passkey-delete="[A-Za-z0-9_-]+"', account)
    assert 'id="reauth-with-password"' in account
    assert 'id="reauth-with-passkey"' in account
    script = re.search(r'<script src="([^"]+)"[^>]*data-api="([^"]+)"', account)
    assert script, account
    assert script.groups() == (f"{site.api}/passkeys.js", site.api)
    assert "<script>" not in account  # no inline script: it runs under script-src 'self'
    assert " on" + "click=" not in account
    browser.sign_out()
    _, sign_in = browser.page("/sign-in")
    assert 'autocomplete="username webauthn"' in sign_in
    assert 'id="passkey-sign-in"' in sign_in
    _, home = browser.page("/")
    assert "passkey" in home.lower()


def test_pages_say_why_passkeys_are_off(tmp_path: Path) -> None:
    # Plain http:// on a host other than localhost: WebAuthn can't work there.
    store = auth_store.connect(f"sqlite:///{tmp_path}/auth.db")
    try:
        site = Site("fastapi", store, tmp_path, base_url="http://testserver")
        assert not site.flow.passkeys_available
        site.user()
        client = TestClient(site.app, base_url="http://testserver")
        assert 'autocomplete="username"' in client.get("/sign-in").text
        assert client.get(f"{site.api}/passkeys").status_code == 404
    finally:
        store.close()


def test_openapi_documents_the_passkey_routes(tmp_path: Path) -> None:
    store = auth_store.connect(f"sqlite:///{tmp_path}/auth.db")
    try:
        site = Site("fastapi", store, tmp_path)
        schema = TestClient(site.app, base_url=BASE_URL).get("/openapi.json").json()
    finally:
        store.close()
    paths = schema["paths"]
    api = PREFIX["fastapi"]
    for path, method in (
        ("/passkeys/register/options", "post"),
        ("/passkeys/register", "post"),
        ("/passkeys/sign-in/options", "post"),
        ("/passkeys/sign-in", "post"),
        ("/passkeys/second-factor/options", "post"),
        ("/passkeys/second-factor", "post"),
        ("/passkeys", "get"),
        ("/passkeys/{credential_id}", "patch"),
        ("/passkeys/{credential_id}", "delete"),
        ("/passkeys/reauthenticate/options", "post"),
        ("/passkeys/reauthenticate", "post"),
        ("/reauthenticate", "post"),
        ("/csrf", "get"),
    ):
        operation = paths[api + path][method]
        assert operation["summary"], path
    assert "AuthenticationResponseJSON" in str(paths[f"{api}/passkeys/sign-in"]["post"])
    assert "PasskeyOut" in schema["components"]["schemas"]


# -- every backend ----------------------------------------------------------------------------


@pytest.mark.parametrize("base", stores.backend_params())
def test_the_json_flow_on_every_backend(base: str, tmp_path: Path) -> None:
    with stores.fresh_store(base, tmp_path) as (store, _url):
        site = Site("fastapi", store, tmp_path)
        site.user()
        browser = site.browser()
        assert browser.sign_in_password() == 303
        device = registered(browser)
        browser.sign_out()
        assert browser.passkey_sign_in(device, conditional=True).body["status"] == "signed_in"
        passkey_id = browser.call("GET", "/passkeys", csrf=False).body[0]["id"]
        assert browser.call("POST", "/reauthenticate", {"password": PASSWORD}).status == 200
        assert browser.call("DELETE", f"/passkeys/{passkey_id}").status == 204
        assert store.counts()["authenticators"] == 0
