"""One real browser: headless Chromium drives both example apps over real HTTP.

The FastAPI demo runs twice: on SQLite (the threaded twin) and on the native
async Postgres twin, opened on the loop that serves it.

Sign up, follow the verification link from the demo's outbox, enrol TOTP
from the page (a wrong code first: the page and its key stay), sign out,
sign in with a code, land on the account page, see this browser on the
sessions page, meet a styled error page, and read the outbox on a 390 px
wide screen without sideways scrolling. Needs Debian's ``chromium`` and
``chromium-driver`` (see ``tests/chromium.py``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest

import auth_store
from auth_store.adapters.postgres_async import AsyncPostgresAdapter
from examples.fastapi_app import create_app as create_fastapi_app
from examples.flask_app import create_app as create_flask_app
from tests.chromium import WAIT, chrome_driver, free_port, serve, serve_on_async_store
from tests.pg import fresh_postgres_url

PASSWORD = "correct horse battery"


@pytest.fixture(params=["fastapi", "flask", "fastapi-postgres"])
def site(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    kind = str(request.param)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    if kind == "fastapi-postgres":
        # The FastAPI demo on the native async Postgres twin, opened on uvicorn's loop.
        with fresh_postgres_url() as url:

            def make_app(store: auth_store.AsyncAdapter) -> Any:
                assert isinstance(store, AsyncPostgresAdapter)  # native, not on threads
                return create_fastapi_app(store, base_url=base_url, data_dir=tmp_path / "demo")

            with serve_on_async_store(url, port, make_app):
                yield base_url
        return
    store = auth_store.connect(f"sqlite:///{tmp_path}/auth.db")
    create: Any = create_fastapi_app if kind == "fastapi" else create_flask_app
    app = create(store, base_url=base_url, data_dir=tmp_path / "demo")
    try:
        with serve(app, port, kind=kind):
            yield base_url
    finally:
        store.close()


@pytest.fixture
def chrome(tmp_path: Path) -> Iterator[object]:
    with chrome_driver(tmp_path / "chrome-profile") as driver:
        yield driver


def test_sign_up_enrol_totp_and_sign_in_with_a_code(site: str, chrome: object) -> None:
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.remote.webelement import WebElement
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.wait import WebDriverWait

    assert isinstance(chrome, WebDriver)
    driver = chrome

    def gone(element: WebElement) -> Callable[[WebDriver], bool]:
        """Whether the page holding ``element`` was replaced.

        Mid-navigation chromedriver may answer "node does not belong to the
        document" rather than "stale element" (more often on a loaded machine):
        both mean the old page is gone.
        """

        def check(_: WebDriver) -> bool:
            try:
                element.is_enabled()
            except StaleElementReferenceException:
                return True
            except WebDriverException as exc:
                if "does not belong to the document" in str(exc):
                    return True
                raise
            return False

        return check

    def click_and_wait(element_id: str, path: str) -> None:
        """Click, then wait until the browser has loaded ``path`` (clicks return early)."""
        element = driver.find_element(By.ID, element_id)
        element.click()
        WebDriverWait(driver, WAIT).until(gone(element))
        WebDriverWait(driver, WAIT).until(expected_conditions.url_to_be(f"{site}{path}"))
        WebDriverWait(driver, WAIT).until(
            lambda d: d.execute_script("return document.readyState") == "complete"
        )

    def fill(field: str, value: str) -> None:
        element = driver.find_element(By.ID, field)
        element.clear()
        element.send_keys(value)

    driver.get(f"{site}/sign-up")
    fill("email", "ann@example.com")
    fill("password", PASSWORD)
    click_and_wait("sign-up", "/sign-up")
    assert "Check your inbox" in driver.find_element(By.ID, "message").text

    # The demo's outbox shows the verification mail; its link opens the confirm page.
    driver.get(f"{site}/outbox")
    driver.find_element(By.PARTIAL_LINK_TEXT, "/auth/verify-email").click()
    WebDriverWait(driver, WAIT).until(
        expected_conditions.presence_of_element_located((By.ID, "confirm"))
    )
    click_and_wait("confirm", "/account")
    assert driver.find_element(By.ID, "account-email").text == "ann@example.com"

    # The stylesheet is a file the CSP allows: the page is styled.
    assert driver.execute_script("return getComputedStyle(document.body).maxWidth") == "704px"

    click_and_wait("enable-totp", "/account/totp")
    qr = driver.find_element(By.CSS_SELECTOR, "img.qr")
    assert qr.get_attribute("src").startswith("data:image/svg+xml;base64,")  # type: ignore[union-attr]
    assert driver.execute_script("return arguments[0].naturalWidth", qr) > 0  # it renders
    secret = driver.find_element(By.ID, "totp-secret").text
    # A mistyped code keeps the page, the error and the key the app scanned.
    fill("code", "000000")
    click_and_wait("confirm-totp", "/account/totp")
    assert "That code is not valid" in driver.find_element(By.CSS_SELECTOR, ".error").text
    assert driver.find_element(By.ID, "totp-secret").text == secret
    driver.refresh()  # a reload shows the same key, too
    assert driver.find_element(By.ID, "totp-secret").text == secret
    fill("code", pyotp.TOTP(secret).now())
    click_and_wait("confirm-totp", "/account/totp")
    assert len(driver.find_elements(By.CSS_SELECTOR, "#backup-codes li")) == 10

    click_and_wait("sign-out", "/?notice=signed_out")
    assert "You are signed out." in driver.page_source

    driver.get(f"{site}/sign-in")
    fill("email", "ann@example.com")
    fill("password", PASSWORD)
    click_and_wait("sign-in", "/second-step")
    # The current time step was spent on enrolment; the next one is inside the window.
    fill("code", pyotp.TOTP(secret).at(time.time() + 30))
    click_and_wait("verify", "/account")
    assert driver.find_element(By.ID, "account-email").text == "ann@example.com"
    assert "On: sign-in asks for a code" in driver.find_element(By.ID, "totp-status").text
    session = driver.get_cookie("auth_store_session")
    assert session is not None
    assert session["httpOnly"] is True
    assert session["sameSite"] == "Lax"

    # The sessions page: this browser (headless Chrome on Linux), its address, its times.
    driver.get(f"{site}/sessions")
    rows = driver.find_elements(By.CSS_SELECTOR, "#sessions tr[data-session-id]")
    assert len(rows) == 1  # signing out ended the first session
    row = rows[0]
    assert "Chrome" in row.find_element(By.CSS_SELECTOR, ".device").text
    assert "on Linux" in row.find_element(By.CSS_SELECTOR, ".device").text
    assert "(this browser)" in row.text
    assert row.find_element(By.CSS_SELECTOR, ".ip").text == "127.0.0.1"
    assert row.find_element(By.CSS_SELECTOR, ".created").text.endswith(" UTC")
    assert row.find_element(By.CSS_SELECTOR, ".last-seen").text.endswith(" UTC")

    # A styled error page, not a framework's bare one.
    driver.get(f"{site}/no/such/page")
    assert driver.find_element(By.ID, "error-heading").text == "Page not found"
    assert driver.find_element(By.CSS_SELECTOR, "a.brand").text == "auth-store demo"

    # The outbox on a phone: long links wrap instead of widening the page.
    driver.set_window_size(390, 844)
    driver.get(f"{site}/outbox")
    assert driver.find_element(By.ID, "devtool").text.startswith("Development tool.")
    width = driver.execute_script("return window.innerWidth")
    assert width <= 400
    overflow = "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
    assert driver.execute_script(overflow) == 0
    driver.get(f"{site}/sessions")  # the sessions table becomes one card per session
    assert driver.execute_script(overflow) == 0
    ip = driver.find_element(By.CSS_SELECTOR, "#sessions .ip")
    assert ip.text == "127.0.0.1"
    assert ip.rect["height"] < 30  # one line: the address in one piece (24 px lines)
    label = driver.execute_script("return getComputedStyle(arguments[0], '::before').content", ip)
    assert label == '"IP address: "'
