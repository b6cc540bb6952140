"""Passkeys in a real browser: headless Chromium with its virtual authenticator.

Chromium's DevTools WebAuthn domain (Selenium's ``add_virtual_authenticator``)
stands in for Touch ID or a security key: it makes real keys and real
WebAuthn responses, which the example apps (FastAPI and Flask, each on a
real server on localhost) verify. One run per app goes through it all:
register a passkey (with the browser's JSON helpers removed, so the
script's fallback runs), sign in from the e-mail field's autofill, sign in
with the button and no name, use the passkey as the second step, see that
a passkey unlocked with user verification counts as both factors and one
without it does not, rename it, delete it after confirming it's you, and be
refused with an authenticator whose passkey the site never registered.

How the virtual authenticator behaves, and what the test relies on: a
conditional (autofill) request is answered at once with a credential of an
``internal`` authenticator, as if the person had picked it from the
autofill list; with a ``usb`` one ``isConditionalMediationAvailable()`` is
false, so the page runs no autofill and the button is what signs in.
Credentials move between authenticators with ``get_credentials`` /
``add_credential``; ceremonies that list the passkey (second step,
"confirm it's you", sign-in for a typed e-mail) run on an ``internal`` one,
the transport it was registered with, since the browser skips
authenticators of other transports. An authenticator without user
verification can't create or list discoverable passkeys, only answer for a
listed one. Every wait is an explicit wait for a page state; no sleep and
no timing is asserted.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyotp
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

import auth_store
from auth_store.flow import AuthFlow
from auth_store.mail import MemoryMailer
from auth_store.models import User
from examples.fastapi_app import create_app as create_fastapi_app
from examples.flask_app import create_app as create_flask_app
from tests.chromium import chrome_driver, free_port, serve
from tests.sync_flow import sync_twin_of

PASSWORD = "correct horse battery"
WAIT = 60  # seconds: generous for a loaded 2-core machine; nothing waits this long when all is well


@dataclass
class LiveSite:
    base_url: str
    store: auth_store.Adapter
    flow: AuthFlow


@pytest.fixture(params=["fastapi", "flask"])
def live(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LiveSite]:
    kind: str = request.param
    port = free_port()
    base_url = f"http://localhost:{port}"  # passkeys need a name, not an IP address
    store = auth_store.connect(f"sqlite:///{tmp_path}/auth.db")
    options: dict[str, Any] = {
        "base_url": base_url,
        "data_dir": tmp_path / "demo",
        "mailer": MemoryMailer(),
    }
    if kind == "flask":
        app: Any = create_flask_app(store, **options)
        flow: AuthFlow = app.extensions["auth_store"].flow
    else:
        app = create_fastapi_app(store, **options)
        flow = sync_twin_of(app.state.auth_store.flow, store)
    assert flow.passkeys_available
    try:
        with serve(app, port, kind=kind):
            yield LiveSite(base_url, store, flow)
    finally:
        store.close()


@pytest.fixture
def chrome(tmp_path: Path) -> Iterator[Any]:
    with chrome_driver(tmp_path / "chrome-profile") as driver:
        yield driver


class Page:
    """The browser on one site, with explicit waits for what each step leads to."""

    def __init__(self, driver: Any, base_url: str) -> None:
        from selenium.webdriver.support.wait import WebDriverWait

        self.driver = driver
        self.base_url = base_url
        self.wait = WebDriverWait(driver, WAIT)

    def until(self, condition: Callable[[Any], Any], what: str) -> Any:
        return self.wait.until(condition, message=f"waiting for {what}")

    def path(self) -> str:
        url: str = self.driver.current_url
        return url.removeprefix(self.base_url)

    def open(self, path: str, *, script: bool = False) -> None:
        """Load ``path``; with ``script``, wait until the passkey script has wired the page."""
        self.driver.get(self.base_url + path)
        self.loaded(script=script)

    def loaded(self, *, script: bool = False) -> None:
        self.until(
            lambda d: d.execute_script("return document.readyState") == "complete",
            "the page to load",
        )
        if script:
            self.until(
                lambda d: d.execute_script(
                    "return document.documentElement.hasAttribute('data-passkeys-ready')"
                ),
                "the passkey script",
            )

    def at(self, path: str, *, script: bool = False) -> None:
        """Wait until the browser is on ``path`` (query included) and it has loaded."""
        self.until(lambda d: self.path() == path, f"{path} (at {self.path()})")
        self.loaded(script=script)

    def element(self, css: str) -> Any:
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, css)

    def elements(self, css: str) -> list[Any]:
        from selenium.webdriver.common.by import By

        found: list[Any] = self.driver.find_elements(By.CSS_SELECTOR, css)
        return found

    def visible(self, css: str) -> Any:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions

        return self.until(
            expected_conditions.visibility_of_element_located((By.CSS_SELECTOR, css)),
            f"{css} to show",
        )

    def fill(self, css: str, value: str) -> None:
        field = self.element(css)
        field.clear()
        field.send_keys(value)

    def click(self, css: str) -> None:
        self.visible(css).click()

    def error(self) -> str:
        shown = self.visible("#passkey-error")
        self.until(lambda d: shown.text.strip(), "an error message")
        text: str = shown.text
        return text

    def account_email(self) -> str | None:
        self.open("/account")
        found = self.elements("#account-email")
        return found[0].text if found else None

    def passkey_names(self) -> list[str]:
        return [cell.text for cell in self.elements("#passkey-list .passkey-name")]

    # -- steps -------------------------------------------------------------------

    def sign_in_with_password(self, email: str, then: str) -> None:
        self.open("/sign-in", script=True)
        self.fill("#email", email)
        self.fill("#password", PASSWORD)
        self.click("#sign-in")
        self.at(then)

    def sign_out(self) -> None:
        self.open("/account")
        self.click("#sign-out")
        self.at("/?notice=signed_out")

    def drop_json_helpers(self) -> None:
        """Remove the WebAuthn JSON helpers, as on a browser that has none yet."""
        self.driver.execute_script(
            "delete PublicKeyCredential.parseCreationOptionsFromJSON;"
            "delete PublicKeyCredential.parseRequestOptionsFromJSON;"
            "delete PublicKeyCredential.prototype.toJSON;"
        )
        assert self.driver.execute_script(
            "return typeof PublicKeyCredential.parseCreationOptionsFromJSON"
            " + typeof PublicKeyCredential.parseRequestOptionsFromJSON"
            " + typeof PublicKeyCredential.prototype.toJSON"
        ) == ("undefined" * 3)


def authenticator(driver: Any, *, transport: str, user_verification: bool = True) -> None:
    """Replace the current virtual authenticator (keeping its credentials) with a new one."""
    from selenium.webdriver.common.virtual_authenticator import VirtualAuthenticatorOptions

    kept = driver.get_credentials() if driver.virtual_authenticator_id else []
    if driver.virtual_authenticator_id:
        driver.remove_virtual_authenticator()
    options = VirtualAuthenticatorOptions()
    options.protocol = "ctap2"
    options.transport = transport
    options.has_resident_key = True
    options.has_user_verification = user_verification
    options.is_user_verified = user_verification
    options.is_user_consenting = True
    driver.add_virtual_authenticator(options)
    for credential in kept:
        driver.add_credential(credential)


def next_code(secret: str) -> str:
    # The current step may be spent already; the next one is inside the ±1 window.
    return pyotp.TOTP(secret).at(time.time() + 30)


def test_passkeys_from_registration_to_deletion(live: LiveSite, chrome: Any) -> None:
    from selenium.webdriver.common.virtual_authenticator import Credential

    page = Page(chrome, live.base_url)
    ann = live.store.create_user(
        User(email="ann@example.com", email_verified=auth_store.clock.now())
    )
    live.flow.passwords.set_password(ann.id, PASSWORD)

    # Signed in by password; no authenticator yet, so the page runs no autofill.
    page.sign_in_with_password("ann@example.com", then="/account")
    autocomplete = page.driver.execute_script(
        "return document.documentElement.outerHTML.includes('username webauthn')"
    )
    assert autocomplete is False  # the account page has no sign-in field

    # 1. Add a passkey on a platform authenticator, through the script's fallback path.
    authenticator(chrome, transport="internal")
    page.open("/account", script=True)
    assert page.passkey_names() == []
    page.drop_json_helpers()
    page.fill("#passkey-name", "Laptop")
    page.click("#add-passkey")
    page.at("/account?notice=passkey_added", script=True)
    assert page.passkey_names() == ["Laptop"]
    assert len(chrome.get_credentials()) == 1
    assert live.store.counts()["authenticators"] == 1
    (stored,) = live.flow.passkeys.list(ann)
    assert stored.last_used_at is None

    # 2. Sign in from the e-mail field's autofill (conditional mediation).
    page.sign_out()
    chrome.get(live.base_url + "/sign-in")
    page.at("/account")  # nothing clicked: the autofill request signed in
    assert page.account_email() == "ann@example.com"
    (used,) = live.flow.passkeys.list(ann)
    assert used.last_used_at is not None

    # 3. Sign in with the button, no name typed (a security key: no autofill runs).
    authenticator(chrome, transport="usb")
    page.sign_out()
    page.open("/sign-in", script=True)
    assert page.path() == "/sign-in"
    assert page.element("#email").get_attribute("autocomplete") == "username webauthn"
    page.drop_json_helpers()
    page.click("#passkey-sign-in")
    page.at("/account")
    assert page.account_email() == "ann@example.com"

    # 4. The passkey as the second step of a password sign-in (TOTP is on).
    secret = live.flow.start_totp(ann).secret
    live.flow.confirm_totp(ann, pyotp.TOTP(secret).now())
    page.sign_out()
    page.sign_in_with_password("ann@example.com", then="/second-step")
    page.loaded(script=True)
    # Back on the platform authenticator (the options list the passkey with the transports
    # it was registered with: "internal"); this page runs no autofill.
    authenticator(chrome, transport="internal")
    page.click("#passkey-second-step")
    page.at("/account")
    assert page.account_email() == "ann@example.com"

    # 5. With user verification the passkey is both factors: no second step.
    authenticator(chrome, transport="usb")
    page.sign_out()
    page.open("/sign-in", script=True)
    page.click("#passkey-sign-in")
    page.at("/account")
    # Without it (a security key that can't verify its user), TOTP follows. Such a key
    # can't list its passkeys unasked, so the e-mail names the account first.
    authenticator(chrome, transport="internal", user_verification=False)
    page.sign_out()
    page.open("/sign-in", script=True)
    page.fill("#email", "ann@example.com")
    page.click("#passkey-sign-in")
    page.at("/second-step")
    assert page.elements("#passkey-second-step") == []  # not the same factor twice
    page.fill("#code", next_code(secret))
    page.click("#verify")
    page.at("/account")
    assert page.account_email() == "ann@example.com"

    # 6. Rename it.
    page.open("/account", script=True)
    field = page.element('#passkey-list form[data-passkey-rename] input[name="name"]')
    field.clear()
    field.send_keys("Work laptop")
    page.click("#passkey-list form[data-passkey-rename] button")
    page.at("/account?notice=passkey_renamed", script=True)
    assert page.passkey_names() == ["Work laptop"]

    # 7. Delete it: the page asks to confirm it's you; a wrong password does not do.
    authenticator(chrome, transport="internal")  # the account page runs no autofill
    page.click("#passkey-list [data-passkey-delete]")
    page.visible("#passkey-reauth")
    page.fill("#reauth-password", "not my password")
    page.click("#reauth-with-password")
    assert "password" in page.error().lower()
    assert live.store.counts()["authenticators"] == 1
    page.click("#reauth-with-passkey")  # the passkey confirms; the delete goes through
    page.at("/account?notice=passkey_deleted", script=True)
    assert page.passkey_names() == []
    assert page.elements("#no-passkeys")
    assert live.store.counts()["authenticators"] == 0

    # 8. Another authenticator, holding a passkey for this site that was never registered.
    chrome.remove_virtual_authenticator()
    authenticator(chrome, transport="usb")
    key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    chrome.add_credential(
        Credential.create_resident_credential(
            secrets.token_bytes(16), "localhost", secrets.token_bytes(32), key, 0
        )
    )
    page.sign_out()
    page.open("/sign-in", script=True)
    page.click("#passkey-sign-in")
    assert page.error() == "That passkey did not work. Try again, or sign in another way."
    assert page.path() == "/sign-in"
    assert page.account_email() is None
    assert page.path().startswith("/sign-in")
