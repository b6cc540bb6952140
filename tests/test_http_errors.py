"""One map from errors to HTTP, installed once by ``init_app`` on FastAPI and Flask alike."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from flask import Flask

import auth_store
import auth_store.aio as aio
from auth_store.async_twin import ThreadedAsyncAdapter
from auth_store.errors import (
    AuthStoreError,
    ConflictError,
    ErrorCode,
    StorageError,
    TooManyAttemptsError,
    ValidationError,
    as_sentence,
)
from auth_store.flow import AuthFlow, InvalidCredentialsError, ThrottledError
from auth_store.integrations.errors import HTTP_STATUS, http_error
from auth_store.integrations.fastapi import FastAPIAuth
from auth_store.integrations.flask import FlaskAuth
from auth_store.mail import MemoryMailer
from auth_store.oauth import AccountNotLinkedError
from auth_store.signing import Signer

ROOT = Path(__file__).resolve().parent.parent
UNHANDLED = {
    ErrorCode.ERROR,
    ErrorCode.STORAGE,
    ErrorCode.NO_STORE,  # an app whose store is missing: a server error
    ErrorCode.NATIVE_BACKUP_UNAVAILABLE,
    ErrorCode.DECRYPTION_FAILED,
}

RAISED: dict[str, AuthStoreError] = {
    "validation": ValidationError("bad id"),
    "conflict": ConflictError("a user with this e-mail exists"),
    "credentials": InvalidCredentialsError("Wrong e-mail or password."),
    "throttled": ThrottledError("Too many attempts. Try again in 7 s.", retry_after=7),
    "locked": TooManyAttemptsError("too many attempts", retry_after=30),
    "not-linked": AccountNotLinkedError("Sign in first, then link."),
    "storage": StorageError("disk on fire"),
}
EXPECTED = {
    "validation": (400, "invalid_input", None),
    "conflict": (409, "conflict", None),
    "credentials": (401, "invalid_credentials", None),
    "throttled": (429, "throttled", "7"),
    "locked": (429, "too_many_attempts", "30"),
    "not-linked": (409, "oauth_account_not_linked", None),
}


def _all_error_classes() -> list[type[AuthStoreError]]:
    import auth_store.adapters.postgres
    import auth_store.adapters.postgres_authjs
    import auth_store.authjs
    import auth_store.backup
    import auth_store.flow
    import auth_store.migration
    import auth_store.oauth
    import auth_store.passkeys
    import auth_store.passwords
    import auth_store.reauth
    import auth_store.signing  # noqa: F401 - every module that defines an error

    found: list[type[AuthStoreError]] = []
    pending: list[type[AuthStoreError]] = [AuthStoreError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    # A class with two error bases (PasskeyExistsError) is reached twice: list it once.
    return [c for c in dict.fromkeys(found) if c.__module__.startswith("auth_store")]


def test_every_code_is_mapped_or_deliberately_a_server_error() -> None:
    assert set(ErrorCode) == set(HTTP_STATUS) | UNHANDLED


def test_every_error_class_has_a_code_of_its_own() -> None:
    """Backends' own errors may share their base class's code; the core's each have one."""
    every = _all_error_classes()
    assert all(isinstance(c.code, ErrorCode) for c in every)
    classes = [c for c in every if not c.__module__.startswith("auth_store.adapters")]
    assert len(classes) > 15
    codes = [c.__dict__.get("code") for c in classes]
    assert None not in codes, [c for c in classes if "code" not in c.__dict__]
    # One meaning, one code: the flow re-raises a password policy error as its own.
    shared = {code for code in codes if codes.count(code) > 1}
    assert shared == {ErrorCode.PASSWORD_REJECTED}


def test_the_core_flow_knows_nothing_of_http() -> None:
    for module in ("flow.py", "oauth.py"):
        text = (ROOT / "auth_store" / module).read_text()
        assert not re.search(r"\bstatus\s*=\s*\d{3}\b|\bHTTPException\b", text), module
    flow_errors = [c for c in _all_error_classes() if issubclass(c, auth_store.flow.FlowError)]
    assert len(flow_errors) >= 10
    assert not [c for c in flow_errors if hasattr(c, "status")]


@pytest.mark.parametrize("name", list(RAISED))
def test_the_map(name: str) -> None:
    answer = http_error(RAISED[name])
    if name == "storage":
        assert answer is None
        return
    assert answer is not None
    status, code, retry = EXPECTED[name]
    assert (answer.status, answer.code) == (status, code)
    assert answer.headers.get("Retry-After") == retry
    assert answer.body() == {"detail": as_sentence(str(RAISED[name])), "code": code}


def test_messages_over_http_read_as_sentences() -> None:
    answer = http_error(ValidationError("password must be at least 8 characters"))
    assert answer is not None
    assert answer.message == "Password must be at least 8 characters."
    assert as_sentence("Already a sentence.") == "Already a sentence."


def test_a_subclass_with_a_code_of_its_own_takes_its_base_status() -> None:
    class TenantMismatchError(ValidationError):
        code = "tenant_mismatch"  # type: ignore[assignment]

    answer = http_error(TenantMismatchError("wrong tenant"))
    assert answer is not None
    assert (answer.status, answer.code) == (400, "tenant_mismatch")


@pytest.fixture
def flow() -> AuthFlow:
    return AuthFlow(
        auth_store.connect("memory://"),
        signer=Signer(Signer.generate()),
        mailer=MemoryMailer(),
        base_url="http://testserver",
    )


@pytest.mark.parametrize("name", list(RAISED))
def test_fastapi_answers_any_endpoint_through_the_handler(name: str) -> None:
    flow = aio.AuthFlow(
        ThreadedAsyncAdapter(auth_store.connect("memory://")),
        signer=Signer(Signer.generate()),
        mailer=MemoryMailer(),
        base_url="http://testserver",
    )
    app = FastAPI()
    FastAPIAuth(flow).init_app(app)

    @app.get("/boom")
    def boom() -> None:
        raise RAISED[name]

    client = TestClient(app, raise_server_exceptions=False)
    response = client.get("/boom")
    if name == "storage":
        assert response.status_code == 500
        assert "disk on fire" not in response.text
        return
    status, code, retry = EXPECTED[name]
    assert response.status_code == status
    assert response.json() == {"detail": as_sentence(str(RAISED[name])), "code": code}
    assert response.headers.get("retry-after") == retry


@pytest.mark.parametrize("name", ["validation", "conflict", "throttled", "storage"])
def test_flask_answers_with_the_same_table(flow: AuthFlow, name: str) -> None:
    app = Flask(__name__)
    app.config.update(AUTH_STORE_CSRF=False)
    FlaskAuth(app, flow=flow)

    @app.get("/boom")
    def boom() -> str:
        raise RAISED[name]

    client = app.test_client()
    as_json = client.get("/boom", headers={"Accept": "application/json"})
    as_page = client.get("/boom", headers={"Accept": "text/html"})
    if name == "storage":
        assert as_json.status_code == as_page.status_code == 500
        return
    status, code, retry = EXPECTED[name]
    assert as_json.status_code == as_page.status_code == status
    assert as_json.get_json() == {"detail": as_sentence(str(RAISED[name])), "code": code}
    assert as_sentence(str(RAISED[name])) in as_page.get_data(as_text=True)
    assert as_json.headers.get("Retry-After") == as_page.headers.get("Retry-After") == retry
