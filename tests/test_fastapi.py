"""The FastAPI integration: the JSON router's flows, the dependencies, the example's pages.

Everything runs through Starlette's TestClient against the example app on a
real SQLite file; only the mailer is replaced (by a ``MemoryMailer``).
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, quote, urlsplit

import pyotp
import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

import auth_store
from auth_store.attempts import AttemptLimiter
from auth_store.disabled import disabled_extra, enabled_extra
from auth_store.flow import Messages
from auth_store.integrations.fastapi import FastAPIAuth, current_user, optional_user
from auth_store.mail import Message, OutboxMailer
from auth_store.models import User
from examples.fastapi_app import create_app
from tests.fake_clock import FakeClock

API = "/api/auth"


class Outbox(OutboxMailer):
    """The demo's outbox folder, read back by the tests."""

    def last(self, to: str) -> Message:
        return [m for m in self.messages() if m.to == to][-1]


PASSWORD = "correct horse battery"


class Env:
    def __init__(self, tmp_path: Path, *, secure: bool = False) -> None:
        self.store = auth_store.connect(f"sqlite:///{tmp_path}/auth.db")
        self.mailer = Outbox(tmp_path / "outbox", console=None)
        base = "https://testserver" if secure else "http://testserver"
        self.app = create_app(
            self.store,
            base_url=base,
            data_dir=tmp_path / "demo",
            mailer=self.mailer,
            secure_cookies=secure,
        )
        self.base = base
        self.auth: FastAPIAuth = self.app.state.auth_store

    def client(self) -> TestClient:
        return TestClient(self.app, base_url=self.base)

    def link(self, to: str) -> tuple[str, dict[str, str]]:
        """The path and query of the last link mailed to ``to``."""
        match = re.search(r"https?://testserver(\S+)", self.mailer.last(to).text)
        assert match, self.mailer.last(to).text
        url = urlsplit(match.group(1))
        return url.path, {k: v[0] for k, v in parse_qs(url.query).items()}

    def sign_up(self, client: TestClient, email: str, password: str = PASSWORD) -> None:
        """Sign up and verify through the JSON API (leaves ``client`` signed in)."""
        assert client.post(f"{API}/sign-up", json={"email": email, "password": password}).is_success
        _, query = self.link(email)
        response = client.post(f"{API}/verify-email", json=query)
        assert response.json()["status"] == "signed_in", response.text


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    environment = Env(tmp_path)
    yield environment
    environment.store.close()


@pytest.fixture
def client(env: Env) -> TestClient:
    return env.client()


def enable_totp(client: TestClient) -> tuple[str, list[str]]:
    enrolled = client.post(f"{API}/totp/enroll", json={}).json()
    secret = enrolled["secret"]
    assert enrolled["provisioning_uri"].startswith("otpauth://totp/")
    codes = client.post(f"{API}/totp/confirm", json={"code": pyotp.TOTP(secret).now()})
    assert codes.status_code == 200, codes.text
    return secret, codes.json()["backup_codes"]


def next_code(secret: str) -> str:
    # The current step was spent enrolling; the next one is inside the ±1 window.
    return pyotp.TOTP(secret).at(time.time() + 30)


# -- sign-up and verification ------------------------------------------------


def test_sign_up_answers_the_same_for_new_and_taken_addresses(env: Env, client: TestClient) -> None:
    first = client.post(f"{API}/sign-up", json={"email": "ann@example.com", "password": PASSWORD})
    again = client.post(f"{API}/sign-up", json={"email": "ANN@example.com", "password": PASSWORD})
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert env.store.counts()["users"] == 1
    assert "already have one" in env.mailer.last("ann@example.com").text
    assert len(env.mailer.messages()) == 2


def test_password_sign_in_waits_for_a_verified_address(env: Env, client: TestClient) -> None:
    client.post(f"{API}/sign-up", json={"email": "ann@example.com", "password": PASSWORD})
    before = client.post(f"{API}/sign-in", json={"email": "ann@example.com", "password": PASSWORD})
    assert before.status_code == 403
    assert "Verify" in before.json()["detail"]
    assert client.get(f"{API}/me").status_code == 401
    # A new link was sent; it verifies and signs in.
    _, query = env.link("ann@example.com")
    verified = client.post(f"{API}/verify-email", json=query)
    assert verified.json()["status"] == "signed_in"
    me = client.get(f"{API}/me").json()
    assert me["email"] == "ann@example.com"
    assert me["email_verified"] is not None
    # The link works once.
    assert client.post(f"{API}/verify-email", json=query).status_code == 400


def test_weak_password_is_refused_with_a_reason(client: TestClient) -> None:
    response = client.post(f"{API}/sign-up", json={"email": "ann@example.com", "password": "short"})
    assert response.status_code == 400
    assert "at least 8" in response.json()["detail"]


# -- password sign-in ----------------------------------------------------------


def test_wrong_password_and_unknown_address_fail_alike(env: Env, client: TestClient) -> None:
    env.sign_up(client, "ann@example.com")
    other = env.client()
    wrong = other.post(f"{API}/sign-in", json={"email": "ann@example.com", "password": "nope-nope"})
    unknown = other.post(
        f"{API}/sign-in", json={"email": "bob@example.com", "password": "nope-nope"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    good = other.post(f"{API}/sign-in", json={"email": "Ann@Example.com", "password": PASSWORD})
    assert good.json()["status"] == "signed_in"
    assert other.get(f"{API}/me").json()["email"] == "ann@example.com"


def test_attempt_limit_blocks_but_answers_like_a_wrong_password(
    env: Env, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock.install(monkeypatch)
    env.sign_up(client, "ann@example.com")
    ann = env.store.get_user_by_email("ann@example.com")
    assert ann is not None
    assert ann.id is not None
    attacker = env.client()

    def attempt(email: str, password: str = "guess-guess") -> Any:
        return attacker.post(f"{API}/sign-in", json={"email": email, "password": password})

    for _ in range(env.auth.flow.limiter.free_failures):
        assert attempt("ann@example.com").status_code == 401
        assert attempt("nobody@example.com").status_code == 401
    for _ in range(3):
        known, unknown = attempt("ann@example.com"), attempt("nobody@example.com")
        assert known.status_code == unknown.status_code == 401
        assert known.content == unknown.content  # byte for byte
        assert "retry-after" not in known.headers
        assert known.headers.get_list("set-cookie") == unknown.headers.get_list("set-cookie")
    assert known.json() == {"detail": Messages.INVALID_CREDENTIALS, "code": "invalid_credentials"}
    # Inside, the limit holds: even the right password is refused while throttled.
    assert not AttemptLimiter(env.store).status(ann.id, "password").allowed
    right = attempt("ann@example.com", PASSWORD)
    assert right.content == unknown.content
    assert attacker.get(f"{API}/me").status_code == 401
    clock.advance(60)
    assert attempt("ann@example.com", PASSWORD).json()["status"] == "signed_in"


def test_second_step_throttle_says_when_to_retry(
    env: Env, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first factor already identified the person: telling them is fine here.
    clock = FakeClock.install(monkeypatch)
    env.sign_up(client, "ann@example.com")
    secret = client.post(f"{API}/totp/enroll", json={}).json()["secret"]
    first = pyotp.TOTP(secret).at(clock.now)
    assert client.post(f"{API}/totp/confirm", json={"code": first}).status_code == 200
    other = env.client()
    pending = other.post(
        f"{API}/sign-in", json={"email": "ann@example.com", "password": PASSWORD}
    ).json()["pending_token"]

    def step(code: str) -> Any:
        return other.post(f"{API}/second-factor", json={"pending_token": pending, "code": code})

    for _ in range(env.auth.flow.limiter.free_failures):
        assert step("000000").status_code == 401
    throttled = step(pyotp.TOTP(secret).at(clock.now.timestamp() + 30))
    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "1"
    assert throttled.json() == {
        "detail": "Too many attempts. Try again in 1 s.",
        "code": "throttled",
    }
    clock.advance(2)
    assert step(pyotp.TOTP(secret).at(clock.now.timestamp() + 30)).status_code == 200


def test_router_posts_take_json_only(env: Env, client: TestClient) -> None:
    response = client.post(
        f"{API}/sign-in", data={"email": "ann@example.com", "password": PASSWORD}
    )
    assert response.status_code == 415
    assert client.post(f"{API}/sign-out").status_code == 415
    # Every POST of the router, signed in or not: a cross-site form can't reach any.
    posts = [
        re.sub(r"\{[^}]+\}", "x", path)
        for path, operations in client.get("/openapi.json").json()["paths"].items()
        if path.startswith(API) and "post" in operations
    ]
    assert len(posts) >= 15
    env.sign_up(client, "ann@example.com")
    for path in posts:
        for body in ({"data": {"email": "ann@example.com"}}, {"content": b"{}"}):
            assert client.post(path, **body).status_code == 415, path
    assert client.get(f"{API}/me").status_code == 200  # still signed in: nothing took effect


def test_sign_out_ends_the_session(env: Env, client: TestClient) -> None:
    env.sign_up(client, "ann@example.com")
    cookie = client.cookies.get("auth_store_session")
    assert cookie
    assert client.post(f"{API}/sign-out", json={}).status_code == 200
    assert client.get(f"{API}/me").status_code == 401
    replay = env.client()
    replay.cookies.set("auth_store_session", cookie)
    assert replay.get(f"{API}/me").status_code == 401
    assert env.store.counts()["sessions"] == 0


# -- sessions ------------------------------------------------------------------


def test_list_and_revoke_sessions(env: Env, client: TestClient) -> None:
    env.sign_up(client, "ann@example.com")
    laptop = env.client()
    laptop.post(f"{API}/sign-in", json={"email": "ann@example.com", "password": PASSWORD})
    listed = client.get(f"{API}/sessions").json()
    assert len(listed) == 2
    assert [s["current"] for s in listed].count(True) == 1
    laptop_id = next(s["id"] for s in listed if not s["current"])

    assert laptop.get(f"{API}/me").status_code == 200
    assert client.delete(f"{API}/sessions/{laptop_id}").status_code == 204
    assert laptop.get(f"{API}/me").status_code == 401
    assert client.delete(f"{API}/sessions/{laptop_id}").status_code == 404

    tablet = env.client()
    tablet.post(f"{API}/sign-in", json={"email": "ann@example.com", "password": PASSWORD})
    assert client.delete(f"{API}/sessions").json() == {"count": 1}
    assert tablet.get(f"{API}/me").status_code == 401
    assert client.get(f"{API}/me").status_code == 200


def test_a_user_cannot_revoke_another_users_session(env: Env, client: TestClient) -> None:
    env.sign_up(client, "ann@example.com")
    bob = env.client()
    env.sign_up(bob, "bob@example.com")
    ann_session = client.get(f"{API}/sessions").json()[0]["id"]
    assert bob.delete(f"{API}/sessions/{ann_session}").status_code == 404
    assert client.get(f"{API}/me").status_code == 200


# -- TOTP and backup codes -------------------------------------------------------


def test_totp_second_step(env: Env, client: TestClient) -> None:
    env.sign_up(client, "ann@example.com")
    secret, backup_codes = enable_totp(client)
    assert len(backup_codes) == 10
    assert client.get(f"{API}/totp").json() == {
        "available": True,
        "enabled": True,
        "pending": False,
    }
    client.post(f"{API}/sign-out", json={})

    first = client.post(f"{API}/sign-in", json={"email": "ann@example.com", "password": PASSWORD})
    body = first.json()
    assert body["status"] == "second_factor_required"
    assert body["methods"] == ["totp", "backup_code"]
    assert client.get(f"{API}/me").status_code == 401  # not signed in yet

    pending = body["pending_token"]
    bad = client.post(f"{API}/second-factor", json={"pending_token": pending, "code": "000000"})
    assert bad.status_code == 401
    code = next_code(secret)
    good = client.post(f"{API}/second-factor", json={"pending_token": pending, "code": code})
    assert good.json()["status"] == "signed_in"
    assert client.get(f"{API}/me").status_code == 200

    # The same code does not work twice, even with a fresh first step.
    other = env.client()
    pending2 = other.post(
        f"{API}/sign-in", json={"email": "ann@example.com", "password": PASSWORD}
    ).json()["pending_token"]
    replay = other.post(f"{API}/second-factor", json={"pending_token": pending2, "code": code})
    assert replay.status_code == 401

    # A backup code works, once.
    spent = other.post(
        f"{API}/second-factor", json={"pending_token": pending2, "code": backup_codes[0]}
    )
    assert spent.json()["status"] == "signed_in"
    assert client.get(f"{API}/backup-codes").json() == {"count": 9}
    third = env.client()
    pending3 = third.post(
        f"{API}/sign-in", json={"email": "ann@example.com", "password": PASSWORD}
    ).json()["pending_token"]
    again = third.post(
        f"{API}/second-factor", json={"pending_token": pending3, "code": backup_codes[0]}
    )
    assert again.status_code == 401


def test_second_step_needs_a_genuine_pending_token(env: Env, client: TestClient) -> None:
    env.sign_up(client, "ann@example.com")
    secret, _ = enable_totp(client)
    forged = client.post(
        f"{API}/second-factor", json={"pending_token": "x.y.z", "code": next_code(secret)}
    )
    assert forged.status_code == 400


def test_a_pending_token_finishes_one_sign_in(env: Env, client: TestClient) -> None:
    env.sign_up(client, "ann@example.com")
    secret, backup_codes = enable_totp(client)
    client.post(f"{API}/sign-out", json={})
    pending = client.post(
        f"{API}/sign-in", json={"email": "ann@example.com", "password": PASSWORD}
    ).json()["pending_token"]
    wrong = client.post(f"{API}/second-factor", json={"pending_token": pending, "code": "000000"})
    assert wrong.status_code == 401  # a typo does not use the pending token up
    done = client.post(
        f"{API}/second-factor", json={"pending_token": pending, "code": next_code(secret)}
    )
    assert done.json()["status"] == "signed_in"

    # Replayed from elsewhere with another valid code: refused, and no new session.
    thief = env.client()
    replay = thief.post(
        f"{API}/second-factor", json={"pending_token": pending, "code": backup_codes[0]}
    )
    assert replay.status_code == 400
    assert replay.json()["detail"] == Messages.SECOND_STEP_EXPIRED
    assert thief.get(f"{API}/me").status_code == 401
    assert len(env.store.list_sessions(env.store.get_user_by_email("ann@example.com").id)) == 1  # type: ignore[union-attr]


def test_totp_disable_and_backup_code_regeneration(env: Env, client: TestClient) -> None:
    env.sign_up(client, "ann@example.com")
    secret, old_codes = enable_totp(client)
    regenerated = client.post(f"{API}/backup-codes", json={"code": old_codes[0]})
    assert regenerated.status_code == 200
    new_codes = regenerated.json()["backup_codes"]
    assert set(new_codes).isdisjoint(old_codes)
    assert client.post(f"{API}/totp/disable", json={"code": "123456"}).status_code == 401
    assert client.post(f"{API}/totp/disable", json={"code": next_code(secret)}).status_code == 200
    assert client.get(f"{API}/totp").json()["enabled"] is False
    assert client.get(f"{API}/backup-codes").json() == {"count": 0}
    client.post(f"{API}/sign-out", json={})
    signed = client.post(f"{API}/sign-in", json={"email": "ann@example.com", "password": PASSWORD})
    assert signed.json()["status"] == "signed_in"


def test_totp_confirm_with_a_wrong_code_keeps_it_off(env: Env, client: TestClient) -> None:
    env.sign_up(client, "ann@example.com")
    client.post(f"{API}/totp/enroll", json={})
    assert client.post(f"{API}/totp/confirm", json={"code": "000000"}).status_code == 401
    assert client.get(f"{API}/totp").json() == {
        "available": True,
        "enabled": False,
        "pending": True,
    }


# -- magic links, reset, change ---------------------------------------------------


def test_magic_link_signs_up_and_in(env: Env, client: TestClient) -> None:
    env.sign_up(env.client(), "ann@example.com")
    known = client.post(f"{API}/magic-link", json={"email": "ann@example.com"})
    unknown = client.post(f"{API}/magic-link", json={"email": "new@example.com"})
    assert known.json() == unknown.json()
    path, query = env.link("new@example.com")
    assert path == "/auth/magic-link"
    assert query["token"] not in repr(env.mailer.last("new@example.com"))  # a log line is safe
    signed = client.post(f"{API}/magic-link/consume", json=query)
    assert signed.json()["status"] == "signed_in"
    me = client.get(f"{API}/me").json()
    assert me["email"] == "new@example.com"
    assert me["email_verified"] is not None
    assert client.post(f"{API}/magic-link/consume", json=query).status_code == 400


def test_magic_link_drops_a_password_nobody_proved(env: Env, client: TestClient) -> None:
    # Someone signs up with Ann's address and a password of their choosing...
    env.client().post(f"{API}/sign-up", json={"email": "ann@example.com", "password": PASSWORD})
    # ...Ann signs in by magic link, proving the address is hers...
    client.post(f"{API}/magic-link", json={"email": "ann@example.com"})
    _, query = env.link("ann@example.com")
    assert client.post(f"{API}/magic-link/consume", json=query).json()["status"] == "signed_in"
    # ...and the squatter's password no longer signs in.
    squatter = env.client()
    response = squatter.post(
        f"{API}/sign-in", json={"email": "ann@example.com", "password": PASSWORD}
    )
    assert response.status_code == 401


def test_password_reset(env: Env, client: TestClient) -> None:
    env.sign_up(client, "ann@example.com")
    stranger = env.client()
    sent = len(env.mailer.messages())
    unknown = stranger.post(f"{API}/password-reset", json={"email": "bob@example.com"})
    assert len(env.mailer.messages()) == sent  # nothing mailed to strangers
    known = stranger.post(f"{API}/password-reset", json={"email": "ann@example.com"})
    assert known.json() == unknown.json()
    path, query = env.link("ann@example.com")
    assert path == "/auth/reset-password"

    wrong = stranger.post(
        f"{API}/password-reset/confirm",
        json={"email": "ann@example.com", "token": "0" * 64, "new_password": "brand new pass"},
    )
    assert wrong.status_code == 400
    done = stranger.post(
        f"{API}/password-reset/confirm", json={**query, "new_password": "brand new pass"}
    )
    assert done.status_code == 200
    assert client.get(f"{API}/me").status_code == 401  # every session ended
    old = stranger.post(f"{API}/sign-in", json={"email": "ann@example.com", "password": PASSWORD})
    assert old.status_code == 401
    new = stranger.post(
        f"{API}/sign-in", json={"email": "ann@example.com", "password": "brand new pass"}
    )
    assert new.json()["status"] == "signed_in"


def test_change_password_keeps_this_session_only(env: Env, client: TestClient) -> None:
    env.sign_up(client, "ann@example.com")
    laptop = env.client()
    laptop.post(f"{API}/sign-in", json={"email": "ann@example.com", "password": PASSWORD})
    wrong = client.post(
        f"{API}/password", json={"current_password": "nope-nope", "new_password": "another pass"}
    )
    assert wrong.status_code == 401
    ok = client.post(
        f"{API}/password", json={"current_password": PASSWORD, "new_password": "another pass"}
    )
    assert ok.status_code == 200
    assert client.get(f"{API}/me").status_code == 200
    assert laptop.get(f"{API}/me").status_code == 401


# -- disabled users --------------------------------------------------------------------


def test_a_disabled_user_gets_in_by_no_route(env: Env, client: TestClient) -> None:
    env.sign_up(client, "ann@example.com")  # leaves ``client`` signed in
    ann = env.store.get_user_by_email("ann@example.com")
    assert ann is not None
    assert ann.id is not None
    bystander = env.client()
    bystander.post(f"{API}/magic-link", json={"email": "ann@example.com"})
    _, magic = env.link("ann@example.com")
    bystander.post(f"{API}/password-reset", json={"email": "ann@example.com"})
    _, reset = env.link("ann@example.com")
    asyncio.run(env.auth.flow.request_email_verification(ann))
    _, verify = env.link("ann@example.com")
    # Only the flag: the session stays in the store, as if a sign-in raced `users disable`.
    env.store.update_user(ann.id, extra=disabled_extra(ann))

    assert client.get(f"{API}/me").status_code == 401  # current_user
    account = client.get("/account", follow_redirects=False)  # optional_user
    assert account.headers["location"] == "/sign-in?next=/account"
    assert env.store.counts()["sessions"] == 0

    right = bystander.post(
        f"{API}/sign-in", json={"email": "ann@example.com", "password": PASSWORD}
    )
    wrong = bystander.post(f"{API}/sign-in", json={"email": "ann@example.com", "password": "x" * 9})
    assert right.status_code == wrong.status_code == 401
    assert right.content == wrong.content

    spent = bystander.post(
        f"{API}/magic-link/consume", json={"email": "ann@example.com", "token": "0" * 64}
    )
    for path, query in (("/magic-link/consume", magic), ("/verify-email", verify)):
        refused = bystander.post(f"{API}{path}", json=query)
        assert refused.status_code == 400, path
        assert refused.content == spent.content, path
    not_reset = bystander.post(
        f"{API}/password-reset/confirm", json={**reset, "new_password": "brand new pass"}
    )
    assert not_reset.status_code == 400
    assert not_reset.json() == {"detail": Messages.INVALID_LINK, "code": "invalid_link"}
    assert bystander.get(f"{API}/me").status_code == 401
    assert env.store.counts()["sessions"] == 0

    # Enabled again, Ann signs in with her password, which the refused reset left alone.
    disabled = env.store.get_user(ann.id)
    assert disabled is not None
    env.store.update_user(ann.id, extra=enabled_extra(disabled))
    again = bystander.post(
        f"{API}/sign-in", json={"email": "ann@example.com", "password": PASSWORD}
    )
    assert again.json()["status"] == "signed_in"


def test_a_disabled_user_learns_nothing_from_the_first_step(env: Env, client: TestClient) -> None:
    # With TOTP on, or the address unverified, the right password would otherwise
    # answer differently (a second step, a 403 and a new mail) and give it away.
    env.sign_up(client, "ann@example.com")
    enable_totp(client)
    env.client().post(f"{API}/sign-up", json={"email": "bob@example.com", "password": PASSWORD})
    for email in ("ann@example.com", "bob@example.com"):
        user = env.store.get_user_by_email(email)
        assert user is not None
        assert user.id is not None
        env.store.update_user(user.id, extra=disabled_extra(user))
    mails = len(env.mailer.messages())
    stranger = env.client()
    for email in ("ann@example.com", "bob@example.com"):
        right = stranger.post(f"{API}/sign-in", json={"email": email, "password": PASSWORD})
        wrong = stranger.post(f"{API}/sign-in", json={"email": email, "password": "x" * 9})
        assert right.status_code == wrong.status_code == 401, email
        assert right.content == wrong.content, email
        assert "auth_store_pending" not in str(right.headers.get_list("set-cookie"))
    assert len(env.mailer.messages()) == mails


# -- API keys --------------------------------------------------------------------------


def test_api_keys(env: Env, client: TestClient) -> None:
    env.sign_up(client, "ann@example.com")
    key = "sk-test-" + "x" * 20 + "9Zk1"
    added = client.post(f"{API}/api-keys", json={"label": "work", "provider": "openai", "key": key})
    assert added.status_code == 201
    key_id = added.json()["id"]
    listed = client.get(f"{API}/api-keys").json()
    assert [k["masked"][-4:] for k in listed] == ["9Zk1"]
    assert key not in str(listed)
    assert client.post(f"{API}/api-keys/{key_id}/reveal", json={}).json() == {"key": key}

    bob = env.client()
    env.sign_up(bob, "bob@example.com")
    assert bob.post(f"{API}/api-keys/{key_id}/reveal", json={}).status_code == 404
    assert bob.delete(f"{API}/api-keys/{key_id}").status_code == 404
    assert client.delete(f"{API}/api-keys/{key_id}").status_code == 204
    assert client.get(f"{API}/api-keys").json() == []
    bad = client.post(f"{API}/api-keys", json={"label": "", "provider": "x", "key": "k"})
    assert bad.status_code == 400


# -- dependencies and the schema -----------------------------------------------------


def test_dependencies_in_an_app_of_your_own(env: Env) -> None:
    app = FastAPI()
    FastAPIAuth(env.auth.flow).init_app(app)

    @app.get("/whoami")
    def whoami(user: Annotated[User, Depends(current_user)]) -> dict[str, Any]:
        return {"email": user.email}

    @app.get("/maybe")
    def maybe(user: Annotated[User | None, Depends(optional_user)]) -> dict[str, Any]:
        return {"email": user.email if user else None}

    own = TestClient(app)
    assert own.get("/whoami").status_code == 401
    assert own.get("/maybe").json() == {"email": None}
    signer = env.client()
    env.sign_up(signer, "ann@example.com")
    own.cookies.set("auth_store_session", signer.cookies["auth_store_session"])
    assert own.get("/whoami").json() == {"email": "ann@example.com"}
    assert own.get("/maybe").json() == {"email": "ann@example.com"}


def test_openapi_documents_the_router(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    paths = schema["paths"]
    for path in (
        "/sign-up",
        "/sign-in",
        "/second-factor",
        "/magic-link",
        "/magic-link/consume",
        "/verify-email",
        "/password-reset",
        "/password-reset/confirm",
        "/password",
        "/sign-out",
        "/me",
        "/sessions",
        "/sessions/{session_id}",
        "/totp/enroll",
        "/totp/confirm",
        "/totp/disable",
        "/backup-codes",
        "/api-keys",
        "/api-keys/{key_id}/reveal",
    ):
        assert API + path in paths, path
    sign_in = paths[f"{API}/sign-in"]["post"]
    assert sign_in["summary"] == "Sign in with e-mail and password"
    assert "SignInIn" in str(sign_in["requestBody"])
    for path, operations in paths.items():
        if path.startswith(API):
            for method, operation in operations.items():
                assert operation.get("summary"), (method, path)
    # Every body the router takes or returns is described in the schema.
    schemas = schema["components"]["schemas"]
    ours = [name for name in schemas if name.endswith(("In", "Out"))]
    assert {"SignInIn", "SignInOut", "UserOut", "ApiKeyOut"} <= set(ours)
    for name in ours:
        assert schemas[name].get("description"), name


# -- the example's HTML pages ------------------------------------------------------------


BAD_KEY_IDS = {"space": "a b", "dots": "..", "path": "../x", "long": "k" * 200, "accent": "ké"}


@pytest.mark.parametrize("key_id", BAD_KEY_IDS.values(), ids=BAD_KEY_IDS.keys())
def test_html_api_key_pages_answer_404_for_an_invalid_id(
    env: Env, client: TestClient, key_id: str
) -> None:
    env.sign_up(client, "ann@example.com")
    client.post(f"{API}/api-keys", json={"label": "work", "provider": "openai", "key": "k" * 20})
    token = csrf_of(client.get("/api-keys").text)
    for action in ("reveal", "delete"):
        response = client.post(
            f"/api-keys/{quote(key_id, safe='')}/{action}",
            data={"csrf_token": token},
            follow_redirects=False,
        )
        assert response.status_code == 404, (action, response.text)
    assert len(client.get(f"{API}/api-keys").json()) == 1


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


def test_html_pages_sign_up_verify_enrol_and_sign_in(env: Env, client: TestClient) -> None:
    page = client.get("/sign-up")
    response = client.post(
        "/sign-up",
        data={"email": "ann@example.com", "password": PASSWORD, "csrf_token": csrf_of(page.text)},
    )
    assert "Check your inbox" in response.text
    # The outbox page is a development tool: only while the demo runs on localhost.
    assert client.get("/outbox").status_code == 404

    path, query = env.link("ann@example.com")
    # Opening the link (as a mail scanner would) shows a button and spends nothing.
    for _ in range(2):
        confirm = client.get(path, params=query)
        assert confirm.status_code == 200
        assert 'id="confirm"' in confirm.text
    done = client.post(
        path, data={**query, "csrf_token": csrf_of(confirm.text)}, follow_redirects=False
    )
    assert done.status_code == 303
    assert done.headers["location"] == "/account"
    assert "ann@example.com" in client.get("/account").text

    start = client.get("/account/totp")
    assert 'id="start-totp"' in start.text  # a GET makes no secret
    assert "totp-secret" not in start.text
    enrol = client.post("/account/totp/start", data={"csrf_token": csrf_of(start.text)})
    assert str(enrol.url).endswith("/account/totp")
    assert 'src="data:image/svg+xml;base64,' in enrol.text
    match = re.search(r'id="totp-secret">([A-Z2-7]+)<', enrol.text)
    assert match
    secret = match.group(1)
    codes = client.post(
        "/account/totp",
        data={"code": pyotp.TOTP(secret).now(), "csrf_token": csrf_of(enrol.text)},
    )
    assert codes.text.count("<li>") == 10

    client.post("/sign-out", data={"csrf_token": csrf_of(codes.text)})
    page = client.get("/sign-in")
    first = client.post(
        "/sign-in",
        data={"email": "ann@example.com", "password": PASSWORD, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert first.headers["location"] == "/second-step"
    step = client.get("/second-step")
    finished = client.post(
        "/second-step",
        data={"code": next_code(secret), "csrf_token": csrf_of(step.text)},
        follow_redirects=False,
    )
    assert finished.headers["location"] == "/account"
    assert "On: sign-in asks for a code" in client.get("/account").text


def test_html_pages_redirect_strangers_to_sign_in(client: TestClient) -> None:
    response = client.get("/account", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/sign-in?next=/account"


def test_html_sign_in_refuses_an_offsite_next(env: Env, client: TestClient) -> None:
    env.sign_up(env.client(), "ann@example.com")
    page = client.get("/sign-in")
    response = client.post(
        "/sign-in",
        data={
            "email": "ann@example.com",
            "password": PASSWORD,
            "next": "//evil.example/",
            "csrf_token": csrf_of(page.text),
        },
        follow_redirects=False,
    )
    assert response.headers["location"] == "/account"


def test_issue_magic_link_script(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = Path(__file__).resolve().parent.parent
    url = f"sqlite:///{tmp_path}/auth.db"
    auth_store.connect(url).close()  # the script needs the store to exist
    secret = "script-and-app-share-this-secret-0123456789"
    done = subprocess.run(
        [
            sys.executable,
            str(root / "examples" / "issue_magic_link.py"),
            "Ann@Example.com",
            "--base-url",
            "http://testserver",
            "--store",
            url,
            "--data-dir",
            str(tmp_path / "demo"),
        ],
        env={**os.environ, "AUTH_STORE_SECRET": secret},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    link = urlsplit(done.stdout.strip())
    assert link.path == "/auth/magic-link"
    query = {k: v[0] for k, v in parse_qs(link.query).items()}
    assert query["email"] == "ann@example.com"

    monkeypatch.setenv("AUTH_STORE_SECRET", secret)
    store = auth_store.connect(url)
    app = create_app(store, base_url="http://testserver", data_dir=tmp_path / "demo")
    client = TestClient(app)
    signed = client.post(f"{API}/magic-link/consume", json=query)
    assert signed.json()["status"] == "signed_in"
    assert client.get(f"{API}/me").json()["email"] == "ann@example.com"
    store.close()
