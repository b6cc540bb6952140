"""The example apps as a visitor meets them, on both frameworks (Flask and FastAPI).

Security headers on every answer, no caching of pages that show a secret,
GET requests that change nothing, TOTP enrolment that keeps its key, Secure
cookies by setting, the outbox only on localhost, styled error pages (JSON
under the API prefix), the sessions page with device, address and times,
messages that read as sentences, and the mail sent on sign-up with a taken
address leading to a reset that works.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
from fastapi.testclient import TestClient

import auth_store
from auth_store.mail import MemoryMailer
from auth_store.models import User
from examples.fastapi_app import create_app as create_fastapi_app
from examples.flask_app import create_app as create_flask_app
from tests.fake_clock import FakeClock
from tests.sync_flow import sync_twin_of

PASSWORD = "correct horse battery"
CHROME_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36"
)
FIREFOX_UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"


class Answer:
    def __init__(self, status: int, headers: dict[str, str], text: str, url: str) -> None:
        self.status = status
        self.headers = headers
        self.text = text
        self.url = url

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class Browser:
    """One visitor: the framework's test client with its cookie jar, on a chosen address."""

    def __init__(self, site: Site, *, ip: str = "203.0.113.9", user_agent: str = CHROME_UA) -> None:
        self.site = site
        self.user_agent = user_agent
        self.ip = ip
        if site.kind == "fastapi":
            self.client: Any = TestClient(
                site.app,
                base_url=site.base_url,
                follow_redirects=False,
                raise_server_exceptions=False,
                client=(ip, 50000),
                headers={"User-Agent": user_agent},
            )
        else:
            self.client = site.app.test_client()

    def _answer(self, response: Any) -> Answer:
        headers = {k.lower(): v for k, v in response.headers.items()}
        answer = Answer(response.status_code, headers, response.text, "")
        response.close()
        return answer

    def get(self, path: str, headers: dict[str, str] | None = None) -> Answer:
        if self.site.kind == "fastapi":
            return self._answer(self.client.get(path, headers=headers))
        return self._answer(
            self.client.get(
                path,
                headers={"User-Agent": self.user_agent, **(headers or {})},
                environ_base={"REMOTE_ADDR": self.ip},
            )
        )

    def post(
        self, path: str, data: dict[str, str], headers: dict[str, str] | None = None
    ) -> Answer:
        if self.site.kind == "fastapi":
            return self._answer(self.client.post(path, data=data, headers=headers))
        return self._answer(
            self.client.post(
                path,
                data=data,
                headers={"User-Agent": self.user_agent, **(headers or {})},
                environ_base={"REMOTE_ADDR": self.ip},
            )
        )

    def form(self, page: str, action: str, **data: str) -> Answer:
        """Open ``page``, then post its form to ``action`` with its CSRF token."""
        opened = self.get(page)
        return self.post(action, {**data, "csrf_token": csrf_of(opened.text)})

    def sign_in(self, email: str = "ann@example.com", password: str = PASSWORD) -> Answer:
        return self.form("/sign-in", "/sign-in", email=email, password=password)


class Site:
    def __init__(self, kind: str, tmp_path: Path, *, base_url: str | None = None, **options: Any):
        tmp_path.mkdir(parents=True, exist_ok=True)
        self.kind = kind
        self.store = auth_store.connect(f"sqlite:///{tmp_path}/auth.db")
        self.base_url = base_url or (
            "http://localhost" if kind == "flask" else "http://localhost:8000"
        )
        self.mailer = options.pop("mailer", MemoryMailer())
        create: Any = create_flask_app if kind == "flask" else create_fastapi_app
        self.app: Any = create(
            self.store,
            base_url=self.base_url,
            data_dir=tmp_path / "demo",
            mailer=self.mailer,
            **options,
        )
        demo = self.app.extensions["demo"] if kind == "flask" else self.app.state.demo
        # FastAPI serves the async twin: the test sets things up through its sync twin.
        self.flow = sync_twin_of(demo.flow, self.store)

    def browser(self, **options: Any) -> Browser:
        return Browser(self, **options)

    def user(self, email: str = "ann@example.com") -> User:
        user = self.store.create_user(User(email=email, email_verified=auth_store.clock.now()))
        self.flow.passwords.set_password(user.id, PASSWORD)
        return user

    def link(self, to: str) -> tuple[str, dict[str, str]]:
        match = re.search(r"https?://[^/\s]+(/\S+)", self.mailer.last(to).text)
        assert match
        url = urlsplit(match.group(1))
        return url.path, {k: v[0] for k, v in parse_qs(url.query).items()}


@pytest.fixture(params=["flask", "fastapi"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def site(kind: str, tmp_path: Path) -> Any:
    made = Site(kind, tmp_path)
    yield made
    made.store.close()


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


def totp_secret_on(html: str) -> str | None:
    match = re.search(r'id="totp-secret">([A-Z2-7]+)<', html)
    return match.group(1) if match else None


# -- item 8: headers, caching, GET, cookies, outbox ------------------------------------


def assert_security_headers(answer: Answer) -> None:
    csp = answer.header("Content-Security-Policy") or ""
    assert "frame-ancestors 'none'" in csp
    assert "default-src 'none'" in csp
    assert "'unsafe-inline'" not in csp
    assert answer.header("X-Content-Type-Options") == "nosniff"
    assert answer.header("Referrer-Policy") == "no-referrer"


def test_every_answer_carries_the_security_headers(site: Site) -> None:
    site.user()
    browser = site.browser()
    answers = [
        browser.get("/"),
        browser.get("/sign-in"),
        browser.get("/static/demo.css"),
        browser.get("/account"),  # a redirect
        browser.get("/no-such-page"),  # a 404
        browser.get("/api/auth/passkeys"),  # JSON, 401
        browser.post("/sign-in", {"email": "x@example.com", "password": "y"}),  # CSRF 400
    ]
    assert browser.sign_in().status == 303
    answers += [browser.get("/account"), browser.get("/sessions"), browser.get("/outbox")]
    for answer in answers:
        assert_security_headers(answer)


def test_pages_that_show_a_secret_are_not_cached(site: Site) -> None:
    user = site.user()
    browser = site.browser()
    browser.sign_in()
    assert browser.get("/account").header("Cache-Control") is None  # only where needed

    enrol = browser.form("/account/totp", "/account/totp/start")
    assert enrol.status == 303
    page = browser.get("/account/totp")
    secret = totp_secret_on(page.text)
    assert secret
    assert page.header("Cache-Control") == "no-store"

    codes = browser.post(
        "/account/totp", {"code": pyotp.TOTP(secret).now(), "csrf_token": csrf_of(page.text)}
    )
    assert codes.text.count("<li>") == 10
    assert codes.header("Cache-Control") == "no-store"

    site.flow.api_keys.add(user.id, label="llm", provider="acme", key="sk-secret-12345678")
    [key] = site.flow.api_keys.list(user.id)
    revealed = browser.form("/api-keys", f"/api-keys/{key.id}/reveal")
    assert "sk-secret-12345678" in revealed.text
    assert revealed.header("Cache-Control") == "no-store"


def test_a_get_of_the_totp_page_changes_nothing(site: Site) -> None:
    user = site.user()
    browser = site.browser()
    browser.sign_in()
    for _ in range(2):
        page = browser.get("/account/totp")
        assert page.status == 200
        assert 'id="start-totp"' in page.text
        assert totp_secret_on(page.text) is None
    assert not site.flow.totp.is_pending(user.id)
    assert site.store.list_credentials(user.id, type="totp") == []

    browser.form("/account/totp", "/account/totp/start")
    first = totp_secret_on(browser.get("/account/totp").text)
    again = totp_secret_on(browser.get("/account/totp").text)
    assert first is not None
    assert first == again  # reloading shows the same key


@pytest.mark.parametrize(
    ("base_url", "setting", "secure"),
    [
        ("https://auth.example.com", None, True),
        ("http://localhost:8000", None, False),
        ("http://localhost:8000", "on", True),
        ("https://auth.example.com", "off", False),
    ],
)
def test_secure_cookies_follow_the_setting_and_the_scheme(
    kind: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    base_url: str,
    setting: str | None,
    secure: bool,
) -> None:
    if setting is None:
        monkeypatch.delenv("DEMO_SECURE_COOKIES", raising=False)
    else:
        monkeypatch.setenv("DEMO_SECURE_COOKIES", setting)
    site = Site(kind, tmp_path, base_url=base_url)
    site.user()
    # The test client speaks https, so it sends Secure cookies back either way.
    if kind == "fastapi":
        client: Any = TestClient(site.app, base_url="https://localhost", follow_redirects=False)
        page = client.get("/sign-in").text
        data = {"email": "ann@example.com", "password": PASSWORD, "csrf_token": csrf_of(page)}
        set_cookies = client.post("/sign-in", data=data).headers.get_list("set-cookie")
    else:
        client = site.app.test_client()
        page = client.get("/sign-in", base_url="https://localhost").text
        data = {"email": "ann@example.com", "password": PASSWORD, "csrf_token": csrf_of(page)}
        answer = client.post("/sign-in", data=data, base_url="https://localhost")
        set_cookies = answer.headers.getlist("Set-Cookie")
    [session] = [c for c in set_cookies if c.startswith("auth_store_session=")]
    assert ("; secure" in session.lower()) is secure
    site.store.close()


def test_the_outbox_is_a_development_tool_on_localhost_only(kind: str, tmp_path: Path) -> None:
    local = Site(kind, tmp_path / "local", base_url="http://localhost:8000", mailer=None)
    page = local.browser().get("/outbox")
    assert page.status == 200
    assert "Development tool" in page.text
    local.store.close()

    public = Site(kind, tmp_path / "public", base_url="https://auth.example.com", mailer=None)
    browser = public.browser()
    assert browser.get("/outbox").status == 404
    assert 'href="/outbox"' not in browser.get("/").text
    public.store.close()


# -- item 10: TOTP enrolment keeps its key -----------------------------------------------


def test_a_wrong_enrolment_code_stays_on_the_page_and_the_right_one_works(site: Site) -> None:
    user = site.user()
    browser = site.browser()
    browser.sign_in()
    browser.form("/account/totp", "/account/totp/start")
    page = browser.get("/account/totp")
    secret = totp_secret_on(page.text)
    assert secret

    wrong = browser.post("/account/totp", {"code": "000000", "csrf_token": csrf_of(page.text)})
    assert wrong.status == 401
    assert "That code is not valid" in wrong.text
    assert totp_secret_on(wrong.text) == secret  # still the enrolment page, same key

    # Back on the account page and in again: the key the person scanned still works.
    browser.get("/account")
    browser.form("/account/totp", "/account/totp/start")
    again = browser.get("/account/totp")
    assert totp_secret_on(again.text) == secret
    right = browser.post(
        "/account/totp", {"code": pyotp.TOTP(secret).now(), "csrf_token": csrf_of(again.text)}
    )
    assert right.status == 200
    assert right.text.count("<li>") == 10
    assert site.flow.totp.is_enabled(user.id)


def test_a_pending_enrolment_expires(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock.install(monkeypatch)
    user = site.user()
    browser = site.browser()
    browser.sign_in()
    browser.form("/account/totp", "/account/totp/start")
    old = totp_secret_on(browser.get("/account/totp").text)
    assert old
    clock.advance(timedelta(hours=1, seconds=1))
    page = browser.get("/account/totp")
    assert totp_secret_on(page.text) is None  # expired: a button to start again
    late = browser.post(
        "/account/totp", {"code": pyotp.TOTP(old).at(clock.now), "csrf_token": csrf_of(page.text)}
    )
    assert late.status == 401
    assert not site.flow.totp.is_enabled(user.id)
    browser.form("/account/totp", "/account/totp/start")
    fresh = totp_secret_on(browser.get("/account/totp").text)
    assert fresh
    assert fresh != old


# -- item 11: error pages ---------------------------------------------------------------


def assert_error_page(answer: Answer, status: int, text: str) -> None:
    assert answer.status == status
    assert (answer.header("Content-Type") or "").startswith("text/html")
    assert '<link rel="stylesheet" href="/static/demo.css">' in answer.text  # the site's layout
    assert 'id="error-heading"' in answer.text
    assert text in answer.text


def test_a_missing_page_is_a_styled_404(site: Site) -> None:
    assert_error_page(site.browser().get("/no/such/page"), 404, "Page not found")


def test_an_expired_form_is_a_styled_400(site: Site) -> None:
    browser = site.browser()
    answer = browser.post("/sign-in", {"email": "ann@example.com", "password": PASSWORD})
    assert_error_page(answer, 400, "The form expired or came from another site")
    forged = browser.post(
        "/sign-in", {"email": "ann@example.com", "password": PASSWORD, "csrf_token": "forged"}
    )
    assert_error_page(forged, 400, "The form expired or came from another site")


def test_an_incomplete_form_is_a_styled_400(site: Site) -> None:
    browser = site.browser()
    answer = browser.form("/sign-in", "/sign-in", email="ann@example.com")  # no password
    assert answer.status == 400
    assert_error_page(answer, 400, "This request did not work")


def test_too_many_attempts_is_a_styled_429(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock.install(monkeypatch)
    user = site.user()
    secret = site.flow.start_totp(user).secret
    site.flow.confirm_totp(user, pyotp.TOTP(secret).at(clock.now))
    browser = site.browser()
    assert browser.sign_in().status == 303
    page = browser.get("/second-step")
    statuses = []
    for _ in range(30):
        answer = browser.post("/second-step", {"code": "000000", "csrf_token": csrf_of(page.text)})
        statuses.append(answer.status)
        if answer.status == 429:
            break
    assert statuses[-1] == 429
    assert '<link rel="stylesheet" href="/static/demo.css">' in answer.text
    assert "Too many attempts. Try again in" in answer.text


def test_a_server_failure_is_a_styled_500_and_json_under_the_api(site: Site) -> None:
    site.user()
    browser = site.browser()
    page = browser.get("/sign-in")
    site.store.close()  # the database goes away under the running app
    failed = browser.post(
        "/sign-in",
        {"email": "ann@example.com", "password": PASSWORD, "csrf_token": csrf_of(page.text)},
    )
    assert_error_page(failed, 500, "Something went wrong on our side")
    assert PASSWORD not in failed.text
    assert "Traceback" not in failed.text


def test_a_server_failure_for_a_signed_in_user_is_a_styled_500(site: Site) -> None:
    site.user()
    browser = site.browser()
    assert browser.sign_in().status == 303
    site.store.close()  # reading the session cookie now fails
    failed = browser.get("/account")
    assert_error_page(failed, 500, "Something went wrong on our side")
    api = browser.get("/api/auth/passkeys")
    assert api.status == 500
    assert (api.header("Content-Type") or "").startswith("application/json")


def test_errors_under_the_api_prefix_stay_json(site: Site) -> None:
    browser = site.browser()
    missing = browser.get("/api/auth/no-such-endpoint", headers={"Accept": "text/html"})
    assert missing.status == 404
    assert (missing.header("Content-Type") or "").startswith("application/json")
    who = browser.get("/api/auth/passkeys", headers={"Accept": "text/html"})
    assert who.status == 401
    assert (who.header("Content-Type") or "").startswith("application/json")


# -- item 12: the sessions page ----------------------------------------------------------


def test_the_sessions_page_shows_device_address_and_times(site: Site) -> None:
    user = site.user()
    laptop = site.browser(ip="203.0.113.9", user_agent=CHROME_UA)
    phone = site.browser(ip="2001:db8::7", user_agent=FIREFOX_UA)
    assert laptop.sign_in().status == 303
    assert phone.sign_in().status == 303
    page = laptop.get("/sessions").text
    assert "Chrome 126 on Linux" in page
    assert "Firefox 128 on Windows" in page
    assert "203.0.113.9" in page
    assert "2001:db8::7" in page
    stored = {s.ip_address: s for s in site.store.list_sessions(user.id)}
    assert set(stored) == {"203.0.113.9", "2001:db8::7"}
    assert stored["203.0.113.9"].user_agent == CHROME_UA
    for session in stored.values():
        assert session.created_at is not None
        assert session.updated_at is not None
        assert f"{session.created_at:%Y-%m-%d %H:%M} UTC" in page


def test_x_forwarded_for_counts_only_behind_a_trusted_proxy(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spoofed = {"X-Forwarded-For": "198.51.100.66"}
    plain = Site(kind, tmp_path / "plain")
    user = plain.user()
    browser = plain.browser(ip="10.0.0.2")
    page = browser.get("/sign-in")
    browser.post(
        "/sign-in",
        {"email": "ann@example.com", "password": PASSWORD, "csrf_token": csrf_of(page.text)},
        headers=spoofed,
    )
    [session] = plain.store.list_sessions(user.id)
    assert session.ip_address == "10.0.0.2"  # the header is anyone's to send
    plain.store.close()

    monkeypatch.setenv("DEMO_TRUSTED_PROXIES", "10.0.0.0/24")
    proxied = Site(kind, tmp_path / "proxied")
    user = proxied.user()
    browser = proxied.browser(ip="10.0.0.2")
    page = browser.get("/sign-in")
    browser.post(
        "/sign-in",
        {"email": "ann@example.com", "password": PASSWORD, "csrf_token": csrf_of(page.text)},
        # The client made up the first entry; the proxy appended what it saw.
        headers={"X-Forwarded-For": "192.0.2.1, 198.51.100.7"},
    )
    [session] = proxied.store.list_sessions(user.id)
    assert session.ip_address == "198.51.100.7"
    proxied.store.close()


# -- item 13: messages as sentences ------------------------------------------------------


def test_a_refused_password_reads_as_a_sentence(site: Site) -> None:
    answer = site.browser().form("/sign-up", "/sign-up", email="new@example.com", password="short")
    assert answer.status == 400
    assert "Password must be at least 8 characters." in answer.text


# -- item 9: sign-up with a taken address ------------------------------------------------


def test_the_mail_for_a_taken_address_leads_to_a_working_reset(site: Site) -> None:
    site.user()
    browser = site.browser()
    sent = browser.form("/sign-up", "/sign-up", email="ann@example.com", password="a new one here")
    assert "Check your inbox" in sent.text
    assert "already have one" in site.mailer.last("ann@example.com").text
    path, query = site.link("ann@example.com")
    form = browser.get(f"{path}?token={query['token']}&email={query['email']}")
    assert form.status == 200
    assert 'id="set-password"' in form.text
    done = browser.post(
        path,
        {
            "email": query["email"],
            "token": query["token"],
            "new_password": "a new one here",
            "csrf_token": csrf_of(form.text),
        },
    )
    assert done.status == 303
    assert done.header("Location") == "/sign-in?notice=password_reset"
    assert site.browser().sign_in(password="a new one here").status == 303
