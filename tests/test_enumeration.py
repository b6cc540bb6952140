"""No account enumeration by timing: a request does the same work for any address.

Asking for a password reset, for a magic link (with sign-up by link off) and
signing up with an address that is taken must cost a request what they cost
for an address without an account. The cause of a difference is the work
done, so that is what these tests compare: every store call made by the
request (outside the mail worker), and every argon2 computation. The times
themselves are measured in ``benchmarks/enumeration.py``, never asserted here.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import auth_store
from auth_store.adapter import Adapter
from auth_store.flow import AuthFlow, Messages
from auth_store.mail import BackgroundMailer, MemoryMailer
from auth_store.models import User
from auth_store.signing import Signer
from examples.fastapi_app import create_app as create_fastapi_app
from examples.flask_app import create_app as create_flask_app
from tests.hash_work import HashWork, hash_work
from tests.sync_flow import sync_twin_of, warm_dummy_hash

__all__ = ["hash_work"]  # a fixture, used below

KNOWN = "ann@example.com"
PASSWORD = "correct horse battery"
WORKER = "auth-store-mail"
_fresh = count()


def unknown() -> str:
    """An address with no account (a new one each time: sign-up makes accounts)."""
    return f"nobody-{next(_fresh)}@example.com"


class StoreCalls:
    """Every store call made outside the mail worker, by method name (``worker``: inside)."""

    def __init__(self, store: Adapter, monkeypatch: pytest.MonkeyPatch) -> None:
        self._calls: list[str] = []
        self.worker: list[str] = []
        names = sorted(
            n for n in dir(Adapter) if not n.startswith("_") and callable(getattr(Adapter, n))
        )
        for name in names:
            monkeypatch.setattr(store, name, self._recording(name, getattr(store, name)))
        # With the async twin the worker has the event loop compose (the store calls run
        # on the store's threads): a call made while the worker composes is the worker's.
        self._composing = threading.Event()
        handle = BackgroundMailer._handle

        def composing(mailer: BackgroundMailer, compose: Any) -> None:
            self._composing.set()
            try:
                handle(mailer, compose)
            finally:
                self._composing.clear()

        monkeypatch.setattr(BackgroundMailer, "_handle", composing)

    def _recording(self, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            worker = threading.current_thread().name == WORKER or self._composing.is_set()
            if not worker:
                self._calls.append(name)
            else:
                self.worker.append(name)
            return method(*args, **kwargs)

        return call

    def take(self) -> list[str]:
        calls, self._calls = self._calls, []
        return calls


class Sink(MemoryMailer):
    def to(self, address: str) -> list[str]:
        return [m.subject for m in self.messages if m.to == address]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Adapter]:
    with auth_store.connect(f"sqlite:///{tmp_path}/auth.db") as opened:
        yield opened


def _known_user(flow: AuthFlow) -> None:
    user = flow.adapter.create_user(User(email=KNOWN, email_verified=auth_store.clock.now()))
    assert user.id is not None
    flow.passwords.set_password(user.id, PASSWORD)


FLOWS: dict[str, Callable[[AuthFlow, str], str]] = {
    "reset": lambda flow, email: flow.request_password_reset(email),
    "magic link": lambda flow, email: flow.request_magic_link(email),
    "sign-up": lambda flow, email: flow.sign_up(email, PASSWORD),
}


@pytest.mark.parametrize("name", sorted(FLOWS))
def test_a_request_does_the_same_work_for_a_known_and_an_unknown_address(
    store: Adapter, monkeypatch: pytest.MonkeyPatch, hash_work: HashWork, name: str
) -> None:
    sink = Sink()
    mailer = BackgroundMailer(sink)
    flow = AuthFlow(
        store,
        signer=Signer("s" * 32),
        mailer=mailer,
        base_url="https://app.example",
        magic_link_sign_up=False,
    )
    _known_user(flow)
    flow.passwords.dummy_verify()  # libpass makes its dummy hash on first use
    hash_work.take()
    calls = StoreCalls(store, monkeypatch)
    request = FLOWS[name]
    results = []
    for email in (KNOWN, unknown(), KNOWN, unknown()):
        answer = request(flow, email)
        results.append((answer, calls.take(), hash_work.take()))
        assert mailer.flush()
    known, strange, *_ = results
    assert results == [known, strange, known, strange]
    assert known == strange  # the same answer, store calls and hashing
    # With mail composed by the worker, the request itself touches no store.
    assert known[1] == []
    expected_hashing = [("hash", "m=19456,t=2,p=1")] if name == "sign-up" else []
    assert known[2] == expected_hashing
    # What the worker did differs, as it should: only real owners get mail.
    sent = sink.to(KNOWN)
    assert len(sent) == 2
    if name == "sign-up":
        assert all("someone tried to sign up" in subject for subject in sent)
    else:
        assert [m for m in sink.messages if m.to != KNOWN] == []
    mailer.close()


@pytest.mark.parametrize("name", ["magic link", "reset"])
def test_the_worker_too_does_the_same_store_work_for_links(
    store: Adapter, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    # Only the mail itself differs: so the worker's work, even where it
    # overlaps other requests, says nothing either.
    sink = Sink()
    mailer = BackgroundMailer(sink, delay=0)
    flow = AuthFlow(
        store,
        signer=Signer("s" * 32),
        mailer=mailer,
        base_url="https://app.example",
        magic_link_sign_up=False,
    )
    _known_user(flow)
    calls = StoreCalls(store, monkeypatch)
    work = []
    for email in (KNOWN, unknown()):
        FLOWS[name](flow, email)
        assert mailer.flush()
        work.append(calls.worker[:])
        calls.worker.clear()
    assert work[0] == work[1] == ["get_user_by_email", "create_verification_token"]
    assert len(sink.messages) == 1
    mailer.close()


def test_an_unknown_address_signing_up_gets_its_account_from_the_worker(
    store: Adapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = Sink()
    mailer = BackgroundMailer(sink)
    flow = AuthFlow(store, signer=Signer("s" * 32), mailer=mailer, base_url="https://a.example")
    calls = StoreCalls(store, monkeypatch)
    address = unknown()
    assert flow.sign_up(address, PASSWORD) == Messages.SIGN_UP_SENT
    assert calls.take() == []
    assert mailer.flush()
    user = store.get_user_by_email(address)
    assert user is not None
    assert user.email_verified is None
    assert sink.to(address) == ["Verify your auth-store address"]
    mailer.close()


# -- over HTTP, in both example apps -------------------------------------------------------


class WebSite:
    def __init__(self, kind: str, store: Adapter, tmp_path: Path) -> None:
        self.kind = kind
        self.sink = Sink()
        self.mailer = BackgroundMailer(self.sink)
        options: dict[str, Any] = {"data_dir": tmp_path / "demo", "mailer": self.mailer}
        if kind == "flask":
            self.app: Any = create_flask_app(store, base_url="http://localhost", **options)
            self.flow: AuthFlow = self.app.extensions["auth_store"].flow
            self.served: Any = self.flow
            self.client: Any = self.app.test_client()
        else:
            self.app = create_fastapi_app(store, base_url="http://testserver", **options)
            self.served = self.app.state.auth_store.flow  # the async twin
            self.flow = sync_twin_of(self.served, store, self.mailer)
            self.client = TestClient(self.app)

    def post(self, form_path: str, data: dict[str, str]) -> tuple[int, str]:
        """Post the HTML form at ``form_path`` (FastAPI's JSON API is checked too)."""
        page = self.client.get(form_path)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token, page.text
        response = self.client.post(form_path, data={**data, "csrf_token": token.group(1)})
        return response.status_code, response.text

    def post_json(self, path: str, data: dict[str, str]) -> tuple[int, str]:
        response = self.client.post(path, json=data)
        return response.status_code, response.text


WEB_FLOWS: dict[str, tuple[str, Callable[[str], dict[str, str]]]] = {
    "reset": ("/reset-password", lambda email: {"email": email}),
    "magic link": ("/magic-link", lambda email: {"email": email}),
    "sign-up": ("/sign-up", lambda email: {"email": email, "password": PASSWORD}),
}
API_PATHS = {"reset": "/api/auth/password-reset", "magic link": "/api/auth/magic-link"}


@pytest.mark.parametrize("name", sorted(WEB_FLOWS))
@pytest.mark.parametrize("kind", ["fastapi", "flask"])
def test_a_web_request_does_the_same_work_for_a_known_and_an_unknown_address(
    store: Adapter,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    hash_work: HashWork,
    kind: str,
    name: str,
) -> None:
    site = WebSite(kind, store, tmp_path)
    site.served.magic_link_sign_up = False
    _known_user(site.flow)
    warm_dummy_hash(site.served)
    hash_work.take()
    calls = StoreCalls(store, monkeypatch)
    path, form = WEB_FLOWS[name]
    senders: list[Callable[[str], tuple[int, str]]] = [lambda e: site.post(path, form(e))]
    if kind == "fastapi" and name in API_PATHS:
        senders.append(lambda e: site.post_json(API_PATHS[name], {"email": e}))
    for send in senders:
        results = []
        for email in (KNOWN, unknown(), KNOWN, unknown()):
            status, body = send(email)
            results.append(
                (status, body.replace(email, "<address>"), calls.take(), hash_work.take())
            )
            assert site.mailer.flush()
        known, strange, *_ = results
        assert results == [known, strange, known, strange]
        assert known == strange  # status, page, store calls and hashing
        assert known[0] < 400, known[1]
    assert len(site.sink.to(KNOWN)) == 2 * len(senders)
    site.mailer.close()
