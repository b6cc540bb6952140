"""Passkey ceremonies with a software authenticator, on every backend.

The authenticator (``tests/soft_authenticator.py``) makes real keys and real
WebAuthn messages; py_webauthn verifies them inside ``PasskeyService``. The
clock is fake so expiry is tested without waiting.
"""

from __future__ import annotations

import base64
import json
import logging
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pytest

from auth_store import (
    Authenticator,
    AuthStoreError,
    ConfigurationError,
    NotFoundError,
    TooManyAttemptsError,
    User,
    ValidationError,
)
from auth_store.adapter import Adapter
from auth_store.attempts import AttemptLimiter
from auth_store.passkey_store import METADATA_TYPE, USER_HANDLE_TYPE, Passkey
from auth_store.passkeys import (
    _STATE_PURPOSE,
    KIND,
    Messages,
    PasskeyChallenge,
    PasskeyChallengeError,
    PasskeyCounterError,
    PasskeyExistsError,
    PasskeyResponseError,
    PasskeyService,
    PasskeySignIn,
    PasskeyVerificationError,
)
from auth_store.passwords import PasswordService, make_context
from auth_store.reauth import ReauthenticationRequiredError
from auth_store.signing import Signer
from auth_store.testing import stores
from auth_store.users import disabled_extra, enabled_extra
from tests.fake_clock import FakeClock
from tests.soft_authenticator import SoftAuthenticator, b64url, from_b64url

ROOT = Path(__file__).resolve().parent.parent
RP_ID = "example.com"
ORIGIN = "https://example.com"


@pytest.fixture
def fake_clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    return FakeClock.install(monkeypatch)


@pytest.fixture(params=stores.backend_params())
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Adapter]:
    with stores.fresh_store(request.param, tmp_path) as (adapter, _url):
        yield adapter


@pytest.fixture
def signer() -> Signer:
    return Signer(Signer.generate())


@pytest.fixture
def limiter(store: Adapter) -> AttemptLimiter:
    return AttemptLimiter(store, free_failures=3, base_delay=30, lockout_after=6)


@pytest.fixture
def service(
    store: Adapter, signer: Signer, limiter: AttemptLimiter, fake_clock: FakeClock
) -> PasskeyService:
    return PasskeyService(
        store,
        signer=signer,
        rp_id=RP_ID,
        rp_name="Example",
        origins=[ORIGIN, "https://app.example.com"],
        limiter=limiter,
    )


@pytest.fixture
def ann(store: Adapter) -> User:
    return store.create_user(User(email="ann@example.com", name="Ann"))


@pytest.fixture
def bob(store: Adapter) -> User:
    return store.create_user(User(email="bob@example.com"))


def register(
    service: PasskeyService, user: User, device: SoftAuthenticator, **create: Any
) -> Passkey:
    challenge = service.registration_options(user)
    response = device.create(challenge.options, origin=ORIGIN, **create)
    return service.register(user, response, state=challenge.state)


def sign_in(
    service: PasskeyService, device: SoftAuthenticator, email: str | None = None, **get: Any
) -> PasskeySignIn:
    challenge = service.sign_in_options(email)
    return service.sign_in(
        device.get(challenge.options, origin=ORIGIN, **get), state=challenge.state
    )


def fails_alike(call: Callable[[], object]) -> PasskeyVerificationError:
    """Run ``call``; it must fail as every failed passkey sign-in does."""
    with pytest.raises(PasskeyVerificationError) as caught:
        call()
    assert str(caught.value) == Messages.SIGN_IN_FAILED
    assert type(caught.value) in (PasskeyVerificationError, PasskeyCounterError)
    return caught.value


def state_payload(signer: Signer, state: str) -> dict[str, Any]:
    data: dict[str, Any] = signer.loads(state, purpose=_STATE_PURPOSE)
    return data


# -- registration ------------------------------------------------------------------


def test_register_then_sign_in_without_a_name(
    service: PasskeyService, store: Adapter, ann: User, fake_clock: FakeClock
) -> None:
    device = SoftAuthenticator()
    challenge = service.registration_options(ann)
    response = device.create(challenge.options, origin=ORIGIN)
    passkey = service.register(ann, response, state=challenge.state, name="  Work   laptop ")
    (raw_id,) = device.credentials
    stored_id = base64.b64encode(raw_id).decode()
    assert passkey.id == b64url(raw_id) == response["id"]
    assert passkey.credential_id == stored_id
    assert passkey.name == "Work laptop"
    assert passkey.created_at == fake_clock.now
    assert passkey.last_used_at is None
    assert (passkey.device_type, passkey.backed_up) == ("multiDevice", True)
    assert passkey.transports == ("hybrid", "internal")

    # What Auth.js's WebAuthn provider writes, byte for byte.
    (row,) = store.list_authenticators_by_user_id(str(ann.id))
    assert row.credential_id == stored_id
    assert row.provider_account_id == stored_id
    assert (
        base64.b64decode(row.credential_public_key) == device.credentials[raw_id].cose_public_key()
    )
    assert (row.counter, row.credential_device_type, row.credential_backed_up) == (
        0,
        "multiDevice",
        True,
    )
    assert row.transports == "hybrid,internal"
    account = store.get_account("passkey", stored_id)
    assert account is not None
    assert (account.type, account.user_id) == ("webauthn", ann.id)
    assert account.extra == {}  # Auth.js's tables carry nothing of ours

    fake_clock.advance(60)
    result = sign_in(service, device)
    assert result.user == ann
    assert result.user_verified
    assert result.multi_factor
    assert result.passkey.last_used_at == fake_clock.now
    assert result.passkey.counter == 1
    stored = store.get_authenticator(stored_id)
    assert stored is not None
    assert stored.counter == 1
    assert service.list(ann) == [result.passkey]


def test_registration_options(service: PasskeyService, ann: User, bob: User) -> None:
    first = service.registration_options(ann)
    options = first.options
    assert options["rp"] == {"id": RP_ID, "name": "Example"}
    assert options["user"]["name"] == "ann@example.com"
    assert options["user"]["displayName"] == "Ann"
    handle = from_b64url(options["user"]["id"])
    assert len(handle) == 32
    assert b"ann" not in handle
    assert options["authenticatorSelection"]["residentKey"] == "preferred"
    assert options["authenticatorSelection"]["userVerification"] == "preferred"
    assert options["attestation"] == "none"
    assert options["timeout"] == 300_000
    assert {p["alg"] for p in options["pubKeyCredParams"]} == {-8, -7, -257}
    assert len(from_b64url(options["challenge"])) == 32
    assert options["excludeCredentials"] == []
    assert first.mediation is None

    # The handle is stable per user and differs between users; challenges never repeat.
    again = service.registration_options(ann)
    assert again.options["user"]["id"] == options["user"]["id"]
    assert again.options["challenge"] != options["challenge"]
    assert service.registration_options(bob).options["user"]["id"] != options["user"]["id"]

    device = SoftAuthenticator()
    passkey = register(service, ann, device)
    excluded = service.registration_options(ann).options["excludeCredentials"]
    assert excluded == [
        {"id": passkey.id, "type": "public-key", "transports": ["hybrid", "internal"]}
    ]
    with pytest.raises(ValueError, match="excluded"):  # the authenticator refuses, as real ones do
        device.create(service.registration_options(ann).options, origin=ORIGIN)


def test_registration_attachment_and_bad_attachment(service: PasskeyService, ann: User) -> None:
    options = service.registration_options(ann, authenticator_attachment="platform").options
    assert options["authenticatorSelection"]["authenticatorAttachment"] == "platform"
    with pytest.raises(ValidationError):
        service.registration_options(ann, authenticator_attachment="usb-stick")


def test_the_same_credential_cannot_be_registered_twice(
    service: PasskeyService, store: Adapter, ann: User, bob: User
) -> None:
    original = register(service, ann, SoftAuthenticator())
    clone = SoftAuthenticator()
    challenge = service.registration_options(bob)
    response = clone.create(
        challenge.options, origin=ORIGIN, credential_id=from_b64url(original.id)
    )
    with pytest.raises(PasskeyExistsError) as caught:
        service.register(bob, response, state=challenge.state)
    assert caught.value.status == 409
    assert store.list_authenticators_by_user_id(str(bob.id)) == []
    found = store.get_authenticator(original.credential_id)
    assert found is not None
    assert found.user_id == ann.id
    assert [p.id for p in service.list(ann)] == [original.id]


def test_registration_state_belongs_to_the_user_who_asked(
    service: PasskeyService, store: Adapter, ann: User, bob: User
) -> None:
    challenge = service.registration_options(ann)
    response = SoftAuthenticator().create(challenge.options, origin=ORIGIN)
    with pytest.raises(PasskeyChallengeError):
        service.register(bob, response, state=challenge.state)
    assert store.list_authenticators_by_user_id(str(bob.id)) == []


@pytest.mark.parametrize("alg", ["ES256", "RS256", "EdDSA"])
def test_every_supported_key_type_round_trips(service: PasskeyService, ann: User, alg: str) -> None:
    device = SoftAuthenticator(alg=alg)
    register(service, ann, device)
    assert sign_in(service, device).user == ann
    assert sign_in(service, device, "ann@example.com").user == ann


def test_packed_self_attestation_is_accepted(service: PasskeyService, ann: User) -> None:
    device = SoftAuthenticator()
    register(service, ann, device, attestation="packed")
    assert sign_in(service, device).user == ann


def test_required_user_verification_refuses_unverified_responses(
    store: Adapter, signer: Signer, ann: User, fake_clock: FakeClock
) -> None:
    strict = PasskeyService(
        store,
        signer=signer,
        rp_id=RP_ID,
        origins=ORIGIN,
        user_verification="required",
        require_user_verification=True,
    )
    lax_device = SoftAuthenticator(user_verified=False)
    challenge = strict.registration_options(ann)
    assert challenge.options["authenticatorSelection"]["userVerification"] == "required"
    with pytest.raises(PasskeyVerificationError):
        strict.register(
            ann, lax_device.create(challenge.options, origin=ORIGIN), state=challenge.state
        )
    device = SoftAuthenticator()
    register(strict, ann, device)
    fails_alike(lambda: sign_in(strict, device, user_verified=False))
    assert sign_in(strict, device).user_verified


# -- sign-in -----------------------------------------------------------------------


def test_sign_in_with_an_email_offers_that_users_passkeys(
    service: PasskeyService, ann: User, bob: User
) -> None:
    phone, key = SoftAuthenticator(), SoftAuthenticator(transports=("usb",))
    mine = {register(service, ann, phone).id, register(service, ann, key).id}
    bobs = SoftAuthenticator()
    register(service, bob, bobs)
    challenge = service.sign_in_options(" Ann@Example.com ")
    allowed = {c["id"] for c in challenge.options["allowCredentials"]}
    assert allowed == mine
    assert sign_in(service, key, "ann@example.com").user == ann
    # Bob's passkey answering the challenge made for Ann's address is refused.
    challenge = service.sign_in_options("ann@example.com")
    response = bobs.get(challenge.options | {"allowCredentials": []}, origin=ORIGIN)
    fails_alike(lambda: service.sign_in(response, state=challenge.state))
    with pytest.raises(ValidationError):
        service.sign_in_options("not an address")


def test_an_unknown_email_gets_an_answer_like_a_known_one(
    service: PasskeyService, signer: Signer, ann: User, bob: User
) -> None:
    register(service, ann, SoftAuthenticator())
    known = service.sign_in_options("ann@example.com")
    unknown = service.sign_in_options("nobody@example.com")
    without_passkeys = service.sign_in_options("bob@example.com")
    for other in (unknown, without_passkeys):
        assert other.options.keys() == known.options.keys()
        (decoy,) = other.options["allowCredentials"]
        (real,) = known.options["allowCredentials"]
        assert decoy.keys() == real.keys()
        assert len(from_b64url(decoy["id"])) == len(from_b64url(real["id"]))
        assert decoy["transports"] == real["transports"]
        # The state (readable by the browser) has the same shape: a MAC, no user id.
        assert (
            state_payload(signer, other.state).keys() == state_payload(signer, known.state).keys()
        )
        assert isinstance(state_payload(signer, other.state)["s"], str)
        assert str(ann.id) not in json.dumps(state_payload(signer, known.state))
    # Stable per address (asking twice does not tell a made-up list from a real one).
    assert (
        service.sign_in_options("nobody@example.com").options["allowCredentials"]
        == unknown.options["allowCredentials"]
    )
    assert (
        service.sign_in_options("other@example.com").options["allowCredentials"]
        != unknown.options["allowCredentials"]
    )
    # Answering the made-up list fails like anything else.
    stranger = SoftAuthenticator()
    stranger.create(service.registration_options(bob).options, origin=ORIGIN)
    response = stranger.get(unknown.options | {"allowCredentials": []}, origin=ORIGIN)
    fails_alike(lambda: service.sign_in(response, state=unknown.state))


def test_conditional_ui_uses_the_discoverable_options_flagged_for_autofill(
    service: PasskeyService, ann: User
) -> None:
    device = SoftAuthenticator()
    register(service, ann, device)
    modal = service.sign_in_options()
    autofill = service.sign_in_options(conditional=True)
    assert autofill.mediation == "conditional"
    assert modal.mediation is None
    assert autofill.options.keys() == modal.options.keys()
    assert autofill.options["allowCredentials"] == [] == modal.options["allowCredentials"]
    response = device.get(autofill.options, origin=ORIGIN)
    assert service.sign_in(response, state=autofill.state).user == ann
    with pytest.raises(ValidationError):
        service.sign_in_options("ann@example.com", conditional=True)


def test_a_second_allowed_origin_works_and_others_are_refused(
    service: PasskeyService, store: Adapter, ann: User
) -> None:
    device = SoftAuthenticator()
    challenge = service.registration_options(ann)
    evil = SoftAuthenticator().create(challenge.options, origin="https://evil.example")
    with pytest.raises(PasskeyVerificationError) as caught:
        service.register(ann, evil, state=challenge.state)
    assert str(caught.value) == Messages.REGISTRATION_FAILED
    assert store.list_authenticators_by_user_id(str(ann.id)) == []

    register(service, ann, device)
    challenge = service.sign_in_options()
    good = device.get(challenge.options, origin="https://app.example.com")
    assert service.sign_in(good, state=challenge.state).user == ann
    for origin in ("https://evil.example", "http://example.com", "https://example.com:8443"):
        challenge = service.sign_in_options()
        response = device.get(challenge.options, origin=origin)
        fails_alike(lambda: service.sign_in(response, state=challenge.state))  # noqa: B023


def test_a_wrong_rp_id_is_refused(service: PasskeyService, store: Adapter, ann: User) -> None:
    device = SoftAuthenticator()
    challenge = service.registration_options(ann)
    response = SoftAuthenticator().create(challenge.options, origin=ORIGIN, rp_id="evil.example")
    with pytest.raises(PasskeyVerificationError):
        service.register(ann, response, state=challenge.state)
    assert store.list_authenticators_by_user_id(str(ann.id)) == []
    register(service, ann, device)
    fails_alike(lambda: sign_in(service, device, rp_id="app.example.com"))
    fails_alike(lambda: sign_in(service, device, rp_id="evil.example"))


def test_a_replayed_response_is_refused(service: PasskeyService, ann: User) -> None:
    device = SoftAuthenticator()
    challenge = service.registration_options(ann)
    created = device.create(challenge.options, origin=ORIGIN)
    service.register(ann, created, state=challenge.state)
    with pytest.raises(PasskeyChallengeError):
        service.register(ann, created, state=challenge.state)

    challenge = service.sign_in_options()
    response = device.get(challenge.options, origin=ORIGIN)
    assert service.sign_in(response, state=challenge.state).user == ann
    with pytest.raises(PasskeyChallengeError) as caught:
        service.sign_in(response, state=challenge.state)
    assert str(caught.value) == Messages.CHALLENGE_FAILED
    # ...also with the state of a fresh challenge: the response answers the old one.
    with pytest.raises(PasskeyChallengeError):
        service.sign_in(response, state=service.sign_in_options().state)


def test_a_response_raced_many_times_signs_in_once(service: PasskeyService, ann: User) -> None:
    device = SoftAuthenticator()
    register(service, ann, device)
    challenge = service.sign_in_options()
    response = device.get(challenge.options, origin=ORIGIN)

    def attempt(_: int) -> str:
        try:
            service.sign_in(response, state=challenge.state)
        except PasskeyChallengeError:
            return "refused"
        return "signed in"

    with ThreadPoolExecutor(max_workers=6) as pool:
        outcomes = list(pool.map(attempt, range(6)))
    assert sorted(outcomes) == ["refused"] * 5 + ["signed in"]


def test_a_response_bound_to_another_browser_is_refused(
    service: PasskeyService, signer: Signer, ann: User
) -> None:
    device = SoftAuthenticator()
    register(service, ann, device)
    in_browser_a = service.sign_in_options()
    in_browser_b = service.sign_in_options()
    response_a = device.get(in_browser_a.options, origin=ORIGIN)
    with pytest.raises(PasskeyChallengeError):
        service.sign_in(response_a, state=in_browser_b.state)
    for state in (
        None,
        "",
        "garbage",
        in_browser_a.state + "x",
        Signer(Signer.generate()).dumps(
            state_payload(signer, in_browser_a.state), purpose=_STATE_PURPOSE
        ),
    ):
        with pytest.raises(PasskeyChallengeError):
            service.sign_in(response_a, state=state)
    # Nothing above spent browser A's challenge: its own state still works, once.
    assert service.sign_in(response_a, state=in_browser_a.state).user == ann
    # A state made for another ceremony is refused too.
    second_step = service.second_factor_options(ann)
    response = device.get(second_step.options, origin=ORIGIN)
    with pytest.raises(PasskeyChallengeError):
        service.sign_in(response, state=second_step.state)


def test_an_expired_challenge_is_refused(
    service: PasskeyService, ann: User, fake_clock: FakeClock
) -> None:
    device = SoftAuthenticator()
    challenge = service.registration_options(ann)
    created = SoftAuthenticator().create(challenge.options, origin=ORIGIN)
    fake_clock.advance(timedelta(minutes=5, seconds=1))
    with pytest.raises(PasskeyChallengeError):
        service.register(ann, created, state=challenge.state)
    assert service.list(ann) == []

    register(service, ann, device)
    challenge = service.sign_in_options()
    assert challenge.expires == fake_clock.now + timedelta(minutes=5)
    response = device.get(challenge.options, origin=ORIGIN)
    fake_clock.advance(timedelta(minutes=5, seconds=1))
    with pytest.raises(PasskeyChallengeError):
        service.sign_in(response, state=challenge.state)
    challenge = service.sign_in_options()
    fake_clock.advance(timedelta(minutes=4, seconds=59))
    response = device.get(challenge.options, origin=ORIGIN)
    assert service.sign_in(response, state=challenge.state).user == ann


def test_a_counter_going_backwards_is_refused_and_reported(
    service: PasskeyService, store: Adapter, ann: User, caplog: pytest.LogCaptureFixture
) -> None:
    device = SoftAuthenticator(counter_step=1)
    passkey = register(service, ann, device)
    sign_in(service, device)
    sign_in(service, device)  # the counter is 2 now
    for cloned_count in (1, 2):
        challenge = service.sign_in_options()
        response = device.get(challenge.options, origin=ORIGIN, sign_count=cloned_count)
        with caplog.at_level(logging.WARNING, logger="auth_store.passkeys"):
            error = fails_alike(lambda: service.sign_in(response, state=challenge.state))  # noqa: B023
        assert isinstance(error, PasskeyCounterError)
        assert error.passkey_id == passkey.id
    records = [
        r for r in caplog.records if getattr(r, "event", None) == "passkey_counter_regression"
    ]
    assert len(records) == 2
    assert passkey.id in records[0].getMessage()
    assert str(ann.id) in records[0].getMessage()
    for secret in (
        challenge.state,
        response["response"]["signature"],
        challenge.options["challenge"],
    ):
        assert secret not in caplog.text
    stored = store.get_authenticator(passkey.credential_id)
    assert stored is not None
    assert stored.counter == 2
    (listed,) = service.list(ann)
    assert listed.counter_regressions == 2
    assert sign_in(service, device).passkey.counter == 3  # the real device goes on


def test_zero_counters_of_synced_passkeys_are_accepted(
    service: PasskeyService, store: Adapter, ann: User
) -> None:
    device = SoftAuthenticator(counter_step=0)
    passkey = register(service, ann, device)
    for _ in range(3):
        assert sign_in(service, device).passkey.counter == 0
    assert sign_in(service, device, sign_count=5).passkey.counter == 5
    fails_alike(lambda: sign_in(service, device, sign_count=0))  # once counting, always counting
    stored = store.get_authenticator(passkey.credential_id)
    assert stored is not None
    assert stored.counter == 5


def _tamper(response: dict[str, Any], field: str, change: Callable[[bytes], bytes]) -> None:
    inner = response["response"]
    inner[field] = b64url(change(from_b64url(inner[field])))


def test_a_tampered_response_is_refused(
    service: PasskeyService, ann: User, limiter: AttemptLimiter, fake_clock: FakeClock
) -> None:
    device = SoftAuthenticator(user_verified=False)
    register(service, ann, device)
    tamperings: list[tuple[str, Callable[[bytes], bytes]]] = [
        ("signature", lambda sig: sig[:-1] + bytes([sig[-1] ^ 1])),
        ("authenticatorData", lambda data: data[:32] + bytes([data[32] | 0x04]) + data[33:]),
        (
            "clientDataJSON",
            lambda cd: cd.replace(b'"crossOrigin":false', b'"crossOrigin":true '),
        ),
    ]
    for field, change in tamperings:
        challenge = service.sign_in_options()
        response = device.get(challenge.options, origin=ORIGIN)
        _tamper(response, field, change)
        fails_alike(lambda: service.sign_in(response, state=challenge.state))  # noqa: B023
    assert limiter.status(str(ann.id), KIND).failures == 3
    fake_clock.advance(30)  # the third failure costs a 30 s wait
    assert sign_in(service, device).user == ann
    assert limiter.status(str(ann.id), KIND).failures == 0


def test_an_unknown_passkey_fails_like_a_bad_signature(
    service: PasskeyService, store: Adapter, ann: User
) -> None:
    register(service, ann, SoftAuthenticator())
    stranger = SoftAuthenticator()
    stranger.create(service.registration_options(ann).options, origin=ORIGIN)  # never sent back
    before = store.counts()
    bad = fails_alike(lambda: sign_in(service, stranger))
    assert type(bad) is PasskeyVerificationError
    assert bad.status == 401
    after = store.counts()
    assert after["credentials"] == before["credentials"]  # no attempt counted for anyone


class _Recorder:
    """An adapter that records which of its methods are called (for equal-work checks)."""

    def __init__(self, inner: Adapter) -> None:
        self.inner = inner
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        found = getattr(self.inner, name)
        if not callable(found):
            return found

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            return found(*args, **kwargs)

        return call


def test_an_unknown_passkey_costs_the_store_work_of_a_known_one(
    store: Adapter, signer: Signer, ann: User, fake_clock: FakeClock
) -> None:
    recorder = _Recorder(store)
    service = PasskeyService(cast(Adapter, recorder), signer=signer, rp_id=RP_ID, origins=ORIGIN)
    known, stranger = SoftAuthenticator(), SoftAuthenticator()
    register(service, ann, known)
    stranger.create(service.registration_options(ann).options, origin=ORIGIN)

    def work_of_a_failure(device: SoftAuthenticator) -> list[str]:
        challenge = service.sign_in_options()
        response = device.get(challenge.options, origin=ORIGIN)
        _tamper(response, "signature", lambda sig: sig[:-1] + bytes([sig[-1] ^ 1]))
        recorder.calls.clear()
        fails_alike(lambda: service.sign_in(response, state=challenge.state))
        writes = {"create_credential": "write", "update_credential": "write"}
        return [writes.get(name, name) for name in recorder.calls]

    assert work_of_a_failure(stranger) == work_of_a_failure(known)
    assert work_of_a_failure(stranger) == work_of_a_failure(known)  # a later failure too


MALFORMED_ASSERTIONS: dict[str, Callable[[dict[str, Any]], object]] = {
    "None": lambda r: None,
    "a number": lambda r: 5,
    "an empty string": lambda r: "",
    "not JSON": lambda r: "{'id': 1",
    "a JSON list": lambda r: "[]",
    "an empty object": lambda r: {},
    "bytes that are not UTF-8": lambda r: b"\xff\xfe{}",
    "too large": lambda r: json.dumps(r | {"pad": "x" * 70_000}),
    "no rawId": lambda r: {k: v for k, v in r.items() if k != "rawId"},
    "id differs from rawId": lambda r: r | {"id": b64url(b"other")},
    "rawId not base64url": lambda r: r | {"rawId": "***", "id": "***"},
    "rawId a number": lambda r: r | {"rawId": 7},
    "wrong type": lambda r: r | {"type": "password"},
    "no response": lambda r: r | {"response": None},
    "clientDataJSON missing": lambda r: r | {"response": {"signature": "AA"}},
    "clientDataJSON not base64url": lambda r: (
        r | {"response": r["response"] | {"clientDataJSON": "a+b/c"}}
    ),
    "clientDataJSON not JSON": lambda r: (
        r | {"response": r["response"] | {"clientDataJSON": b64url(b"nope")}}
    ),
    "clientDataJSON without challenge": lambda r: (
        r | {"response": r["response"] | {"clientDataJSON": b64url(b'{"type":"webauthn.get"}')}}
    ),
    "challenge not base64url": lambda r: (
        r
        | {
            "response": r["response"]
            | {"clientDataJSON": b64url(b'{"type":"webauthn.get","challenge":"$$","origin":"x"}')}
        }
    ),
    "clientDataJSON a list": lambda r: (
        r | {"response": r["response"] | {"clientDataJSON": b64url(b"[1,2]")}}
    ),
    "no authenticatorData": lambda r: (
        r | {"response": {k: v for k, v in r["response"].items() if k != "authenticatorData"}}
    ),
    "signature a number": lambda r: r | {"response": r["response"] | {"signature": 12}},
    "userHandle a number": lambda r: r | {"response": r["response"] | {"userHandle": 3}},
    "attachment a list": lambda r: r | {"authenticatorAttachment": []},
    "deeply nested": lambda r: "[" * 100_000,
}


def test_malformed_json_is_a_clear_error(service: PasskeyService, ann: User) -> None:
    device = SoftAuthenticator()
    register(service, ann, device)
    challenge = service.sign_in_options()
    good = device.get(challenge.options, origin=ORIGIN)
    for name, make in MALFORMED_ASSERTIONS.items():
        with pytest.raises(PasskeyResponseError) as caught:
            service.sign_in(make(good), state=challenge.state)  # type: ignore[arg-type]
        error = caught.value
        assert isinstance(error, ValidationError), name
        assert isinstance(error, AuthStoreError), name
        assert str(error).startswith("malformed passkey response: "), name
        assert error.status == 400, name
        assert error.__cause__ is None, name  # no parser's exception chained for display
        assert error.__context__ is None or error.__suppress_context__, name
    # None of that spent the challenge.
    assert service.sign_in(good, state=challenge.state).user == ann


def test_a_malformed_registration_is_a_clear_error(service: PasskeyService, ann: User) -> None:
    challenge = service.registration_options(ann)
    good = SoftAuthenticator().create(challenge.options, origin=ORIGIN)
    cases = {
        "no attestationObject": good
        | {"response": {k: v for k, v in good["response"].items() if k != "attestationObject"}},
        "transports not a list": good | {"response": good["response"] | {"transports": "usb"}},
        "transports of numbers": good | {"response": good["response"] | {"transports": [1]}},
        "bad name": good,
    }
    for name, response in cases.items():
        with pytest.raises(ValidationError):
            service.register(
                ann, response, state=challenge.state, name="\x00" if name == "bad name" else None
            )
    # Well-formed JSON around binary garbage is a failed ceremony, never a raw exception.
    garbage = good | {"response": good["response"] | {"attestationObject": b64url(b"\xa1\x01")}}
    with pytest.raises(PasskeyVerificationError):
        service.register(ann, garbage, state=challenge.state)


def test_binary_garbage_in_an_assertion_fails_like_any_failure(
    service: PasskeyService, ann: User
) -> None:
    device = SoftAuthenticator()
    register(service, ann, device)
    for field, value in (
        ("authenticatorData", b"\x00" * 5),
        ("signature", b"\x30\x02\x02"),
        ("authenticatorData", b"\xff" * 37),
    ):
        challenge = service.sign_in_options()
        response = device.get(challenge.options, origin=ORIGIN)
        response["response"][field] = b64url(value)
        fails_alike(lambda: service.sign_in(response, state=challenge.state))  # noqa: B023


def test_a_user_handle_of_another_user_is_refused(
    service: PasskeyService, store: Adapter, ann: User, bob: User
) -> None:
    anns, bobs = SoftAuthenticator(), SoftAuthenticator()
    register(service, ann, anns)
    register(service, bob, bobs)
    ann_handle = anns.credentials[next(iter(anns.credentials))].user_handle
    fails_alike(lambda: sign_in(service, bobs, user_handle=ann_handle))
    fails_alike(lambda: sign_in(service, bobs, user_handle=None))  # discoverable needs one
    assert sign_in(service, bobs).user == bob
    # With an address the user is known already: no handle is fine, a wrong one is not.
    assert sign_in(service, bobs, "bob@example.com", user_handle=None).user == bob
    fails_alike(lambda: sign_in(service, bobs, "bob@example.com", user_handle=ann_handle))
    handle_slots = [c for c in store.list_credentials(str(ann.id)) if c.type == USER_HANDLE_TYPE]
    assert [from_b64url(c.data["handle"]) for c in handle_slots] == [ann_handle]


def test_a_disabled_user_is_refused(service: PasskeyService, store: Adapter, ann: User) -> None:
    device = SoftAuthenticator()
    register(service, ann, device)
    disabled = store.update_user(str(ann.id), extra=disabled_extra(ann))
    fails_alike(lambda: sign_in(service, device))
    fails_alike(lambda: sign_in(service, device, "ann@example.com"))
    with pytest.raises(PasskeyVerificationError):
        service.registration_options(disabled)
    enabled = store.update_user(str(ann.id), extra=enabled_extra(disabled))
    assert sign_in(service, device).user == enabled


def test_attempt_limits_apply(
    service: PasskeyService, ann: User, limiter: AttemptLimiter, fake_clock: FakeClock
) -> None:
    device = SoftAuthenticator()
    register(service, ann, device)

    def bad_attempt() -> None:
        challenge = service.sign_in_options()
        response = device.get(challenge.options, origin=ORIGIN)
        _tamper(response, "signature", lambda sig: sig[:-1] + bytes([sig[-1] ^ 1]))
        service.sign_in(response, state=challenge.state)

    for _ in range(4):
        fails_alike(bad_attempt)
    assert limiter.status(str(ann.id), KIND).retry_after == 30
    # A good passkey sign-in is refused while throttled, and says nothing more...
    fails_alike(lambda: sign_in(service, device))
    # ...but where the person is identified already, the wait is told.
    second_step = service.second_factor_options(ann)
    response = device.get(second_step.options, origin=ORIGIN)
    with pytest.raises(TooManyAttemptsError) as caught:
        service.verify_second_factor(ann, response, state=second_step.state)
    assert caught.value.retry_after is not None
    assert caught.value.retry_after > 0
    fake_clock.advance(timedelta(minutes=10))
    assert sign_in(service, device).user == ann
    assert limiter.status(str(ann.id), KIND).failures == 0


# -- second factor ------------------------------------------------------------------


def test_the_second_factor_verifies_one_given_users_passkey(
    service: PasskeyService, ann: User, bob: User, store: Adapter
) -> None:
    anns, bobs = SoftAuthenticator(user_verified=False), SoftAuthenticator()
    mine = register(service, ann, anns)
    register(service, bob, bobs)
    challenge = service.second_factor_options(ann)
    assert [c["id"] for c in challenge.options["allowCredentials"]] == [mine.id]
    result = service.verify_second_factor(
        ann, anns.get(challenge.options, origin=ORIGIN), state=challenge.state
    )
    assert result.user == ann
    assert result.passkey.id == mine.id
    assert not result.user_verified
    assert not result.multi_factor
    challenge = service.second_factor_options(ann)
    response = bobs.get(challenge.options | {"allowCredentials": []}, origin=ORIGIN)
    fails_alike(lambda: service.verify_second_factor(ann, response, state=challenge.state))
    # Ann's challenge can't complete Bob's second step either.
    challenge = service.second_factor_options(ann)
    response = anns.get(challenge.options, origin=ORIGIN)
    fails_alike(lambda: service.verify_second_factor(bob, response, state=challenge.state))
    carol = store.create_user(User(email="carol@example.com"))
    with pytest.raises(NotFoundError):
        service.second_factor_options(carol)


# -- management ---------------------------------------------------------------------


def test_list_and_rename(
    service: PasskeyService, ann: User, bob: User, fake_clock: FakeClock
) -> None:
    first = register(service, ann, SoftAuthenticator())
    fake_clock.advance(60)
    second = register(service, ann, SoftAuthenticator(backup_eligible=False, backed_up=False))
    listed = service.list(ann)
    assert [p.id for p in listed] == [first.id, second.id]
    assert [p.name for p in listed] == ["Passkey", "Passkey"]
    assert (listed[1].device_type, listed[1].backed_up) == ("singleDevice", False)
    renamed = service.rename(ann, second.id, "YubiKey 5")
    assert renamed.name == "YubiKey 5"
    assert service.rename(ann, second.credential_id, "Key").name == "Key"  # either encoding
    assert [p.name for p in service.list(ann)] == ["Passkey", "Key"]
    with pytest.raises(NotFoundError):
        service.rename(bob, first.id, "mine now")
    for bad in ("", "   ", "x" * 65, "tab\x07"):
        with pytest.raises(ValidationError):
            service.rename(ann, first.id, bad)
    with pytest.raises(ValidationError):
        service.rename(ann, "not/an id!", "x")
    assert service.list(bob) == []


def test_delete_needs_a_fresh_reauthentication(
    service: PasskeyService,
    store: Adapter,
    ann: User,
    bob: User,
    fake_clock: FakeClock,
) -> None:
    lost, spare = SoftAuthenticator(), SoftAuthenticator()
    doomed = register(service, ann, lost)
    register(service, ann, spare)
    register(service, bob, SoftAuthenticator())

    def proof_by(device: SoftAuthenticator, user: User, session_id: str | None = None) -> str:
        challenge = service.reauthentication_options(user)
        response = device.get(challenge.options, origin=ORIGIN)
        return service.reauthenticate(user, response, state=challenge.state, session_id=session_id)

    stale = proof_by(spare, ann)
    fake_clock.advance(timedelta(minutes=5, seconds=1))
    bobs_proof = service.proofs.issue(bob, "passkey")
    for proof in (None, "", "forged", bobs_proof, stale):
        with pytest.raises(ReauthenticationRequiredError):
            service.delete(ann, doomed.id, proof=proof)
    bound = proof_by(spare, ann, session_id="session-1")
    with pytest.raises(ReauthenticationRequiredError):
        service.delete(ann, doomed.id, proof=bound, session_id="session-2")
    with pytest.raises(ReauthenticationRequiredError):
        service.delete(ann, doomed.id, proof=bound)
    assert len(service.list(ann)) == 2

    deleted = service.delete(ann, doomed.id, proof=bound, session_id="session-1")
    assert deleted.id == doomed.id
    remaining = [p.id for p in service.list(ann)]
    assert len(remaining) == 1
    assert doomed.id not in remaining
    assert store.get_authenticator(doomed.credential_id) is None
    assert store.get_account("passkey", doomed.credential_id) is None
    assert all(
        c.data.get("credential_id") != doomed.credential_id
        for c in store.list_credentials(str(ann.id), METADATA_TYPE)
    )
    fails_alike(lambda: sign_in(service, lost))
    with pytest.raises(NotFoundError):
        service.delete(ann, doomed.id, proof=bound, session_id="session-1")
    # Someone else's passkey is not found, even with a good proof.
    (bobs,) = service.list(bob)
    with pytest.raises(NotFoundError):
        service.delete(ann, bobs.id, proof=proof_by(spare, ann))


def test_a_password_is_a_reauthentication_too(
    service: PasskeyService, store: Adapter, ann: User
) -> None:
    passwords = PasswordService(store, context=make_context(memory_cost=1024, time_cost=1))
    passwords.set_password(str(ann.id), "correct horse battery staple")
    passkey = register(service, ann, SoftAuthenticator())
    with pytest.raises(ReauthenticationRequiredError):
        service.proofs.with_password(passwords, ann, "wrong")
    proof = service.proofs.with_password(passwords, ann, "correct horse battery staple")
    assert service.delete(ann, passkey.id, proof=proof).id == passkey.id


def test_rows_another_app_wrote_are_listed_and_usable(
    service: PasskeyService, store: Adapter, ann: User
) -> None:
    odd = store.create_authenticator(
        Authenticator(
            credential_id="not base64!",
            user_id=str(ann.id),
            provider_account_id="not base64!",
            credential_public_key="AAAA",
            counter=0,
            credential_device_type="singleDevice",
            credential_backed_up=False,
        )
    )
    (listed,) = service.list(ann)
    assert (listed.id, listed.credential_id, listed.name) == (odd.credential_id,) * 2 + ("Passkey",)
    assert (listed.created_at, listed.last_used_at, listed.transports) == (None, None, ())
    # It is left out of the options (the browser could not use it) rather than breaking them.
    assert service.registration_options(ann).options["excludeCredentials"] == []


def test_delete_user_takes_passkeys_and_their_metadata(
    service: PasskeyService, store: Adapter, ann: User
) -> None:
    passkey = register(service, ann, SoftAuthenticator())
    store.delete_user(str(ann.id))
    assert store.get_authenticator(passkey.credential_id) is None
    assert store.get_account("passkey", passkey.credential_id) is None
    assert store.list_credentials(str(ann.id)) == []


# -- configuration and packaging -------------------------------------------------------


@pytest.mark.parametrize(
    ("rp_id", "origins"),
    [
        ("https://example.com", ORIGIN),
        ("Example.com", ORIGIN),
        ("example.com:443", ORIGIN),
        ("127.0.0.1", "https://127.0.0.1"),
        ("example.com", "https://evil.example"),
        ("example.com", "https://notexample.com"),
        ("example.com", "http://example.com"),
        ("example.com", "https://example.com/login"),
        ("example.com", []),
    ],
)
def test_bad_configuration_is_refused(
    store: Adapter, signer: Signer, rp_id: str, origins: Any
) -> None:
    with pytest.raises(ConfigurationError):
        PasskeyService(store, signer=signer, rp_id=rp_id, origins=origins)


def test_localhost_and_subdomains_are_fine(store: Adapter, signer: Signer) -> None:
    local = PasskeyService(store, signer=signer, rp_id="localhost", origins="http://localhost:8000")
    assert local.origins == ("http://localhost:8000",)
    sub = PasskeyService(store, signer=signer, rp_id=RP_ID, origins=["https://A.Example.com:8443"])
    assert sub.origins == ("https://a.example.com:8443",)


def test_the_module_names_the_extra_when_webauthn_is_missing() -> None:
    code = (
        "import sys; sys.modules['webauthn'] = None\n"
        "import auth_store.passkey_store, auth_store.reauth  # need nothing extra\n"
        "try:\n"
        "    import auth_store.passkeys\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert done.stdout.strip() == (
        "auth_store.passkeys needs the 'passkeys' extra: pip install 'auth-store[passkeys]'"
    )


def test_challenge_state_stays_out_of_repr(service: PasskeyService, ann: User) -> None:
    challenge = service.registration_options(ann)
    assert isinstance(challenge, PasskeyChallenge)
    assert challenge.state not in repr(challenge)
