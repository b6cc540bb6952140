"""Verification tokens (Auth.js-compatible storage) and itsdangerous signing."""

from __future__ import annotations

import hashlib
import string
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

import auth_store
from auth_store import clock
from auth_store.models import VerificationToken
from auth_store.signing import (
    CsrfProtector,
    ExpiredSignatureError,
    InvalidSignatureError,
    Signer,
)
from auth_store.tokens import TokenPurpose, TokenService, hash_token
from tests.fake_clock import FakeClock

SECRET = "an-authjs-AUTH_SECRET-shared-by-both-apps"
OLD_KEY = "old-key-0123456789-0123456789-0123456789"
NEW_KEY = "new-key-0123456789-0123456789-0123456789"


@pytest.fixture
def fake_clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    return FakeClock.install(monkeypatch)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[auth_store.Adapter]:
    with auth_store.connect(f"sqlite:///{tmp_path}/auth.db") as adapter:
        yield adapter


@pytest.fixture
def tokens(store: auth_store.Adapter) -> TokenService:
    return TokenService(store, SECRET)


# -- verification tokens -----------------------------------------------------


def test_hash_is_authjs_create_hash() -> None:
    # Auth.js: createHash(`${token}${secret}`) = hex SHA-256 of the concatenation.
    assert hash_token("abc", "s3cret") == hashlib.sha256(b"abcs3cret").hexdigest()


def test_issue_stores_what_authjs_stores(store: auth_store.Adapter, tokens: TokenService) -> None:
    issued = tokens.issue("  Ann@Example.COM ")
    assert issued.email == "ann@example.com"
    assert len(issued.token) == 64
    int(issued.token, 16)  # hex, like Auth.js's randomString(32)
    [row] = [r for r in store.export() if isinstance(r, VerificationToken)]
    assert row.identifier == "ann@example.com"
    assert row.token == hashlib.sha256((issued.token + SECRET).encode()).hexdigest()
    assert issued.token not in repr(issued)


def test_a_token_written_by_authjs_signs_in_here(
    store: auth_store.Adapter, tokens: TokenService
) -> None:
    # What Auth.js's sendToken writes for an e-mail sign-in.
    plain = "9f" * 32
    store.create_verification_token(
        VerificationToken(
            identifier="ann@example.com",
            token=hashlib.sha256(f"{plain}{SECRET}".encode()).hexdigest(),
            expires=clock.now() + timedelta(hours=24),
        )
    )
    consumed = tokens.consume("ANN@example.com", plain)
    assert consumed is not None
    assert consumed.email == "ann@example.com"


def test_a_token_issued_here_is_found_the_authjs_way(
    store: auth_store.Adapter, tokens: TokenService
) -> None:
    issued = tokens.issue("ann@example.com")
    # What Auth.js's callback does with the link's token and email parameters.
    used = store.use_verification_token(
        "ann@example.com", hashlib.sha256(f"{issued.token}{SECRET}".encode()).hexdigest()
    )
    assert used is not None


def test_single_use(tokens: TokenService) -> None:
    issued = tokens.issue("ann@example.com")
    assert tokens.consume("ann@example.com", issued.token) is not None
    assert tokens.consume("ann@example.com", issued.token) is None


def test_concurrent_consumers_get_it_once(tokens: TokenService) -> None:
    issued = tokens.issue("ann@example.com")
    results: list[bool] = []
    barrier = threading.Barrier(8)

    def spend() -> None:
        barrier.wait()
        results.append(tokens.consume("ann@example.com", issued.token) is not None)

    threads = [threading.Thread(target=spend) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 7 + [True]


def test_wrong_email_or_token_is_a_miss(tokens: TokenService) -> None:
    issued = tokens.issue("ann@example.com")
    assert tokens.consume("bob@example.com", issued.token) is None
    assert tokens.consume("ann@example.com", "0" * 64) is None
    assert tokens.consume("not an email", issued.token) is None
    assert tokens.consume("ann@example.com", "") is None
    # The misses did not spend the real token.
    assert tokens.consume("ann@example.com", issued.token) is not None


def test_lifetimes(fake_clock: FakeClock, tokens: TokenService) -> None:
    sign_in = tokens.issue("ann@example.com")
    reset = tokens.issue("ann@example.com", TokenPurpose.RESET_PASSWORD)
    verify = tokens.issue("ann@example.com", TokenPurpose.VERIFY_EMAIL)
    assert sign_in.expires == fake_clock.now + timedelta(hours=24)
    assert verify.expires == fake_clock.now + timedelta(hours=24)
    assert reset.expires == fake_clock.now + timedelta(hours=1)
    short = tokens.issue("ann@example.com", max_age=timedelta(minutes=10))
    assert short.expires == fake_clock.now + timedelta(minutes=10)


def test_expired_token_fails_and_is_gone(
    fake_clock: FakeClock, store: auth_store.Adapter, tokens: TokenService
) -> None:
    issued = tokens.issue("ann@example.com", TokenPurpose.RESET_PASSWORD)
    fake_clock.advance(timedelta(hours=1, seconds=1))
    assert tokens.consume("ann@example.com", issued.token, TokenPurpose.RESET_PASSWORD) is None
    assert store.counts()["verification_tokens"] == 0


@pytest.mark.parametrize(
    ("issued_for", "spent_for"),
    [
        (TokenPurpose.SIGN_IN, TokenPurpose.RESET_PASSWORD),
        (TokenPurpose.RESET_PASSWORD, TokenPurpose.SIGN_IN),
        (TokenPurpose.VERIFY_EMAIL, TokenPurpose.RESET_PASSWORD),
    ],
)
def test_a_token_only_works_for_its_purpose(
    tokens: TokenService, issued_for: TokenPurpose, spent_for: TokenPurpose
) -> None:
    issued = tokens.issue("ann@example.com", issued_for)
    assert tokens.consume("ann@example.com", issued.token, spent_for) is None
    assert tokens.consume("ann@example.com", issued.token, issued_for) is not None


def test_a_purpose_may_be_given_as_text(store: auth_store.Adapter, tokens: TokenService) -> None:
    issued = tokens.issue("ann@example.com", "reset-password")  # type: ignore[arg-type]
    assert issued.purpose is TokenPurpose.RESET_PASSWORD
    [row] = [r for r in store.export() if isinstance(r, VerificationToken)]
    assert row.identifier == "reset-password:ann@example.com"
    assert tokens.consume("ann@example.com", issued.token, "sign-in") is None  # type: ignore[arg-type]
    assert tokens.consume("ann@example.com", issued.token, TokenPurpose.RESET_PASSWORD) is not None
    with pytest.raises(auth_store.ValidationError, match="purpose"):
        tokens.issue("ann@example.com", "login")  # type: ignore[arg-type]


def test_secret_rotation(store: auth_store.Adapter) -> None:
    before = TokenService(store, "first-secret")
    issued = before.issue("ann@example.com")
    after = TokenService(store, ["first-secret", "second-secret"])
    newer = after.issue("bob@example.com")
    assert after.consume("ann@example.com", issued.token) is not None
    assert before.consume("bob@example.com", newer.token) is None
    assert after.consume("bob@example.com", newer.token) is not None


def test_link_carries_authjs_parameters(tokens: TokenService) -> None:
    issued = tokens.issue("ann+x@example.com")
    link = issued.link("https://app.example/auth/magic-link")
    query = parse_qs(urlsplit(link).query)
    assert query == {"token": [issued.token], "email": ["ann+x@example.com"]}
    assert "&token=" in issued.link("https://app.example/cb?next=%2F")


def test_empty_secret_is_refused(store: auth_store.Adapter) -> None:
    with pytest.raises(auth_store.ConfigurationError):
        TokenService(store, "")
    with pytest.raises(auth_store.ConfigurationError):
        TokenService(store, [])


# -- signing -----------------------------------------------------------------


def test_dumps_loads_round_trip() -> None:
    signer = Signer(NEW_KEY)
    token = signer.dumps({"user": "u1", "n": 3}, purpose="second-factor")
    assert signer.loads(token, purpose="second-factor") == {"user": "u1", "n": 3}
    assert NEW_KEY not in repr(signer)


def test_purpose_salts_signatures() -> None:
    signer = Signer(NEW_KEY)
    token = signer.dumps("u1", purpose="second-factor")
    with pytest.raises(InvalidSignatureError):
        signer.loads(token, purpose="oauth-state")
    signed = signer.sign("value", purpose="session-cookie")
    with pytest.raises(InvalidSignatureError):
        signer.unsign(signed, purpose="other")
    assert signer.unsign(signed, purpose="session-cookie") == "value"


def test_tampering_is_detected() -> None:
    signer = Signer(NEW_KEY)
    token = signer.dumps("u1", purpose="p")
    alphabet = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"
    for i, char in enumerate(token):
        # Flip the high bit of the 6-bit value: always a data bit, never padding.
        other = alphabet[alphabet.index(char) ^ 32] if char in alphabet else "A"
        flipped = token[:i] + other + token[i + 1 :]
        with pytest.raises(InvalidSignatureError):
            signer.loads(flipped, purpose="p")
    with pytest.raises(InvalidSignatureError):
        Signer(OLD_KEY).loads(token, purpose="p")


def test_max_age_uses_the_clock(fake_clock: FakeClock) -> None:
    signer = Signer(NEW_KEY)
    token = signer.dumps("u1", purpose="p")
    fake_clock.advance(timedelta(minutes=4))
    assert signer.loads(token, purpose="p", max_age=timedelta(minutes=5)) == "u1"
    fake_clock.advance(timedelta(minutes=2))
    with pytest.raises(ExpiredSignatureError):
        signer.loads(token, purpose="p", max_age=timedelta(minutes=5))


def test_key_rotation_oldest_to_newest() -> None:
    old = Signer(OLD_KEY)
    rotated = Signer([OLD_KEY, NEW_KEY])
    from_old = old.dumps("u1", purpose="p")
    from_rotated = rotated.dumps("u1", purpose="p")
    assert rotated.loads(from_old, purpose="p") == "u1"  # old keys still verify
    assert Signer(NEW_KEY).loads(from_rotated, purpose="p") == "u1"  # newest signs
    with pytest.raises(InvalidSignatureError):
        old.loads(from_rotated, purpose="p")
    assert rotated.secret_keys == (OLD_KEY, NEW_KEY)


def test_short_or_missing_keys_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(auth_store.ConfigurationError):
        Signer("short")
    with pytest.raises(auth_store.ConfigurationError):
        Signer([])
    monkeypatch.delenv("AUTH_STORE_SECRET", raising=False)
    with pytest.raises(auth_store.ConfigurationError):
        Signer.from_env()
    monkeypatch.setenv("AUTH_STORE_SECRET", f"{OLD_KEY}, {NEW_KEY}")
    assert Signer.from_env().secret_keys == (OLD_KEY, NEW_KEY)
    assert len(Signer.generate()) >= 43


def test_csrf_tokens_are_bound_to_their_cookie() -> None:
    csrf = CsrfProtector(Signer(NEW_KEY))
    cookie = csrf.new_cookie_value()
    token = csrf.token_for(cookie)
    assert csrf.check(cookie, token)
    assert not csrf.check(csrf.new_cookie_value(), token)
    assert not csrf.check(cookie, None)
    assert not csrf.check(None, token)
    assert not csrf.check(cookie, cookie)
    assert not csrf.check(cookie, CsrfProtector(Signer(OLD_KEY)).token_for(cookie))
