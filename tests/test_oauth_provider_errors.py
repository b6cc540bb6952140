"""A provider that fails sends the person back to the sign-in page, never to a 500.

The provider here is a real HTTP server on 127.0.0.1 that answers the token
and userinfo requests the way broken or hostile providers do: an OAuth error
(``invalid_grant`` for an expired, replayed or bogus code), a 500, HTML where
JSON belongs, JSON of the wrong shape, a connection that is refused. Both
example apps (FastAPI and Flask) must redirect to ``/sign-in?error=oauth_failed``
and show the error there, with no user created.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

import auth_store
from auth_store.oauth import OAuthProvider, Profile
from examples.demo_support import ERRORS
from examples.fastapi_app import create_app as create_fastapi_app
from examples.flask_app import create_app as create_flask_app
from tests.chromium import free_port

Reply = tuple[int, str, bytes]

GOOD_TOKEN: Reply = (
    200,
    "application/json",
    json.dumps({"access_token": "at-1", "token_type": "Bearer", "expires_in": 3600}).encode(),
)
GOOD_PROFILE: Reply = (
    200,
    "application/json",
    json.dumps({"id": "p-1", "email": "pat@example.com"}).encode(),
)


class BrokenProvider:
    """A provider whose token and userinfo endpoints answer what a test sets."""

    def __init__(self) -> None:
        self.token: Reply = GOOD_TOKEN
        self.userinfo: Reply = GOOD_PROFILE
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _reply(self, reply: Reply) -> None:
                status, media, body = reply
                self.send_response(status)
                self.send_header("Content-Type", media)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self._reply(provider.token if self.path == "/token" else (404, "text/plain", b""))

            def do_GET(self) -> None:
                self._reply(
                    provider.userinfo if self.path == "/userinfo" else (404, "text/plain", b"")
                )

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


def provider_config(url: str, token_url: str | None = None) -> OAuthProvider:
    def profile(data: Any) -> Profile:
        return Profile(id=str(data["id"]), email=data.get("email"))

    return OAuthProvider(
        name="local",
        client_id="client-1",
        client_secret="secret-1",
        authorize_url=f"{url}/authorize",
        token_url=token_url or f"{url}/token",
        userinfo_url=f"{url}/userinfo",
        scope="profile",
        profile=profile,
    )


@pytest.fixture
def provider() -> Iterator[BrokenProvider]:
    running = BrokenProvider()
    yield running
    running.close()


class Site:
    """One example app with the provider configured, driven by its framework's test client."""

    def __init__(self, kind: str, tmp_path: Path, config: OAuthProvider) -> None:
        self.store = auth_store.connect(f"sqlite:///{tmp_path}/auth.db")
        options: dict[str, Any] = {"data_dir": tmp_path / "demo", "providers": (config,)}
        self.kind = kind
        if kind == "fastapi":
            fastapi_app = create_fastapi_app(self.store, base_url="http://testserver", **options)
            self.client: Any = TestClient(fastapi_app, follow_redirects=False)
        else:
            flask_app = create_flask_app(self.store, base_url="http://localhost", **options)
            self.client = flask_app.test_client()
        self.prefix = "/api/auth"

    def get(self, path: str) -> tuple[int, str, str]:
        """Status, Location and body of a GET."""
        response = self.client.get(path)
        return response.status_code, response.headers.get("location", ""), response.text

    def round_trip(self) -> tuple[int, str]:
        """Start a sign-in and come back from the provider with a code: status and Location."""
        status, location, _ = self.get(f"{self.prefix}/oauth/local/login")
        assert status == 302, location
        state = parse_qs(urlsplit(location).query)["state"][0]
        status, location, body = self.get(
            f"{self.prefix}/oauth/local/callback?code=some-code&state={state}"
        )
        assert status != 500, body
        return status, location


@pytest.fixture(params=["fastapi", "flask"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


FAILURES: dict[str, tuple[Reply | None, Reply | None]] = {
    # (token endpoint's reply, userinfo's reply); None: the good one
    "invalid_grant": (
        (400, "application/json", b'{"error": "invalid_grant", "error_description": "bad code"}'),
        None,
    ),
    "invalid_grant_with_200": ((200, "application/json", b'{"error": "invalid_grant"}'), None),
    "token_server_error": ((500, "text/html", b"<h1>Internal Server Error</h1>"), None),
    "token_is_html": ((200, "text/html", b"<html><body>Sign in</body></html>"), None),
    "token_is_a_list": ((200, "application/json", b"[1, 2, 3]"), None),
    "token_without_access_token": ((200, "application/json", b'{"token_type": "Bearer"}'), None),
    "token_of_wrong_types": (
        (200, "application/json", b'{"access_token": 5, "token_type": [], "expires_in": "x"}'),
        None,
    ),
    "userinfo_server_error": (None, (502, "text/plain", b"bad gateway")),
    "userinfo_is_html": (None, (200, "text/html", b"<html></html>")),
    "userinfo_is_a_list": (None, (200, "application/json", b"[]")),
    "userinfo_without_id": (None, (200, "application/json", b'{"email": "pat@example.com"}')),
}


@pytest.mark.parametrize("failure", sorted(FAILURES))
def test_a_failing_provider_sends_the_user_back_to_sign_in(
    kind: str, failure: str, provider: BrokenProvider, tmp_path: Path
) -> None:
    token, userinfo = FAILURES[failure]
    provider.token = token or GOOD_TOKEN
    provider.userinfo = userinfo or GOOD_PROFILE
    site = Site(kind, tmp_path, provider_config(provider.url))
    status, location = site.round_trip()
    assert status in (302, 303)
    assert location == "/sign-in?error=oauth_failed"
    page_status, _, page = site.get(location)
    assert page_status == 200
    assert ERRORS["oauth_failed"] in page
    assert site.store.get_user_by_email("pat@example.com") is None
    site.store.close()


def test_an_unreachable_token_endpoint_sends_the_user_back_to_sign_in(
    kind: str, provider: BrokenProvider, tmp_path: Path
) -> None:
    nothing_listens = f"http://127.0.0.1:{free_port()}/token"
    site = Site(kind, tmp_path, provider_config(provider.url, token_url=nothing_listens))
    status, location = site.round_trip()
    assert (status, location) in ((302, "/sign-in?error=oauth_failed"),)
    assert ERRORS["oauth_failed"] in site.get(location)[2]
    site.store.close()


def test_the_good_provider_signs_in(kind: str, provider: BrokenProvider, tmp_path: Path) -> None:
    # The control: the same round trip with good answers creates the user.
    site = Site(kind, tmp_path, provider_config(provider.url))
    status, location = site.round_trip()
    assert status == 302
    assert location == "/"
    assert site.store.get_user_by_email("pat@example.com") is not None
    site.store.close()
