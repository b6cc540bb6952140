"""Security properties of the web layer, checked on both example apps (Flask and FastAPI).

Session fixation, immediate revocation, CSRF on every form post, cookie
flags, disabled users, and no account enumeration: equal answers and equal
work of sign-in for unknown, known, throttled and disabled addresses (the
time itself is measured in benchmarks/, never asserted here).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, urlencode, urlsplit

import pyotp
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

import auth_store
from auth_store.cli import cli
from auth_store.disabled import disabled_extra
from auth_store.flow import AuthFlow, Messages
from auth_store.mail import MemoryMailer
from auth_store.models import User
from examples.fastapi_app import create_app as create_fastapi_app
from examples.flask_app import create_app as create_flask_app
from tests.fake_clock import FakeClock
from tests.hash_work import HashWork, hash_work
from tests.sync_flow import sync_twin_of, warm_dummy_hash

__all__ = ["hash_work"]  # a fixture, used below

PASSWORD = "correct horse battery"
SESSION = "auth_store_session"


class Browser(Protocol):
    def get(self, path: str) -> tuple[int, str]: ...
    def post(self, path: str, data: dict[str, str]) -> tuple[int, str]: ...
    def cookie(self, name: str) -> str | None: ...
    def set_cookie(self, name: str, value: str) -> None: ...
    def set_cookie_headers(self) -> list[str]: ...
    def header(self, name: str) -> str | None: ...


class FlaskBrowser:
    def __init__(self, app: Any) -> None:
        self.client = app.test_client()
        self.last: list[str] = []
        self.headers: dict[str, str] = {}

    def get(self, path: str) -> tuple[int, str]:
        response = self.client.get(path)
        self.last = response.headers.getlist("Set-Cookie")
        self.headers = {k.lower(): v for k, v in response.headers.items()}
        return response.status_code, response.text

    def post(self, path: str, data: dict[str, str]) -> tuple[int, str]:
        response = self.client.post(path, data=data)
        self.last = response.headers.getlist("Set-Cookie")
        self.headers = {k.lower(): v for k, v in response.headers.items()}
        return response.status_code, response.text

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

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
        self.headers: dict[str, str] = {}

    def get(self, path: str) -> tuple[int, str]:
        response = self.client.get(path)
        self.last = response.headers.get_list("set-cookie")
        self.headers = {k.lower(): v for k, v in response.headers.items()}
        return response.status_code, response.text

    def post(self, path: str, data: dict[str, str]) -> tuple[int, str]:
        response = self.client.post(path, data=data)
        self.last = response.headers.get_list("set-cookie")
        self.headers = {k.lower(): v for k, v in response.headers.items()}
        return response.status_code, response.text

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

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
        self.url = f"sqlite:///{tmp_path}/auth.db"
        self.store = auth_store.connect(self.url)
        self.kind = kind
        scheme = "https" if secure else "http"
        host = "localhost" if kind == "flask" else "testserver"
        self.base_url = f"{scheme}://{host}"
        self.mailer = MemoryMailer()
        options: dict[str, Any] = {
            "base_url": self.base_url,
            "data_dir": tmp_path / "demo",
            "mailer": self.mailer,
            "secure_cookies": secure,
        }
        if kind == "flask":
            self.app: Any = create_flask_app(self.store, **options)
            self.flow: AuthFlow = self.app.extensions["auth_store"].flow
            self.served: Any = self.flow
        else:
            self.app = create_fastapi_app(self.store, **options)
            self.served = self.app.state.auth_store.flow  # the async twin
            self.flow = sync_twin_of(self.served, self.store, self.mailer)

    def browser(self) -> Browser:
        if self.kind == "flask":
            return FlaskBrowser(self.app)
        return StarletteBrowser(self.app, self.base_url)

    def user(self, email: str = "ann@example.com") -> User:
        user = self.store.create_user(User(email=email, email_verified=auth_store.clock.now()))
        assert user.id is not None
        self.flow.passwords.set_password(user.id, PASSWORD)
        return user

    def link(self, to: str) -> tuple[str, dict[str, str]]:
        """The path and query of the last link mailed to ``to``."""
        match = re.search(r"https?://[^/\s]+(/\S+)", self.mailer.last(to).text)
        assert match
        url = urlsplit(match.group(1))
        return url.path, {k: v[0] for k, v in parse_qs(url.query).items()}

    def users_command(self, *args: str) -> None:
        """Run ``auth-store users ...`` (the operator's CLI) on this site's store."""
        result = CliRunner().invoke(cli, ["--url", self.url, "users", *args])
        assert result.exit_code == 0, result.output


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


# -- disabled users ----------------------------------------------------------------------


def test_a_disabled_users_session_stops_at_once(site: Site) -> None:
    user = site.user()
    assert user.id is not None
    browser = site.browser()
    assert sign_in(browser) == 303
    assert signed_in(browser)
    # Only the flag, sessions left in place (as if a sign-in raced `users disable`):
    # the session layer itself refuses, and deletes the session.
    site.store.update_user(user.id, extra=disabled_extra(user))
    assert site.store.counts()["sessions"] == 1
    assert not signed_in(browser)
    assert site.store.counts()["sessions"] == 0
    site.users_command("enable", "ann@example.com")
    assert not signed_in(browser)  # enabling does not bring the session back
    assert sign_in(browser) == 303


def test_a_disabled_user_signs_in_like_a_wrong_password(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    FakeClock.install(monkeypatch)  # the pages' CSRF tokens are timestamped: hold the time
    site.user()
    laptop = site.browser()
    assert sign_in(laptop) == 303
    site.users_command("disable", "ann@example.com")
    assert not signed_in(laptop)

    browser = site.browser()
    _, page = browser.get("/sign-in")
    token = csrf_of(page)

    def attempt(password: str) -> tuple[int, str, list[str]]:
        form = {"email": "ann@example.com", "password": password, "csrf_token": token}
        status, body = browser.post("/sign-in", form)
        return status, body, browser.set_cookie_headers()

    wrong, right = attempt("not the password"), attempt(PASSWORD)
    assert right == wrong  # byte for byte: status, page and cookies
    assert right[0] == 401
    assert Messages.INVALID_CREDENTIALS in right[1]
    assert not signed_in(browser)
    site.users_command("enable", "ann@example.com")
    assert sign_in(browser) == 303


def test_a_disabled_user_is_refused_at_the_second_step(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock.install(monkeypatch)
    user = site.user()
    secret = site.flow.start_totp(user).secret
    site.flow.confirm_totp(user, pyotp.TOTP(secret).at(clock.now))
    browser = site.browser()
    assert sign_in(browser) == 303  # to the second step
    _, page = browser.get("/second-step")
    token = csrf_of(page)
    site.users_command("disable", "ann@example.com")

    code = pyotp.TOTP(secret).at(clock.now.timestamp() + 30)
    wrong = browser.post("/second-step", {"code": "000000", "csrf_token": token})
    right = browser.post("/second-step", {"code": code, "csrf_token": token})
    assert right == wrong
    assert right[0] == 401
    assert not signed_in(browser)
    site.users_command("enable", "ann@example.com")
    assert site.flow.totp.verify(user.id or "", code)  # the refused step spent no code


def test_the_second_step_finishes_one_sign_in_only(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock.install(monkeypatch)
    user = site.user()
    secret = site.flow.start_totp(user).secret
    backup_codes = site.flow.confirm_totp(user, pyotp.TOTP(secret).at(clock.now))
    browser = site.browser()
    assert sign_in(browser) == 303  # to the second step
    pending = browser.cookie("auth_store_pending")
    assert pending
    _, page = browser.get("/second-step")
    code = pyotp.TOTP(secret).at(clock.now.timestamp() + 30)
    status, _ = browser.post("/second-step", {"code": code, "csrf_token": csrf_of(page)})
    assert status == 303
    assert signed_in(browser)
    sessions = len(site.store.list_sessions(user.id or ""))

    # The same pending cookie, replayed with another valid code, signs in nobody.
    thief = site.browser()
    thief.set_cookie("auth_store_pending", pending)
    _, page = thief.get("/second-step")
    status, text = thief.post(
        "/second-step", {"code": backup_codes[0], "csrf_token": csrf_of(page)}
    )
    assert status == 400
    assert Messages.SECOND_STEP_EXPIRED in text
    assert not signed_in(thief)
    assert len(site.store.list_sessions(user.id or "")) == sessions


def test_a_disabled_user_is_refused_by_every_mailed_link(site: Site) -> None:
    user = site.user()
    browser = site.browser()
    _, page = browser.get("/magic-link")
    browser.post("/magic-link", {"email": "ann@example.com", "csrf_token": csrf_of(page)})
    magic = site.link("ann@example.com")
    browser.post("/reset-password", {"email": "ann@example.com", "csrf_token": csrf_of(page)})
    reset = site.link("ann@example.com")
    site.flow.request_email_verification(user)
    verify = site.link("ann@example.com")
    site.users_command("disable", "ann@example.com")

    for path, query in (magic, verify):
        _, confirm = browser.get(f"{path}?{urlencode(query)}")
        status, text = browser.post(path, {**query, "csrf_token": csrf_of(confirm)})
        assert "did not work" in text, path
        assert status == 200  # the same page as for a spent link
        assert not signed_in(browser)
    path, query = reset
    _, form = browser.get(f"{path}?{urlencode(query)}")
    status, text = browser.post(
        path, {**query, "new_password": "brand new pass", "csrf_token": csrf_of(form)}
    )
    assert status == 400
    assert Messages.INVALID_LINK in text
    assert not signed_in(browser)
    site.users_command("enable", "ann@example.com")
    assert sign_in(browser, password="brand new pass") == 401  # nothing was changed
    assert sign_in(browser) == 303


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


# -- account enumeration through the attempt limit ---------------------------------------


def test_a_throttled_address_answers_like_an_unknown_one(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock.install(monkeypatch)  # holds the CSRF timestamps and the throttle
    user = site.user("ann@example.com")
    assert user.id is not None
    browser = site.browser()
    _, page = browser.get("/sign-in")
    token = csrf_of(page)

    def attempt(email: str, password: str = "not the password") -> tuple[Any, ...]:
        form = {"email": email, "password": password, "csrf_token": token}
        status, body = browser.post("/sign-in", form)
        # The form is shown again with the address typed in; both addresses have
        # the same length and that echo is the only thing allowed to differ.
        echoed = body.replace(email, "<address>")
        return status, echoed, browser.set_cookie_headers(), browser.header("Retry-After")

    for _ in range(site.flow.limiter.free_failures):
        assert attempt("ann@example.com")[0] == 401
        assert attempt("bob@example.com")[0] == 401
    for _ in range(3):
        known, unknown = attempt("ann@example.com"), attempt("bob@example.com")
        assert known == unknown
        assert known[0] == 401
        assert known[3] is None
        assert Messages.INVALID_CREDENTIALS in known[1]
    # Inside, the limit holds: even the right password is refused, alike.
    assert not site.flow.limiter.status(user.id, "password").allowed
    assert attempt("ann@example.com", PASSWORD) == unknown
    assert not signed_in(browser)
    clock.advance(60)
    assert sign_in(browser) == 303


# -- the same work ------------------------------------------------------------------------


def assert_same_work(site: Site, hash_work: HashWork, known_email: str, unknown_email: str) -> None:
    """A wrong password for ``known_email`` costs what one for ``unknown_email`` does.

    The same answer and the same argon2 work (one verification at the flow's
    parameters). The time itself is measured in benchmarks/ (``enumeration``).
    """
    with TestClient(site.app) as client:

        def attempt(email: str) -> tuple[int, Any, list[tuple[str, str]]]:
            response = client.post(
                "/api/auth/sign-in", json={"email": email, "password": "not the password"}
            )
            return response.status_code, response.json(), hash_work.take()

        warm_dummy_hash(site.served)
        hash_work.take()
        for _ in range(3):
            known, unknown = attempt(known_email), attempt(unknown_email)
            assert known == unknown
            assert known[0] == 401
            assert len(known[2]) == 1
            assert known[2][0][0] == "verify"


def test_unknown_and_known_addresses_do_the_same_work(tmp_path: Path, hash_work: HashWork) -> None:
    site = Site("fastapi", tmp_path)
    site.user()
    assert_same_work(site, hash_work, "ann@example.com", "nobody@example.com")
    site.store.close()


def test_a_throttled_address_does_the_same_work_as_an_unknown_one(
    tmp_path: Path, hash_work: HashWork
) -> None:
    site = Site("fastapi", tmp_path)
    user = site.user()
    assert user.id is not None
    limiter = site.flow.limiter
    for _ in range(limiter.lockout_after):  # locked for 15 minutes: the whole test
        limiter.record_failure(user.id, "password")
    assert not limiter.status(user.id, "password").allowed
    assert_same_work(site, hash_work, "ann@example.com", "nobody@example.com")
    assert not limiter.status(user.id, "password").allowed
    site.store.close()
