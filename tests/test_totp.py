"""TOTP: RFC vectors, enrollment, ±1 step window, single use of each step, disable."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from auth_store import ConflictError, DecryptionError, TooManyAttemptsError, User, clock
from auth_store.adapter import Adapter
from auth_store.attempts import AttemptLimiter
from auth_store.crypto import FieldCipher, Keyring, is_envelope
from auth_store.testing import stores
from auth_store.totp import TOTPService, hotp_code, totp_code
from tests.fake_clock import FakeClock

RFC6238_SECRETS = {
    "SHA1": b"12345678901234567890",
    "SHA256": b"12345678901234567890123456789012",
    "SHA512": b"1234567890123456789012345678901234567890123456789012345678901234",
}
# RFC 6238 Appendix B: (time, {algorithm: 8-digit code})
RFC6238_VECTORS = [
    (59, {"SHA1": "94287082", "SHA256": "46119246", "SHA512": "90693936"}),
    (1111111109, {"SHA1": "07081804", "SHA256": "68084774", "SHA512": "25091201"}),
    (1111111111, {"SHA1": "14050471", "SHA256": "67062674", "SHA512": "99943326"}),
    (1234567890, {"SHA1": "89005924", "SHA256": "91819424", "SHA512": "93441116"}),
    (2000000000, {"SHA1": "69279037", "SHA256": "90698825", "SHA512": "38618901"}),
    (20000000000, {"SHA1": "65353130", "SHA256": "77737706", "SHA512": "47863826"}),
]
# RFC 4226 Appendix D: HOTP values for counters 0-9 of the SHA1 secret above.
RFC4226_VECTORS = [
    "755224",
    "287082",
    "359152",
    "969429",
    "338314",
    "254676",
    "287922",
    "162583",
    "399871",
    "520489",
]
START = datetime(2030, 1, 1, 12, 0, 10, tzinfo=UTC)  # 10 s into a 30 s step


def b32(raw: bytes) -> str:
    return base64.b32encode(raw).decode().rstrip("=")


@pytest.fixture
def fake_clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    return FakeClock.install(monkeypatch, START)


@pytest.fixture(params=stores.backend_params())
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Adapter]:
    with stores.fresh_store(request.param, tmp_path) as (adapter, _url):
        yield adapter


@pytest.fixture
def cipher() -> FieldCipher:
    return FieldCipher(Keyring.generate())


@pytest.fixture
def user_id(store: Adapter) -> str:
    user = store.create_user(User(email="ann@example.com"))
    assert user.id is not None
    return user.id


@pytest.fixture
def totp(store: Adapter, cipher: FieldCipher) -> TOTPService:
    return TOTPService(store, cipher)


def enabled(totp: TOTPService, user_id: str) -> str:
    """Enroll and confirm at the current time; return the secret."""
    secret = totp.enroll(user_id, issuer="Example", account_name="ann@example.com").secret
    assert totp.confirm(user_id, totp_code(secret, clock.now()))
    return secret


# -- RFC vectors --------------------------------------------------------------------


@pytest.mark.parametrize(("at", "codes"), RFC6238_VECTORS)
@pytest.mark.parametrize("algorithm", ["SHA1", "SHA256", "SHA512"])
def test_rfc6238_appendix_b(at: int, codes: dict[str, str], algorithm: str) -> None:
    secret = b32(RFC6238_SECRETS[algorithm])
    assert totp_code(secret, at, digits=8, algorithm=algorithm) == codes[algorithm]
    moment = datetime.fromtimestamp(at, UTC)
    assert totp_code(secret, moment, digits=8, algorithm=algorithm) == codes[algorithm]


@pytest.mark.parametrize(("counter", "code"), list(enumerate(RFC4226_VECTORS)))
def test_rfc4226_appendix_d(counter: int, code: str) -> None:
    assert hotp_code(b32(RFC6238_SECRETS["SHA1"]), counter) == code


@pytest.mark.parametrize("algorithm", ["SHA1", "SHA256", "SHA512"])
def test_service_accepts_rfc6238_codes_at_their_times(
    store: Adapter,
    user_id: str,
    totp: TOTPService,
    fake_clock: FakeClock,
    algorithm: str,
) -> None:
    totp.import_secret(user_id, b32(RFC6238_SECRETS[algorithm]), digits=8, algorithm=algorithm)
    assert totp.is_enabled(user_id)
    for at, codes in RFC6238_VECTORS[1:4]:
        fake_clock.now = datetime.fromtimestamp(at, UTC)
        assert totp.verify(user_id, codes[algorithm])
        assert not totp.verify(user_id, codes[algorithm])


# -- enrollment ---------------------------------------------------------------------


def test_enroll_stores_the_secret_encrypted_and_pending(
    store: Adapter, user_id: str, totp: TOTPService, fake_clock: FakeClock
) -> None:
    enrollment = totp.enroll(user_id, issuer="Example Co", account_name="ann@example.com")
    assert len(base64.b32decode(enrollment.secret)) == 20  # 160 bits
    assert enrollment.secret not in repr(enrollment)
    assert "otpauth" not in repr(enrollment)
    uri = urlsplit(enrollment.provisioning_uri)
    assert (uri.scheme, uri.netloc) == ("otpauth", "totp")
    query = parse_qs(uri.query)
    assert query["secret"] == [enrollment.secret]
    assert query["issuer"] == ["Example Co"]
    (credential,) = store.list_credentials(user_id, "totp")
    assert is_envelope(credential.data["secret"])
    assert enrollment.secret not in str(credential.data)
    assert totp.is_pending(user_id)
    assert not totp.is_enabled(user_id)
    code = totp_code(enrollment.secret, clock.now())
    assert not totp.verify(user_id, code)  # not on before it is confirmed
    assert not totp.confirm(user_id, "000000" if code != "000000" else "111111")
    assert totp.confirm(user_id, code)
    assert totp.is_enabled(user_id)
    assert not totp.is_pending(user_id)
    assert not totp.confirm(user_id, code)  # nothing is pending any more


def test_enroll_again_replaces_a_pending_secret(
    user_id: str, totp: TOTPService, fake_clock: FakeClock
) -> None:
    first = totp.enroll(user_id, issuer="E", account_name="a").secret
    second = totp.enroll(user_id, issuer="E", account_name="a").secret
    assert first != second
    assert not totp.confirm(user_id, totp_code(first, clock.now()))
    assert totp.confirm(user_id, totp_code(second, clock.now()))


def test_enroll_while_enabled_is_a_conflict_until_disabled(
    user_id: str, totp: TOTPService, fake_clock: FakeClock
) -> None:
    secret = enabled(totp, user_id)
    with pytest.raises(ConflictError):
        totp.enroll(user_id, issuer="E", account_name="a")
    fake_clock.advance(30)
    assert totp.verify(user_id, totp_code(secret, clock.now()))  # still the old secret
    assert totp.disable(user_id)
    assert not totp.disable(user_id)
    assert not totp.is_enabled(user_id)
    fake_clock.advance(30)
    assert not totp.verify(user_id, totp_code(secret, clock.now()))
    totp.enroll(user_id, issuer="E", account_name="a")


# -- verification -------------------------------------------------------------------


def test_each_time_step_is_accepted_once(
    user_id: str, totp: TOTPService, fake_clock: FakeClock
) -> None:
    secret = enabled(totp, user_id)  # confirming used the current step
    assert not totp.verify(user_id, totp_code(secret, clock.now()))
    fake_clock.advance(30)
    code = totp_code(secret, clock.now())
    assert totp.verify(user_id, code)
    assert not totp.verify(user_id, code)
    fake_clock.advance(5)  # same step, later
    assert not totp.verify(user_id, code)


def test_window_is_one_step_either_side(
    user_id: str, totp: TOTPService, fake_clock: FakeClock
) -> None:
    secret = enabled(totp, user_id)
    fake_clock.advance(300)
    now = clock.now()
    assert not totp.verify(user_id, totp_code(secret, now - timedelta(seconds=60)))
    assert not totp.verify(user_id, totp_code(secret, now + timedelta(seconds=60)))
    assert totp.verify(user_id, totp_code(secret, now - timedelta(seconds=30)))
    assert totp.verify(user_id, totp_code(secret, now + timedelta(seconds=30)))
    # The step after the future one was used; now and the past are behind it.
    assert not totp.verify(user_id, totp_code(secret, now))


def test_an_older_step_is_refused_after_a_newer_one(
    user_id: str, totp: TOTPService, fake_clock: FakeClock
) -> None:
    secret = enabled(totp, user_id)
    fake_clock.advance(300)
    now = clock.now()
    assert totp.verify(user_id, totp_code(secret, now))
    assert not totp.verify(user_id, totp_code(secret, now - timedelta(seconds=30)))


@pytest.mark.parametrize(
    "bad", ["", "12345", "1234567", "abcdef", "\uff11\uff12\uff13\uff14\uff15\uff16", "12 34 5"]
)
def test_malformed_codes_are_false(
    user_id: str, totp: TOTPService, fake_clock: FakeClock, bad: str
) -> None:
    enabled(totp, user_id)
    fake_clock.advance(30)
    assert not totp.verify(user_id, bad)


def test_spaces_in_a_code_are_ignored(
    user_id: str, totp: TOTPService, fake_clock: FakeClock
) -> None:
    secret = enabled(totp, user_id)
    fake_clock.advance(30)
    code = totp_code(secret, clock.now())
    assert totp.verify(user_id, f" {code[:3]} {code[3:]} ")


def test_users_without_totp_are_false(store: Adapter, totp: TOTPService) -> None:
    assert not totp.verify("nobody", "123456")
    assert not totp.is_enabled("nobody")


def test_a_wrong_keyring_cannot_read_the_secret(
    store: Adapter, user_id: str, totp: TOTPService, fake_clock: FakeClock
) -> None:
    enabled(totp, user_id)
    other = TOTPService(store, FieldCipher(Keyring.generate()))
    with pytest.raises(DecryptionError) as info:
        other.verify(user_id, "123456")
    assert info.value.reason == "unknown_key"


def test_attempt_limiter_is_wired_into_verify(
    store: Adapter, user_id: str, cipher: FieldCipher, fake_clock: FakeClock
) -> None:
    limiter = AttemptLimiter(store, free_failures=3, base_delay=30)
    totp = TOTPService(store, cipher, limiter=limiter)
    secret = enabled(totp, user_id)
    for _ in range(3):
        assert not totp.verify(user_id, "000000")
    with pytest.raises(TooManyAttemptsError) as info:
        totp.verify(user_id, "000000")
    assert info.value.retry_after == 30
    fake_clock.advance(30)
    assert totp.verify(user_id, totp_code(secret, clock.now()))
    assert limiter.status(user_id, "totp").failures == 0
