"""AuthFlow's passkey rules, without a web framework (the endpoints: test_passkeys_web.py).

A real store per backend, the software authenticator for real WebAuthn
messages, a fake clock for throttling.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest

from auth_store import User
from auth_store.adapter import Adapter
from auth_store.attempts import AttemptLimiter
from auth_store.crypto import Keyring
from auth_store.disabled import disabled_extra
from auth_store.errors import ConfigurationError, NotFoundError, ValidationError
from auth_store.flow import (
    AuthFlow,
    FlowError,
    InvalidLinkError,
    Messages,
    SecondFactorMethod,
    SecondFactorRequired,
    SignedIn,
    ThrottledError,
)
from auth_store.mail import MemoryMailer
from auth_store.passkeys import PasskeyVerificationError
from auth_store.reauth import ReauthenticationRequiredError
from auth_store.signing import Signer
from auth_store.testing import stores
from tests.fake_clock import FakeClock
from tests.soft_authenticator import SoftAuthenticator

ORIGIN = "https://example.com"
PASSWORD = "correct horse battery"


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    return FakeClock.install(monkeypatch)


@pytest.fixture(params=stores.backend_params())
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Adapter]:
    with stores.fresh_store(request.param, tmp_path) as (adapter, _url):
        yield adapter


@pytest.fixture
def flow(store: Adapter, clock: FakeClock) -> AuthFlow:
    made = AuthFlow(
        store,
        signer=Signer(Signer.generate()),
        keyring=Keyring.generate(),
        mailer=MemoryMailer(),
        base_url=ORIGIN,
        app_name="Example",
        limiter=AttemptLimiter(store, free_failures=2, base_delay=30, lockout_after=50),
    )
    made.enable_passkeys(rp_id="example.com", origins=[ORIGIN])
    return made


@pytest.fixture
def ann(flow: AuthFlow, clock: FakeClock) -> User:
    user = flow.adapter.create_user(User(email="ann@example.com", email_verified=clock.now))
    flow.passwords.set_password(user.id, PASSWORD)
    return user


def register(flow: AuthFlow, user: User, device: SoftAuthenticator) -> None:
    challenge = flow.passkeys.registration_options(user)
    flow.passkeys.register(
        user, device.create(challenge.options, origin=ORIGIN), state=challenge.state
    )


def enable_totp(flow: AuthFlow, user: User, clock: FakeClock) -> str:
    secret = flow.start_totp(user).secret
    flow.confirm_totp(user, pyotp.TOTP(secret).at(clock.now))
    return secret


def passkey_sign_in(flow: AuthFlow, device: SoftAuthenticator, **get: Any) -> Any:
    challenge = flow.passkeys.sign_in_options()
    response = device.get(challenge.options, origin=ORIGIN, **get)
    return flow.sign_in_passkey(response, state=challenge.state)


def test_enable_passkeys_builds_the_service_on_the_flow(flow: AuthFlow, store: Adapter) -> None:
    service = flow.passkeys
    assert flow.passkeys_available
    assert service.adapter is store
    assert service.signer is flow.signer
    assert service.limiter is flow.limiter
    assert service.proofs is flow.proofs
    assert service.rp_name == "Example"  # the app's name unless told otherwise
    other = flow.enable_passkeys(
        rp_id="example.com", origins=ORIGIN, rp_name="Other", challenge_max_age=timedelta(minutes=2)
    )
    assert flow.passkeys is other
    assert other.rp_name == "Other"
    assert other.challenge_max_age == timedelta(minutes=2)


def test_passkeys_are_off_until_enabled(store: Adapter) -> None:
    flow = AuthFlow(store, signer=Signer(Signer.generate()), mailer=MemoryMailer(), base_url=ORIGIN)
    assert not flow.passkeys_available
    with pytest.raises(ConfigurationError, match="enable_passkeys"):
        flow.passkeys  # noqa: B018 - the property raises
    with pytest.raises(ConfigurationError):
        flow.enable_passkeys(rp_id="example.com", origins=["http://example.com"])


def test_the_second_step_offers_a_passkey_only_to_users_with_one(
    flow: AuthFlow, ann: User, clock: FakeClock
) -> None:
    enable_totp(flow, ann, clock)
    first = flow.sign_in_password("ann@example.com", PASSWORD)
    assert isinstance(first, SecondFactorRequired)
    assert first.methods == (SecondFactorMethod.TOTP, SecondFactorMethod.BACKUP_CODE)
    with pytest.raises(FlowError, match="passkey"):
        flow.second_factor_passkey_options(first.pending)
    device = SoftAuthenticator()
    register(flow, ann, device)
    second = flow.sign_in_password("ann@example.com", PASSWORD)
    assert isinstance(second, SecondFactorRequired)
    assert SecondFactorMethod.PASSKEY in second.methods
    assert flow.pending_methods(second.pending) == second.methods
    challenge = flow.second_factor_passkey_options(second.pending)
    response = device.get(challenge.options, origin=ORIGIN)
    done = flow.verify_second_factor_passkey(second.pending, response, state=challenge.state)
    assert isinstance(done, SignedIn)
    assert done.user.id == ann.id


def test_a_pending_step_from_before_single_use_steps_is_refused(
    flow: AuthFlow, ann: User, clock: FakeClock
) -> None:
    # Values signed before pending steps became single-use carry no nonce to
    # spend: they would work any number of times, so they are refused (the
    # person signs in again; such values were good for 10 minutes at most).
    secret = enable_totp(flow, ann, clock)
    register(flow, ann, SoftAuthenticator())
    code = pyotp.TOTP(secret).at(clock.now + timedelta(seconds=30))
    for older in (
        flow.signer.dumps({"u": ann.id}, purpose="second-factor"),
        flow.signer.dumps({"u": ann.id, "m": ["totp", "backup_code"]}, purpose="second-factor"),
    ):
        with pytest.raises(InvalidLinkError):
            flow.pending_methods(older)
        with pytest.raises(InvalidLinkError):
            flow.verify_second_factor(older, code)


def test_user_verification_decides_whether_a_passkey_is_both_factors(
    flow: AuthFlow, ann: User, clock: FakeClock
) -> None:
    device = SoftAuthenticator()
    register(flow, ann, device)
    assert isinstance(passkey_sign_in(flow, device, user_verified=False), SignedIn)  # no TOTP
    enable_totp(flow, ann, clock)
    assert isinstance(passkey_sign_in(flow, device, user_verified=True), SignedIn)
    pending = passkey_sign_in(flow, device, user_verified=False)
    assert isinstance(pending, SecondFactorRequired)
    assert SecondFactorMethod.PASSKEY not in pending.methods
    with pytest.raises(FlowError) as caught:
        flow.second_factor_passkey_options(pending.pending)
    assert str(caught.value) == Messages.PASSKEY_NOT_OFFERED


def test_a_throttled_second_step_says_when_to_retry(
    flow: AuthFlow, ann: User, clock: FakeClock
) -> None:
    enable_totp(flow, ann, clock)
    device = SoftAuthenticator()
    register(flow, ann, device)
    first = flow.sign_in_password("ann@example.com", PASSWORD)
    assert isinstance(first, SecondFactorRequired)
    stranger = SoftAuthenticator()
    stranger.create(flow.passkeys.registration_options(ann).options, origin=ORIGIN)

    def attempt(with_device: SoftAuthenticator) -> SignedIn:
        challenge = flow.second_factor_passkey_options(first.pending)
        options = {**challenge.options, "allowCredentials": []}
        response = with_device.get(options, origin=ORIGIN)
        return flow.verify_second_factor_passkey(first.pending, response, state=challenge.state)

    for _ in range(2):  # the free failures: a passkey that is not Ann's
        with pytest.raises(PasskeyVerificationError):
            attempt(stranger)
    with pytest.raises(ThrottledError) as caught:
        attempt(device)  # even the right passkey waits now
    assert caught.value.retry_after is not None
    clock.advance(caught.value.retry_after + 1)
    assert attempt(device).user.id == ann.id


def test_reauthentication_by_password_or_code(flow: AuthFlow, ann: User, clock: FakeClock) -> None:
    secret = enable_totp(flow, ann, clock)
    device = SoftAuthenticator()
    register(flow, ann, device)
    (passkey,) = flow.passkeys.list(ann)
    with pytest.raises(ValidationError):
        flow.reauthenticate(ann)
    with pytest.raises(ValidationError):
        flow.reauthenticate(ann, password=PASSWORD, code="123456")
    with pytest.raises(ReauthenticationRequiredError):
        flow.reauthenticate(ann, password="wrong one")
    by_password = flow.reauthenticate(ann, password=PASSWORD, session_id="s1")
    assert flow.proofs.check(ann, by_password, session_id="s1") == "password"
    code = pyotp.TOTP(secret).at(clock.now + timedelta(seconds=30))
    by_code = flow.reauthenticate(ann, code=code)
    assert flow.proofs.check(ann, by_code) == "totp"
    backup = flow.regenerate_backup_codes(ann)[0]
    assert flow.proofs.check(ann, flow.reauthenticate(ann, code=backup)) == "backup_code"
    with pytest.raises(ReauthenticationRequiredError):
        flow.reauthenticate(ann, code=backup)  # spent
    # The flow's proof is what the passkey service's delete checks.
    with pytest.raises(ReauthenticationRequiredError):
        flow.passkeys.delete(ann, passkey.id, proof=by_password, session_id="s2")
    flow.passkeys.delete(ann, passkey.id, proof=by_password, session_id="s1")
    with pytest.raises(NotFoundError):
        flow.passkeys.delete(ann, passkey.id, proof=by_password, session_id="s1")


def test_a_disabled_user_earns_no_proof(flow: AuthFlow, ann: User) -> None:
    disabled = flow.adapter.update_user(ann.id, extra=disabled_extra(ann))
    with pytest.raises(ReauthenticationRequiredError):
        flow.reauthenticate(disabled, password=PASSWORD)
