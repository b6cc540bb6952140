"""Lockout is not a denial of service: the owner always has a way back in.

Anyone who knows an address can fail its password 100 times, which locks
password sign-in until a reset (NIST SP 800-63B's limit). The owner proves
the mailbox instead, with a password reset or a magic link, and that clears
the count. Over HTTP, on the FastAPI example app.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

import auth_store
from auth_store.attempts import NIST_MAX_FAILURES, AttemptLimiter
from auth_store.mail import MemoryMailer
from auth_store.models import User
from auth_store.passwords import PasswordService
from examples.fastapi_app import create_app

API = "/api/auth"
EMAIL = "ann@example.com"
PASSWORD = "correct horse battery"


class Site:
    def __init__(self, tmp_path: Path) -> None:
        self.store = auth_store.connect(f"sqlite:///{tmp_path}/auth.db")
        self.mailer = MemoryMailer()
        self.app = create_app(
            self.store,
            base_url="http://testserver",
            data_dir=tmp_path / "demo",
            mailer=self.mailer,
        )
        user = self.store.create_user(User(email=EMAIL, email_verified=auth_store.clock.now()))
        assert user.id is not None
        self.user_id = user.id
        # The app's services are the async twins on this store; these are the sync ones.
        PasswordService(self.store).set_password(user.id, PASSWORD)

    def link(self) -> dict[str, str]:
        match = re.search(r"https?://testserver(\S+)", self.mailer.last(EMAIL).text)
        assert match
        return {k: v[0] for k, v in parse_qs(urlsplit(match.group(1)).query).items()}

    def lock_out(self, client: TestClient) -> None:
        """What a stranger can do: fail the password until it locks for good."""
        limiter = AttemptLimiter(self.store)  # the app's limits: the defaults
        # The first failures over HTTP, the rest straight into the store (the same
        # count an attacker's requests leave, without waiting out the delays).
        for _ in range(limiter.free_failures):
            failed = client.post(f"{API}/sign-in", json={"email": EMAIL, "password": "guess"})
            assert failed.status_code == 401
        while limiter.status(self.user_id, "password").failures < NIST_MAX_FAILURES:
            limiter.record_failure(self.user_id, "password")
        assert limiter.status(self.user_id, "password").retry_after is None  # until a reset
        assert self.sign_in(client, PASSWORD) == 401  # the right password no longer works

    def sign_in(self, client: TestClient, password: str) -> int:
        response = client.post(f"{API}/sign-in", json={"email": EMAIL, "password": password})
        return response.status_code


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    made = Site(tmp_path)
    yield made
    made.store.close()


def test_a_magic_link_sign_in_clears_a_lockout(site: Site) -> None:
    stranger, owner = TestClient(site.app), TestClient(site.app)
    site.lock_out(stranger)
    assert owner.post(f"{API}/magic-link", json={"email": EMAIL}).status_code == 200
    signed = owner.post(f"{API}/magic-link/consume", json=site.link())
    assert signed.json()["status"] == "signed_in"
    assert AttemptLimiter(site.store).status(site.user_id, "password").failures == 0
    owner.post(f"{API}/sign-out", json={})
    assert site.sign_in(owner, PASSWORD) == 200  # the password works again


def test_a_password_reset_clears_a_lockout(site: Site) -> None:
    stranger, owner = TestClient(site.app), TestClient(site.app)
    site.lock_out(stranger)
    assert owner.post(f"{API}/password-reset", json={"email": EMAIL}).status_code == 200
    new = "a brand new password"
    reset = owner.post(f"{API}/password-reset/confirm", json={**site.link(), "new_password": new})
    assert reset.status_code == 200, reset.text
    assert AttemptLimiter(site.store).status(site.user_id, "password").failures == 0
    assert site.sign_in(owner, new) == 200


def test_the_lock_holds_for_everyone_else(site: Site) -> None:
    stranger = TestClient(site.app)
    site.lock_out(stranger)
    # Asking for a link is not proving the mailbox: the lock stays.
    assert stranger.post(f"{API}/magic-link", json={"email": EMAIL}).status_code == 200
    assert stranger.post(f"{API}/password-reset", json={"email": EMAIL}).status_code == 200
    assert site.sign_in(stranger, PASSWORD) == 401
    # Nor does a spent or forged link.
    forged = {**site.link(), "token": "0" * 64}
    assert stranger.post(f"{API}/magic-link/consume", json=forged).status_code == 400
    assert AttemptLimiter(site.store).status(site.user_id, "password").retry_after is None
