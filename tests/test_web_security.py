"""Security properties of the web layer, checked on both example apps (Flask and FastAPI).

Session fixation, immediate revocation, CSRF on every form post, cookie
flags, and equal timing of sign-in for unknown and known addresses.
"""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import pytest
from fastapi.testclient import TestClient

import auth_store
from auth_store.flow import AuthFlow
from auth_store.mail import MemoryMailer
from auth_store.models import User
from examples.fastapi_app import create_app as create_fastapi_app
from examples.flask_app import create_app as create_flask_app

PASSWORD = "correct horse battery"
SESSION = "auth_store_session"


class Browser(Protocol):
    def get(self, path: str) -> tuple[int, str]: ...
    def post(self, path: str, data: dict[str, str]) -> tuple[int, str]: ...
    def cookie(self, name: str) -> str | None: ...
    def set_cookie(self, name: str, value: str) -> None: ...
    def set_cookie_headers(self) -> list[str]: ...


class FlaskBrowser:
    def __init__(self, app: Any) -> None:
        self.client = app.test_client()
        self.last: list[str] = []

    def get(self, path: str) -> tuple[int, str]:
        response = self.client.get(path)
        self.last = response.headers.getlist("Set-Cookie")
        return response.status_code, response.text

    def post(self, path: str, data: dict[str, str]) -> tuple[int, str]:
        response = self.client.post(path, data=data)
        self.last = response.headers.getlist("Set-Cookie")
        return response.status_code, response.text

    def cookie(self, name: str) -> str | None:
        found = self.client.get_cookie(name)
        return found.value if found is not None else None

    def set_cookie(self, name: str, value: str) -> None:
        self.client.set_cookie(name, value)

    def set_cookie_headers(self) -> list[str]:
        return self.last


class StarletteBrowser:
    def __init__(self, app: Any, base_url: str) -> None:
        self.client = TestClient(app, base_url=base_url, follow_redirects=False)
        self.last: list[str] = []

    def get(self, path: str) -> tuple[int, str]:
        response = self.client.get(path)
        self.last = response.headers.get_list("set-cookie")
        return response.status_code, response.text

    def post(self, path: str, data: dict[str, str]) -> tuple[int, str]:
        response = self.client.post(path, data=data)
        self.last = response.headers.get_list("set-cookie")
        return response.status_code, response.text

    def cookie(self, name: str) -> str | None:
        return self.client.cookies.get(name)

    def set_cookie(self, name: str, value: str) -> None:
        # httpx files cookies of a dotless host under "<host>.local".
        self.client.cookies.set(name, value, domain="testserver.local")

    def set_cookie_headers(self) -> list[str]:
        return self.last


class Site:
    def __init__(self, kind: str, tmp_path: Path, *, secure: bool = False) -> None:
        tmp_path.mkdir(parents=True, exist_ok=True)
        self.store = auth_store.connect(f"sqlite:///{tmp_path}/auth.db")
        self.kind = kind
        scheme = "https" if secure else "http"
        host = "localhost" if kind == "flask" else "testserver"
        self.base_url = f"{scheme}://{host}"
        options: dict[str, Any] = {
            "base_url": self.base_url,
            "data_dir": tmp_path / "demo",
            "mailer": MemoryMailer(),
            "secure_cookies": secure,
        }
        if kind == "flask":
            self.app: Any = create_flask_app(self.store, **options)
            self.flow: AuthFlow = self.app.extensions["auth_store"].flow
        else:
            self.app = create_fastapi_app(self.store, **options)
            self.flow = self.app.state.auth_store.flow

    def browser(self) -> Browser:
        if self.kind == "flask":
            return FlaskBrowser(self.app)
        return StarletteBrowser(self.app, self.base_url)

    def user(self, email: str = "ann@example.com") -> User:
        user = self.store.create_user(User(email=email, email_verified=auth_store.clock.now()))
        assert user.id is not None
        self.flow.passwords.set_password(user.id, PASSWORD)
        return user


@pytest.fixture(params=["flask", "fastapi"])
def site(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Site]:
    made = Site(request.param, tmp_path)
    yield made
    made.store.close()


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


def sign_in(browser: Browser, email: str = "ann@example.com", password: str = PASSWORD) -> int:
    _, page = browser.get("/sign-in")
    status, _ = browser.post(
        "/sign-in", {"email": email, "password": password, "csrf_token": csrf_of(page)}
    )
    return status


def signed_in(browser: Browser) -> bool:
    status, _ = browser.get("/account")
    return status == 200


# -- session fixation ------------------------------------------------------------------


def test_sign_in_issues_a_new_session_token(site: Site) -> None:
    site.user()
    browser = site.browser()
    assert sign_in(browser) == 303
    first = browser.cookie(SESSION)
    assert first
    assert sign_in(browser) == 303
    second = browser.cookie(SESSION)
    assert second
    assert second != first
    # The session the browser brought was ended, not left alive beside the new one.
    replay = site.browser()
    replay.set_cookie(SESSION, first)
    assert not signed_in(replay)
    assert site.store.counts()["sessions"] == 1


def test_a_planted_session_cookie_is_replaced(site: Site) -> None:
    site.user()
    attacker = site.browser()
    sign_in(attacker)  # the attacker's own, valid session
    planted = attacker.cookie(SESSION)
    assert planted

    victim = site.browser()
    victim.set_cookie(SESSION, planted)
    assert sign_in(victim) == 303
    assert victim.cookie(SESSION) != planted
    assert not signed_in(attacker)


# -- revocation ---------------------------------------------------------------------


def test_revoked_sessions_stop_at_once(site: Site) -> None:
    user = site.user()
    laptop, phone = site.browser(), site.browser()
    sign_in(laptop)
    sign_in(phone)
    assert signed_in(laptop)
    assert signed_in(phone)

    _, page = phone.get("/sessions")
    status, _ = phone.post("/sessions/revoke-others", {"csrf_token": csrf_of(page)})
    assert status == 303
    assert not signed_in(laptop)  # the very next request
    assert signed_in(phone)

    assert user.id is not None
    site.flow.sessions.revoke_all(user.id)  # e.g. an operator, from another process
    assert not signed_in(phone)


# -- CSRF -------------------------------------------------------------------------------


FORM_POSTS = [
    ("/sign-up", {"email": "x@example.com", "password": PASSWORD}),
    ("/sign-in", {"email": "ann@example.com", "password": PASSWORD}),
    ("/magic-link", {"email": "ann@example.com"}),
    ("/reset-password", {"email": "ann@example.com"}),
    ("/second-step", {"code": "123456"}),
    ("/sign-out", {}),
    ("/account/password", {"current_password": PASSWORD, "new_password": "n" * 12}),
    ("/sessions/revoke-others", {}),
    ("/api-keys", {"label": "l", "provider": "p", "key": "k" * 20}),
]


def form_posts(site: Site) -> list[str]:
    """Every path the example's HTML pages post to (path parameters filled in)."""
    if site.kind == "flask":
        rules = [r.rule for r in site.app.url_map.iter_rules() if "POST" in (r.methods or ())]
        return [re.sub(r"<[^>]+>", "x", rule) for rule in rules]
    with TestClient(site.app) as client:
        paths = client.get("/openapi.json").json()["paths"]
    # The JSON API under /api takes application/json only (see test_fastapi).
    return [
        re.sub(r"\{[^}]+\}", "x", path)
        for path, operations in paths.items()
        if "post" in operations and not path.startswith("/api/")
    ]


def test_every_form_post_needs_the_csrf_token(site: Site) -> None:
    site.user()
    browser, other = site.browser(), site.browser()
    sign_in(browser)
    _, foreign_page = other.get("/sign-in")
    foreign = csrf_of(foreign_page)
    realistic = dict(FORM_POSTS)
    posts = form_posts(site)
    assert set(realistic) <= set(posts)
    assert len(posts) >= 18  # the account, TOTP, backup-code, key and link pages too
    for path in posts:
        data = realistic.get(path, {})
        missing, _ = browser.post(path, data)
        assert missing == 400, path
        wrong, _ = browser.post(path, {**data, "csrf_token": foreign})
        assert wrong == 400, path
    assert signed_in(browser)  # nothing above took effect
    _, page = browser.get("/account")
    status, _ = browser.post("/sign-out", {"csrf_token": csrf_of(page)})
    assert status == 303
    assert not signed_in(browser)


# -- cookie flags ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["flask", "fastapi"])
def test_cookie_flags(kind: str, tmp_path: Path) -> None:
    secure_site = Site(kind, tmp_path, secure=True)
    secure_site.user()
    browser = secure_site.browser()
    _, page = browser.get("/sign-in")
    browser.post(
        "/sign-in", {"email": "ann@example.com", "password": PASSWORD, "csrf_token": csrf_of(page)}
    )
    headers = browser.set_cookie_headers()
    [session] = [h for h in headers if h.startswith(f"{SESSION}=")]
    flags = {part.strip().split("=")[0].lower() for part in session.split(";")[1:]}
    assert {"httponly", "secure", "samesite", "max-age", "path"} <= flags
    assert "samesite=lax" in session.lower()
    max_age = int(re.search(r"Max-Age=(\d+)", session, re.IGNORECASE).group(1))  # type: ignore[union-attr]
    assert 30 * 86400 - 60 <= max_age <= 30 * 86400
    for header in headers:
        assert "httponly" in header.lower()
        assert "secure" in header.lower()
    secure_site.store.close()

    local = Site(kind, tmp_path / "local")
    local.user()
    plain = local.browser()
    _, page = plain.get("/sign-in")
    plain.post(
        "/sign-in", {"email": "ann@example.com", "password": PASSWORD, "csrf_token": csrf_of(page)}
    )
    [session] = [h for h in plain.set_cookie_headers() if h.startswith(f"{SESSION}=")]
    assert "secure" not in session.lower()  # configurable for local http
    assert "httponly" in session.lower()
    local.store.close()


# -- timing ------------------------------------------------------------------------------


def test_unknown_and_known_addresses_take_the_same_time(tmp_path: Path) -> None:
    site = Site("fastapi", tmp_path)
    user = site.user()
    client = TestClient(site.app)
    assert user.id is not None
    user_id = user.id

    def attempt(email: str) -> Callable[[], float]:
        def run() -> float:
            started = time.perf_counter()
            response = client.post(
                "/api/auth/sign-in", json={"email": email, "password": "not the password"}
            )
            elapsed = time.perf_counter() - started
            assert response.status_code == 401
            return elapsed

        return run

    known_run, unknown_run = attempt("ann@example.com"), attempt("nobody@example.com")
    known_run(), unknown_run()  # warm up
    known: list[float] = []
    unknown: list[float] = []
    for _ in range(15):  # interleaved, so drift in machine load hits both alike
        known.append(known_run())
        unknown.append(unknown_run())
        site.flow.limiter.reset(user_id)  # stay below the throttle (not timed)

    def spread(samples: list[float]) -> float:
        quartiles = statistics.quantiles(samples, n=4)
        return quartiles[2] - quartiles[0]

    known_median, unknown_median = statistics.median(known), statistics.median(unknown)
    difference = abs(known_median - unknown_median)
    # "Within noise": the gap between the medians is no larger than the spread of
    # the runs themselves (with a floor at a small share of one password hash,
    # for a machine so quiet that the spread is near zero). Skipping the hash for
    # unknown addresses would make the gap nearly the whole hash time.
    noise = max(spread(known), spread(unknown), 0.15 * known_median)
    assert difference <= noise, (
        f"known {known_median * 1000:.1f} ms vs unknown {unknown_median * 1000:.1f} ms, "
        f"noise {noise * 1000:.1f} ms"
    )
    site.store.close()
