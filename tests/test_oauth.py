"""OAuth / OpenID Connect sign-in against a real provider over real HTTP.

The provider is built here from authlib's server side (authorization code
grant with PKCE, OpenID Connect ID tokens signed with an RSA key, refresh
tokens, discovery, JWKS, userinfo) and served by Werkzeug on a free
127.0.0.1 port in a thread. The test plays the browser: it follows the
redirects between the app (through its test client) and the provider
(through ``requests``); the app talks to the provider's token, JWKS and
userinfo endpoints over real HTTP. Nothing is mocked.
"""

from __future__ import annotations

import asyncio
import hmac
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
import requests
from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, TokenMixin, grants
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import AuthorizationCodeMixin
from authlib.oidc.core.grants import OpenIDCode
from fastapi.testclient import TestClient
from flask import Flask, jsonify, request
from joserfc.jwk import KeySet, RSAKey
from werkzeug.serving import make_server

import auth_store
import auth_store.aio as aio
from auth_store.disabled import disabled_extra
from auth_store.models import Account, User
from auth_store.oauth import OAuthProvider, Profile
from auth_store.passkeys import PasskeyService, PasskeyVerificationError
from examples.fastapi_app import create_app as create_fastapi_app
from examples.flask_app import create_app as create_flask_app
from tests.soft_authenticator import SoftAuthenticator

CLIENT_ID = "auth-store-test-app"
CLIENT_SECRET = "app-secret-" + "s" * 24
PASSWORD = "correct horse battery"


# -- the provider ----------------------------------------------------------------------


@dataclass
class Person:
    sub: str
    email: str
    email_verified: bool = True
    name: str = "Pat"


@dataclass
class Client(ClientMixin):  # type: ignore[misc]
    redirect_uris: list[str]

    def get_client_id(self) -> str:
        return CLIENT_ID

    def get_default_redirect_uri(self) -> str:
        return self.redirect_uris[0]

    def get_allowed_scope(self, scope: str) -> str:
        return scope

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return hmac.compare_digest(client_secret, CLIENT_SECRET)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in ("authorization_code", "refresh_token")


@dataclass
class Code(AuthorizationCodeMixin):  # type: ignore[misc]
    code: str
    redirect_uri: str
    scope: str
    nonce: str | None
    person: Person
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: int = field(default_factory=lambda: int(time.time()))

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> None:
        return None


@dataclass
class Token(TokenMixin):  # type: ignore[misc]
    data: dict[str, Any]
    person: Person
    revoked: bool = False

    def check_client(self, client: Any) -> bool:
        return True

    def get_scope(self) -> str:
        return str(self.data.get("scope", ""))

    def get_expires_in(self) -> int:
        return int(self.data.get("expires_in", 3600))

    def is_expired(self) -> bool:
        return False

    def is_revoked(self) -> bool:
        return self.revoked

    def get_user(self) -> Person:
        return self.person

    def get_client(self) -> Any:
        return None


class Provider:
    """A tiny OpenID Connect provider; ``signed_in`` is who is logged in at it."""

    def __init__(self) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": "test-key", "use": "sig"})
        self.client = Client(redirect_uris=[])
        self.codes: dict[str, Code] = {}
        self.tokens: dict[str, Token] = {}
        self.signed_in: Person | None = None
        self.token_requests = 0
        # The ID token's "aud" and "azp" (None: no azp claim).
        self.audiences: list[str] = [CLIENT_ID]
        self.azp: str | None = None
        self.app = self._build()
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _build(self) -> Flask:
        provider = self
        app = Flask("provider")

        class CodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
            TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

            def save_authorization_code(self, code: str, req: Any) -> None:
                data = req.payload.data
                provider.codes[code] = Code(
                    code=code,
                    redirect_uri=req.payload.redirect_uri,
                    scope=req.scope,
                    nonce=data.get("nonce"),
                    person=req.user,
                    code_challenge=data.get("code_challenge"),
                    code_challenge_method=data.get("code_challenge_method"),
                )

            def query_authorization_code(self, code: str, client: Any) -> Code | None:
                return provider.codes.get(code)

            def delete_authorization_code(self, authorization_code: Code) -> None:
                provider.codes.pop(authorization_code.code, None)

            def authenticate_user(self, authorization_code: Code) -> Person:
                return authorization_code.person

        class RefreshGrant(grants.RefreshTokenGrant):  # type: ignore[misc]
            TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]
            INCLUDE_NEW_REFRESH_TOKEN = True

            def authenticate_refresh_token(self, refresh_token: str) -> Token | None:
                for token in provider.tokens.values():
                    if token.data.get("refresh_token") == refresh_token and not token.revoked:
                        return token
                return None

            def authenticate_user(self, refresh_token: Token) -> Person:
                return refresh_token.person

            def revoke_old_credential(self, refresh_token: Token) -> None:
                refresh_token.revoked = True

        class IDToken(OpenIDCode):  # type: ignore[misc]
            def resolve_client_private_key(self, client: Any) -> RSAKey:
                return provider.key

            def get_client_claims(self, client: Any) -> dict[str, Any]:
                claims: dict[str, Any] = {"iss": provider.url, "aud": list(provider.audiences)}
                if provider.azp is not None:
                    claims["azp"] = provider.azp
                return claims

            def exists_nonce(self, nonce: str, req: Any) -> bool:
                return any(c.nonce == nonce for c in provider.codes.values())

            def generate_user_info(self, user: Person, scope: str) -> dict[str, Any]:
                return {
                    "sub": user.sub,
                    "email": user.email,
                    "email_verified": user.email_verified,
                    "name": user.name,
                }

        def save_token(token: dict[str, Any], req: Any) -> None:
            provider.token_requests += 1
            provider.tokens[token["access_token"]] = Token(data=dict(token), person=req.user)

        app.config["OAUTH2_REFRESH_TOKEN_GENERATOR"] = True
        server = AuthorizationServer(app, query_client=lambda _id: provider.client)
        server._save_token = save_token
        server.register_grant(
            CodeGrant, [CodeChallenge(required=True), IDToken(require_nonce=False)]
        )
        server.register_grant(RefreshGrant)

        @app.get("/.well-known/openid-configuration")
        def discovery() -> Any:
            return jsonify(
                issuer=provider.url,
                authorization_endpoint=f"{provider.url}/authorize",
                token_endpoint=f"{provider.url}/token",
                userinfo_endpoint=f"{provider.url}/userinfo",
                jwks_uri=f"{provider.url}/jwks",
            )

        @app.get("/jwks")
        def jwks() -> Any:
            return jsonify(KeySet([provider.key]).as_dict(private=False))

        @app.get("/authorize")
        def authorize() -> Any:
            # Consent is implied: whoever is "signed in" at the provider agrees.
            grant = server.get_consent_grant(end_user=provider.signed_in)
            return server.create_authorization_response(grant=grant, grant_user=provider.signed_in)

        @app.post("/token")
        def token() -> Any:
            return server.create_token_response()

        @app.get("/userinfo")
        def userinfo() -> Any:
            header = request.headers.get("Authorization", "")
            found = provider.tokens.get(header.removeprefix("Bearer "))
            if found is None:
                return jsonify(error="invalid_token"), 401
            person = found.person
            return jsonify(id=person.sub, email=person.email, name=person.name, login="pat")

        return app

    def __enter__(self) -> Provider:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.thread.join(timeout=10)
        self.server.server_close()


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    with Provider() as running:
        yield running


# -- the app side ----------------------------------------------------------------------


def oidc(provider: Provider, **options: Any) -> OAuthProvider:
    settings: dict[str, Any] = {
        "name": "local",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "server_metadata_url": f"{provider.url}/.well-known/openid-configuration",
    }
    return OAuthProvider(**{**settings, **options})


def plain_oauth2(provider: Provider) -> OAuthProvider:
    """The same provider used as plain OAuth 2.0, like GitHub: the profile from /userinfo."""

    def profile(data: Any) -> Profile:
        return Profile(id=str(data["id"]), email=data.get("email"), name=data.get("name"))

    return OAuthProvider(
        name="plain",
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        authorize_url=f"{provider.url}/authorize",
        token_url=f"{provider.url}/token",
        userinfo_url=f"{provider.url}/userinfo",
        scope="profile",
        profile=profile,
    )


class App:
    def __init__(
        self, tmp_path: Path, provider: Provider, providers: tuple[OAuthProvider, ...]
    ) -> None:
        self.store = auth_store.connect(f"sqlite:///{tmp_path}/auth.db")
        self.app = create_fastapi_app(
            self.store,
            base_url="http://testserver",
            data_dir=tmp_path / "demo",
            providers=providers,
        )
        self.provider = provider
        self.oauth: aio.OAuthService = self.app.state.auth_store.oauth
        self.flow = self.oauth.flow
        provider.client.redirect_uris = [
            f"http://testserver/api/auth/oauth/{p.name}/callback" for p in providers
        ]

    def browser(self) -> TestClient:
        return TestClient(self.app)

    def refresh(self, account: Account) -> Account:
        """The app's (async) ``OAuthService.refresh``."""
        return asyncio.run(self.oauth.refresh(account))

    def sign_in_with(self, browser: TestClient, name: str = "local") -> Any:
        """Follow the whole round trip; return the app's final response."""
        start = browser.get(f"/api/auth/oauth/{name}/login?next=/sessions", follow_redirects=False)
        assert start.status_code == 302, start.text
        authorize_url = start.headers["location"]
        assert authorize_url.startswith(self.provider.url)
        assert "code_challenge=" in authorize_url
        at_provider = requests.get(authorize_url, allow_redirects=False, timeout=10)
        assert at_provider.status_code == 302, at_provider.text
        back = urlsplit(at_provider.headers["Location"])
        assert back.netloc == "testserver"
        return browser.get(f"{back.path}?{back.query}", follow_redirects=False)


@pytest.fixture
def app(tmp_path: Path, provider: Provider) -> Iterator[App]:
    environment = App(tmp_path, provider, (oidc(provider), plain_oauth2(provider)))
    yield environment
    environment.store.close()


def account_of(store: auth_store.Adapter, provider: str, sub: str) -> Account:
    account = store.get_account(provider, sub)
    assert account is not None
    return account


def test_first_sign_in_creates_the_user_and_stores_encrypted_tokens(
    app: App, provider: Provider
) -> None:
    provider.signed_in = Person(sub="p-1", email="Pat@Example.com", name="Pat Doe")
    browser = app.browser()
    final = app.sign_in_with(browser)
    assert final.status_code == 302
    assert final.headers["location"] == "/sessions"
    me = browser.get("/api/auth/me").json()
    assert me["email"] == "pat@example.com"
    assert me["name"] == "Pat Doe"
    assert me["email_verified"] is not None

    account = account_of(app.store, "local", "p-1")
    assert account.type == "oidc"
    assert account.user_id == me["id"]
    # Encrypted at rest, readable through the service.
    assert account.access_token is not None
    assert account.access_token.startswith("as1.")
    assert account.refresh_token is not None
    assert account.refresh_token.startswith("as1.")
    tokens = app.oauth.tokens(account)
    assert tokens.access_token in provider.tokens
    assert tokens.id_token is not None
    assert tokens.id_token.count(".") == 2
    assert account.expires_at is not None
    assert account.expires_at > time.time()


def test_a_later_sign_in_signs_in_the_same_user_and_refreshes_tokens(
    app: App, provider: Provider
) -> None:
    provider.signed_in = Person(sub="p-2", email="sam@example.com")
    first_browser = app.browser()
    app.sign_in_with(first_browser)
    before = app.oauth.tokens(account_of(app.store, "local", "p-2"))

    second_browser = app.browser()
    app.sign_in_with(second_browser)
    after_account = account_of(app.store, "local", "p-2")
    after = app.oauth.tokens(after_account)
    assert after.access_token != before.access_token
    assert after_account.user_id == second_browser.get("/api/auth/me").json()["id"]
    assert app.store.counts()["users"] == 1
    assert app.store.counts()["accounts"] == 1


def test_refresh_uses_the_stored_refresh_token(app: App, provider: Provider) -> None:
    provider.signed_in = Person(sub="p-3", email="ref@example.com")
    app.sign_in_with(app.browser())
    account = account_of(app.store, "local", "p-3")
    old = app.oauth.tokens(account)
    refreshed = app.refresh(account)
    new = app.oauth.tokens(refreshed)
    assert new.access_token is not None
    assert old.access_token is not None
    assert new.access_token != old.access_token
    assert new.access_token in provider.tokens
    assert provider.tokens[old.access_token].revoked  # the provider rotated it


def test_new_tokens_update_the_account_in_place(
    app: App, provider: Provider, tmp_path: Path
) -> None:
    provider.signed_in = Person(sub="p-9", email="inplace@example.com")
    app.sign_in_with(app.browser())
    account = account_of(app.store, "local", "p-9")
    # From here on the database refuses to delete an account: storing new
    # tokens must be one update of the row, never an unlink and a new link
    # (which would leave the person without the account between the two).
    with sqlite3.connect(tmp_path / "auth.db") as db:
        db.execute(
            "CREATE TRIGGER keep_accounts BEFORE DELETE ON accounts"
            " BEGIN SELECT RAISE(ABORT, 'accounts are never deleted here'); END"
        )
    refreshed = app.refresh(account)
    assert refreshed.id == account.id
    assert app.store.get_account("local", "p-9") == refreshed
    assert app.oauth.tokens(refreshed).access_token != app.oauth.tokens(account).access_token
    app.sign_in_with(app.browser())  # a later sign-in stores its new tokens the same way
    again = account_of(app.store, "local", "p-9")
    assert again.id == account.id
    assert app.oauth.tokens(again).access_token != app.oauth.tokens(refreshed).access_token
    assert app.store.counts()["accounts"] == 1


def test_no_linking_to_an_existing_account_by_email(app: App, provider: Provider) -> None:
    owner = app.browser()
    owner.post("/api/auth/magic-link", json={"email": "ann@example.com"})
    assert app.store.get_user_by_email("ann@example.com") is None  # created on first use
    app.store.create_user(User(email="ann@example.com"))

    provider.signed_in = Person(sub="p-4", email="ann@example.com", email_verified=True)
    intruder = app.browser()
    final = app.sign_in_with(intruder)
    assert final.headers["location"] == "/sign-in?error=oauth_not_linked"
    assert intruder.get("/api/auth/me").status_code == 401
    assert app.store.get_account("local", "p-4") is None


def test_opt_in_linking_needs_a_verified_email(tmp_path: Path, provider: Provider) -> None:
    linking = App(tmp_path, provider, (oidc(provider, allow_email_linking=True),))
    existing = linking.store.create_user(User(email="lee@example.com"))

    provider.signed_in = Person(sub="p-5", email="lee@example.com", email_verified=False)
    refused = linking.sign_in_with(linking.browser())
    assert refused.headers["location"] == "/sign-in?error=oauth_not_linked"

    provider.signed_in = Person(sub="p-5", email="lee@example.com", email_verified=True)
    browser = linking.browser()
    linked = linking.sign_in_with(browser)
    assert linked.headers["location"] == "/sessions"
    assert browser.get("/api/auth/me").json()["id"] == existing.id
    assert account_of(linking.store, "local", "p-5").user_id == existing.id
    linking.store.close()


def test_a_disabled_user_cannot_sign_in_with_a_provider(app: App, provider: Provider) -> None:
    provider.signed_in = Person(sub="p-12", email="dis@example.com")
    browser = app.browser()
    app.sign_in_with(browser)
    user = app.store.get_user_by_email("dis@example.com")
    assert user is not None
    assert user.id is not None
    # With TOTP on, a refusal that came late would still send the browser to the second step.
    secret = browser.post("/api/auth/totp/enroll", json={}).json()["secret"]
    browser.post("/api/auth/totp/confirm", json={"code": pyotp.TOTP(secret).now()})
    assert asyncio.run(app.flow.totp_enabled(user))
    app.store.update_user(user.id, extra=disabled_extra(user))  # the flag alone
    assert browser.get("/api/auth/me").status_code == 401  # the old session is refused

    later = app.browser()
    final = app.sign_in_with(later)
    assert final.headers["location"] == "/sign-in?error=oauth_failed"
    assert later.get("/api/auth/me").status_code == 401
    assert app.store.list_sessions(user.id) == []


def test_linking_by_email_leaves_a_disabled_account_alone(
    tmp_path: Path, provider: Provider
) -> None:
    linking = App(tmp_path, provider, (oidc(provider, allow_email_linking=True),))
    existing = linking.store.create_user(User(email="off@example.com"))
    assert existing.id is not None
    asyncio.run(linking.flow.passwords.set_password(existing.id, PASSWORD))
    linking.store.update_user(existing.id, extra=disabled_extra(existing))

    provider.signed_in = Person(sub="p-13", email="off@example.com", email_verified=True)
    browser = linking.browser()
    final = linking.sign_in_with(browser)
    assert final.headers["location"] == "/sign-in?error=oauth_failed"
    assert browser.get("/api/auth/me").status_code == 401
    assert linking.store.get_account("local", "p-13") is None
    after = linking.store.get_user(existing.id)
    assert after is not None
    assert after.email_verified is None  # not marked verified
    assert asyncio.run(linking.flow.passwords.has_password(existing.id))  # nor its password dropped
    linking.store.close()


def test_a_signed_in_user_links_a_provider(app: App, provider: Provider) -> None:
    browser = app.browser()
    browser.post("/api/auth/magic-link", json={"email": "kim@example.com"})
    text = app.app.state.demo.outbox_messages()[-1].text
    token = re.search(r"token=([0-9a-f]{64})", text)
    assert token
    signed = browser.post(
        "/api/auth/magic-link/consume", json={"email": "kim@example.com", "token": token.group(1)}
    )
    assert signed.json()["status"] == "signed_in"

    provider.signed_in = Person(sub="p-6", email="another-address@example.com")
    app.sign_in_with(browser)
    kim = app.store.get_user_by_email("kim@example.com")
    assert kim is not None
    assert account_of(app.store, "local", "p-6").user_id == kim.id
    assert app.store.get_user_by_email("another-address@example.com") is None


def test_a_forged_or_missing_state_is_refused(app: App, provider: Provider) -> None:
    provider.signed_in = Person(sub="p-7", email="eve@example.com")
    browser = app.browser()
    start = browser.get("/api/auth/oauth/local/login", follow_redirects=False)
    at_provider = requests.get(start.headers["location"], allow_redirects=False, timeout=10)
    back = urlsplit(at_provider.headers["Location"])
    tampered = re.sub(r"state=[^&]+", "state=forged", back.query)
    refused = browser.get(f"{back.path}?{tampered}", follow_redirects=False)
    assert refused.headers["location"] == "/sign-in?error=oauth_failed"
    # A browser that never started the round trip has no state cookie.
    stranger = app.browser()
    refused = stranger.get(f"{back.path}?{back.query}", follow_redirects=False)
    assert refused.headers["location"] == "/sign-in?error=oauth_failed"
    assert app.store.get_account("local", "p-7") is None


def test_plain_oauth2_reads_the_userinfo_endpoint(app: App, provider: Provider) -> None:
    provider.signed_in = Person(sub="p-8", email="gh@example.com", name="Octo")
    browser = app.browser()
    final = app.sign_in_with(browser, "plain")
    assert final.headers["location"] == "/sessions"
    me = browser.get("/api/auth/me").json()
    assert me["email"] == "gh@example.com"
    assert me["email_verified"] is None  # this mapper does not vouch for the address
    assert account_of(app.store, "plain", "p-8").type == "oauth"


def test_totp_still_guards_an_oauth_sign_in(app: App, provider: Provider) -> None:
    provider.signed_in = Person(sub="p-9", email="two@example.com")
    browser = app.browser()
    app.sign_in_with(browser)
    enrolled = browser.post("/api/auth/totp/enroll", json={}).json()
    secret = enrolled["secret"]
    browser.post("/api/auth/totp/confirm", json={"code": pyotp.TOTP(secret).now()})

    later = app.browser()
    final = app.sign_in_with(later)
    assert final.headers["location"] == "/second-step"
    assert later.get("/api/auth/me").status_code == 401
    done = later.post(
        "/api/auth/second-factor", json={"code": pyotp.TOTP(secret).at(time.time() + 30)}
    )
    assert done.json()["status"] == "signed_in"


def test_flask_blueprint_round_trip(tmp_path: Path, provider: Provider) -> None:
    store = auth_store.connect(f"sqlite:///{tmp_path}/flask.db")
    flask_app = create_flask_app(
        store, base_url="http://localhost", data_dir=tmp_path / "demo", providers=(oidc(provider),)
    )
    provider.client.redirect_uris = ["http://localhost/api/auth/oauth/local/callback"]
    provider.signed_in = Person(sub="p-10", email="flask@example.com")
    browser = flask_app.test_client()
    start = browser.get("/api/auth/oauth/local/login?next=/api-keys")
    at_provider = requests.get(start.headers["Location"], allow_redirects=False, timeout=10)
    back = urlsplit(at_provider.headers["Location"])
    final = browser.get(f"{back.path}?{back.query}")
    assert final.headers["Location"] == "/api-keys"
    assert "flask@example.com" in browser.get("/account").text
    assert account_of(store, "local", "p-10").access_token is not None
    store.close()


def test_an_unknown_provider_is_refused(app: App) -> None:
    browser = app.browser()
    response = browser.get("/api/auth/oauth/nope/login", follow_redirects=False)
    assert response.status_code == 400
    assert response.json()["detail"] == "Unknown sign-in provider."


def test_an_id_token_for_another_audience_is_refused(tmp_path: Path, provider: Provider) -> None:
    # The provider signs ID tokens for CLIENT_ID only; an app registered as
    # another client must not accept them.
    other = App(tmp_path, provider, (oidc(provider, client_id="someone-else"),))
    provider.signed_in = Person(sub="p-11", email="aud@example.com")
    final = other.sign_in_with(other.browser())
    assert final.headers["location"] == "/sign-in?error=oauth_failed"
    assert other.store.get_account("local", "p-11") is None
    other.store.close()


@pytest.mark.parametrize(
    ("audiences", "azp", "accepted"),
    [
        # OIDC Core 3.1.3.7: several audiences need an azp, and an azp must be us.
        ([CLIENT_ID, "another-client"], None, False),
        (["another-client", CLIENT_ID], None, False),
        ([CLIENT_ID, "another-client"], "another-client", False),
        ([CLIENT_ID], "another-client", False),
        ([CLIENT_ID, "another-client"], CLIENT_ID, True),
        ([CLIENT_ID], CLIENT_ID, True),
        ([CLIENT_ID], None, True),
    ],
)
def test_an_id_token_issued_to_another_party_is_refused(
    app: App, provider: Provider, audiences: list[str], azp: str | None, accepted: bool
) -> None:
    sub = f"p-azp-{len(audiences)}-{azp}"
    provider.signed_in = Person(sub=sub, email=f"{len(audiences)}-{azp}@example.com")
    provider.audiences, provider.azp = audiences, azp
    try:
        browser = app.browser()
        final = app.sign_in_with(browser)
    finally:
        provider.audiences, provider.azp = [CLIENT_ID], None
    if accepted:
        assert final.headers["location"] == "/sessions"
        assert browser.get("/api/auth/me").status_code == 200
        assert app.store.get_account("local", sub) is not None
    else:
        assert final.headers["location"] == "/sign-in?error=oauth_failed"
        assert browser.get("/api/auth/me").status_code == 401
        assert app.store.get_account("local", sub) is None


# -- pre-account takeover --------------------------------------------------------------


VICTIM = "victim@example.com"


def last_link(app: App, to: str) -> dict[str, str]:
    """The query (email, token) of the last link mailed to ``to``."""
    messages = [m for m in app.app.state.demo.outbox_messages() if m.to == to]
    assert messages, f"no mail to {to}"
    found = re.search(r"https?://testserver(\S+)", messages[-1].text)
    assert found, messages[-1].text
    return {k: v[0] for k, v in parse_qs(urlsplit(found.group(1)).query).items()}


PASSKEY_ORIGIN = "https://testserver"


def passkeys(app: App) -> PasskeyService:
    return PasskeyService(
        app.store, signer=app.flow.signer, rp_id="testserver", origins=PASSKEY_ORIGIN
    )


@dataclass
class Attacker:
    browser: TestClient  # signed in to the account they set up
    device: SoftAuthenticator  # holding the passkey they registered


def claimed_by_an_attacker(app: App, provider: Provider) -> Attacker:
    """The attacker signs in with a provider that does not vouch for the victim's address,
    registers a passkey and turns TOTP on."""
    provider.signed_in = Person(sub="attacker-1", email=VICTIM)
    attacker = app.browser()
    assert app.sign_in_with(attacker, "plain").headers["location"] == "/sessions"
    me = attacker.get("/api/auth/me").json()
    assert me["email"] == VICTIM
    assert me["email_verified"] is None  # the provider did not vouch for it
    secret = attacker.post("/api/auth/totp/enroll", json={}).json()["secret"]
    confirmed = attacker.post("/api/auth/totp/confirm", json={"code": pyotp.TOTP(secret).now()})
    assert confirmed.status_code == 200
    user = app.store.get_user(me["id"])
    assert user is not None
    service = passkeys(app)
    challenge = service.registration_options(user)
    device = SoftAuthenticator()
    response = device.create(challenge.options, origin=PASSKEY_ORIGIN)
    service.register(user, response, state=challenge.state, name="attacker's key")
    return Attacker(browser=attacker, device=device)


def assert_the_attacker_is_out(app: App, provider: Provider, attacker: Attacker) -> None:
    assert attacker.browser.get("/api/auth/me").status_code == 401  # their session ended
    assert app.store.get_account("plain", "attacker-1") is None  # their link is gone
    service = passkeys(app)  # and their passkey signs in no more
    challenge = service.sign_in_options()
    response = attacker.device.get(challenge.options, origin=PASSKEY_ORIGIN)
    with pytest.raises(PasskeyVerificationError):
        service.sign_in(response, state=challenge.state)
    provider.signed_in = Person(sub="attacker-1", email=VICTIM)
    again = app.browser()
    assert app.sign_in_with(again, "plain").headers["location"] == "/sign-in?error=oauth_not_linked"
    assert again.get("/api/auth/me").status_code == 401
    notices = [
        m for m in app.app.state.demo.outbox_messages() if "address is confirmed" in m.subject
    ]
    assert len(notices) == 1
    assert notices[0].to == VICTIM
    assert "sign-in with plain" in notices[0].text
    assert "two-step sign-in" in notices[0].text
    assert "a passkey (attacker's key)" in notices[0].text


def test_a_password_reset_by_the_owner_takes_the_account_back(app: App, provider: Provider) -> None:
    attacker = claimed_by_an_attacker(app, provider)
    owner = app.browser()
    owner.post("/api/auth/password-reset", json={"email": VICTIM})
    link = last_link(app, VICTIM)
    reset = owner.post(
        "/api/auth/password-reset/confirm", json={**link, "new_password": "the owner's password"}
    )
    assert reset.status_code == 200, reset.text
    assert_the_attacker_is_out(app, provider, attacker)
    signed = owner.post(
        "/api/auth/sign-in", json={"email": VICTIM, "password": "the owner's password"}
    )
    assert signed.json()["status"] == "signed_in"  # no second step: the attacker's TOTP is gone


def test_a_magic_link_sign_in_by_the_owner_takes_the_account_back(
    app: App, provider: Provider
) -> None:
    attacker = claimed_by_an_attacker(app, provider)
    owner = app.browser()
    owner.post("/api/auth/magic-link", json={"email": VICTIM})
    signed = owner.post("/api/auth/magic-link/consume", json=last_link(app, VICTIM))
    assert signed.json()["status"] == "signed_in"
    assert owner.get("/api/auth/me").json()["email_verified"] is not None
    assert_the_attacker_is_out(app, provider, attacker)
    assert owner.get("/api/auth/me").status_code == 200  # the owner's own session stays


def test_signing_up_as_the_owner_leads_to_taking_the_account_back(
    app: App, provider: Provider
) -> None:
    attacker = claimed_by_an_attacker(app, provider)
    owner = app.browser()
    answer = owner.post("/api/auth/sign-up", json={"email": VICTIM, "password": "owner pass 1"})
    assert answer.status_code == 200
    # The address is taken: the owner is mailed a working reset link instead.
    link = last_link(app, VICTIM)
    assert set(link) == {"email", "token"}
    reset = owner.post(
        "/api/auth/password-reset/confirm", json={**link, "new_password": "owner pass 2"}
    )
    assert reset.status_code == 200, reset.text
    assert_the_attacker_is_out(app, provider, attacker)
    signed = owner.post("/api/auth/sign-in", json={"email": VICTIM, "password": "owner pass 2"})
    assert signed.json()["status"] == "signed_in"


def test_a_verification_link_the_attacker_had_sent_takes_the_account_back(
    app: App, provider: Provider
) -> None:
    attacker = claimed_by_an_attacker(app, provider)
    assert attacker.browser.post("/api/auth/verify-email/resend", json={}).status_code == 200
    owner = app.browser()  # the mail reaches the owner, who opens it
    signed = owner.post("/api/auth/verify-email", json=last_link(app, VICTIM))
    assert signed.json()["status"] == "signed_in"
    assert_the_attacker_is_out(app, provider, attacker)


def test_links_made_after_the_address_was_proven_stay(app: App, provider: Provider) -> None:
    owner = app.browser()
    owner.post("/api/auth/magic-link", json={"email": "kim@example.com"})
    owner.post("/api/auth/magic-link/consume", json=last_link(app, "kim@example.com"))
    provider.signed_in = Person(sub="kim-gh", email="kim@example.com")
    app.sign_in_with(owner, "plain")  # signed in: links to the verified account
    owner.post("/api/auth/magic-link", json={"email": "kim@example.com"})
    owner.post("/api/auth/magic-link/consume", json=last_link(app, "kim@example.com"))
    kim = app.store.get_user_by_email("kim@example.com")
    assert kim is not None
    assert kim.id is not None
    assert [a.provider_account_id for a in app.store.list_accounts(kim.id)] == ["kim-gh"]
