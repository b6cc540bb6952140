"""Auth.js session tokens and cookies, on their own: ``auth_store.authjs``.

Compatibility with the real ``@auth/core`` and ``next-auth@4`` is in
tests/test_authjs_interop.py; this module checks the rules: what is refused,
with which reason, and that nothing but an ``InvalidTokenError`` ever comes out
of ``decode``. Tokens with other algorithms, or with a payload that is not
JSON, are made here with joserfc and a key derived independently, as Auth.js
derives it.
"""

from __future__ import annotations

import base64
import json
import random
from datetime import UTC, datetime
from typing import Any, Literal

import pytest
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from joserfc import jws
from joserfc.jwe import JWERegistry, encrypt_compact
from joserfc.jwk import OctKey, thumbprint
from joserfc.util import urlsafe_b64encode

from auth_store import AuthStoreError, ConfigurationError, ValidationError, authjs
from auth_store.authjs import (
    ExpiredTokenError,
    InvalidTokenError,
    decode,
    decode_v4,
    encode,
    encode_v4,
)
from tests.fake_clock import FakeClock

SECRET = "secret-of-the-next-js-app-0123456789abcdef"
OLD_SECRET = "the-secret-before-rotation-0123456789abcdef"
SALT = "authjs.session-token"
SECURE_SALT = "__Secure-authjs.session-token"
START = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
T0 = int(START.timestamp())


@pytest.fixture
def fake_clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    return FakeClock.install(monkeypatch, START)


def _key(secret: str, salt: str, length: int, *, v4: bool = False) -> bytes:
    info = f"Auth.js Generated Encryption Key ({salt})"
    if v4:
        info = "NextAuth.js Generated Encryption Key" + (f" ({salt})" if salt else "")
    return HKDF(SHA256(), length, salt.encode(), info.encode()).derive(secret.encode())


def _kid(key: bytes) -> str:
    # RFC 7638 thumbprint, SHA-512 for a 64-byte key (jose: sha${bits})
    digest: Literal["sha256", "sha512"] = "sha512" if len(key) == 64 else "sha256"
    return thumbprint({"kty": "oct", "k": urlsafe_b64encode(key).decode()}, digest)


def _craft(header: dict[str, Any], plaintext: bytes, key: bytes) -> str:
    """A JWE made directly with joserfc, allowing any algorithm."""
    names = [header["alg"], header["enc"], *([header["zip"]] if "zip" in header else [])]
    registry = JWERegistry(algorithms=names, strict_check_header=False)
    return encrypt_compact(header, plaintext, OctKey.import_key(key), registry=registry)


def _claims(**extra: Any) -> bytes:
    return json.dumps({"sub": "u1", "iat": T0, "exp": T0 + 60, **extra}).encode()


def _refused(token: Any, *, v4: bool = False, **options: Any) -> InvalidTokenError:
    reader = decode_v4 if v4 else decode
    with pytest.raises(InvalidTokenError) as caught:
        reader(
            token, secret=options.pop("secret", SECRET), salt=options.pop("salt", SALT), **options
        )
    return caught.value


# -- round trips ---------------------------------------------------------------


def test_encode_then_decode_gives_the_payload_with_iat_exp_jti(fake_clock: FakeClock) -> None:
    token = encode({"sub": "u1", "name": "Zoë", "exp": 1}, secret=SECRET, salt=SALT, max_age=3600)
    claims = decode(token, secret=SECRET, salt=SALT)
    assert list(claims) == ["sub", "name", "exp", "iat", "jti"]  # jose's order
    assert claims["sub"] == "u1"
    assert claims["name"] == "Zoë"
    assert claims["iat"] == T0
    assert claims["exp"] == T0 + 3600
    assert len(claims["jti"]) == 36
    assert encode({"sub": "u1"}, secret=SECRET, salt=SALT) != encode(
        {"sub": "u1"}, secret=SECRET, salt=SALT
    )


def _header(token: str) -> Any:
    segment = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def test_the_header_is_auth_js_s() -> None:
    token = encode({"sub": "u1"}, secret=SECRET, salt=SALT)
    kid = _kid(_key(SECRET, SALT, 64))
    assert _header(token) == {"alg": "dir", "enc": "A256CBC-HS512", "kid": kid}
    assert token.split(".")[1] == ""  # "dir": no wrapped key


def test_v4_round_trip_and_header(fake_clock: FakeClock) -> None:
    token = encode_v4({"sub": "u1"}, secret=SECRET, max_age=60)
    assert decode_v4(token, secret=SECRET)["exp"] == T0 + 60
    assert _header(token) == {"alg": "dir", "enc": "A256GCM"}
    salted = encode_v4({"sub": "u1"}, secret=SECRET, salt="x")
    assert decode_v4(salted, secret=SECRET, salt="x")["sub"] == "u1"
    assert _refused(salted, v4=True, salt="").reason == "decryption_failed"


def test_the_formats_do_not_mix() -> None:
    v5 = encode({"sub": "u1"}, secret=SECRET, salt=SALT)
    v4 = encode_v4({"sub": "u1"}, secret=SECRET)
    assert _refused(v5, v4=True).reason == "unsupported_algorithm"
    assert _refused(v4).reason == "decryption_failed"  # A256GCM without kid: no key fits


# -- secrets and salts ---------------------------------------------------------


def test_rotation_newest_first_encrypts_and_every_secret_decrypts() -> None:
    rotated = [SECRET, OLD_SECRET]
    old_token = encode({"sub": "old"}, secret=OLD_SECRET, salt=SALT)
    new_token = encode({"sub": "new"}, secret=rotated, salt=SALT)
    assert decode(old_token, secret=rotated, salt=SALT)["sub"] == "old"
    assert decode(new_token, secret=rotated, salt=SALT)["sub"] == "new"
    assert decode(new_token, secret=SECRET, salt=SALT)["sub"] == "new"  # made with the newest
    assert _refused(new_token, secret=OLD_SECRET).reason == "unknown_secret"
    v4_old = encode_v4({"sub": "old"}, secret=OLD_SECRET)
    assert decode_v4(v4_old, secret=rotated)["sub"] == "old"


def test_a_token_without_kid_is_tried_with_every_secret() -> None:
    # Tokens of Auth.js versions before the kid header; @auth/core tries only
    # the newest secret, this tries each (the AEAD tag still decides).
    token = _craft(
        {"alg": "dir", "enc": "A256CBC-HS512"}, _claims(exp=2**40), _key(OLD_SECRET, SALT, 64)
    )
    assert decode(token, secret=[SECRET, OLD_SECRET], salt=SALT)["sub"] == "u1"
    assert _refused(token, secret=SECRET).reason == "decryption_failed"


def test_wrong_secret_and_wrong_salt_are_refused() -> None:
    token = encode({"sub": "u1"}, secret=SECRET, salt=SALT)
    assert _refused(token, secret="another-secret").reason == "unknown_secret"
    assert _refused(token, salt=SECURE_SALT).reason == "unknown_secret"
    assert _refused(token, salt="").reason == "unknown_secret"
    message = str(_refused(token, salt=SECURE_SALT))
    assert "secret" in message
    assert "salt" in message


def test_a256gcm_is_accepted_as_at_auth_core_accepts_it() -> None:
    key = _key(SECRET, SALT, 32)
    token = _craft({"alg": "dir", "enc": "A256GCM", "kid": _kid(key)}, _claims(exp=2**40), key)
    assert decode(token, secret=SECRET, salt=SALT)["sub"] == "u1"


@pytest.mark.parametrize(
    ("alg", "enc", "length"),
    [
        ("dir", "A128CBC-HS256", 32),
        ("dir", "A192CBC-HS384", 48),
        ("dir", "A128GCM", 16),
        ("A256KW", "A256CBC-HS512", 32),
        ("A256GCMKW", "A256GCM", 32),
    ],
)
def test_other_alg_or_enc_is_refused(alg: str, enc: str, length: int) -> None:
    token = _craft({"alg": alg, "enc": enc}, _claims(exp=2**40), _key(SECRET, SALT, length))
    assert _refused(token).reason == "unsupported_algorithm"
    v4_token = _craft(
        {"alg": alg, "enc": enc}, _claims(exp=2**40), _key(SECRET, "", length, v4=True)
    )
    assert _refused(v4_token, v4=True, salt="").reason == "unsupported_algorithm"


def test_alg_none_a_jws_and_zip_are_refused() -> None:
    header = urlsafe_b64encode(b'{"alg":"none","enc":"A256CBC-HS512"}').decode()
    assert _refused(f"{header}..AAAA.AAAA.AAAA").reason == "unsupported_algorithm"
    signed = jws.serialize_compact({"alg": "HS256"}, _claims(), OctKey.import_key(b"k" * 32))
    assert _refused(signed).reason == "malformed"
    key = _key(SECRET, SALT, 64)
    zipped = _craft(
        {"alg": "dir", "enc": "A256CBC-HS512", "zip": "DEF", "kid": _kid(key)}, _claims(), key
    )
    assert _refused(zipped).reason == "unsupported_algorithm"


def test_bad_secrets_are_configuration_errors() -> None:
    token = encode({"sub": "u1"}, secret=SECRET, salt=SALT)
    for secret in ("", [], [""], [SECRET, 3], None, "s\udc80cret", b"bytes"):
        with pytest.raises(ConfigurationError):
            decode(token, secret=secret, salt=SALT)  # type: ignore[arg-type]
        with pytest.raises(ConfigurationError):
            encode({}, secret=secret, salt=SALT)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        decode(token, secret=SECRET, salt=None)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        decode(token, secret=SECRET, salt=SALT, clock_tolerance=-1)


# -- time ----------------------------------------------------------------------


def test_expiry_with_the_default_15_second_tolerance(fake_clock: FakeClock) -> None:
    token = encode({"sub": "u1"}, secret=SECRET, salt=SALT, max_age=60)
    fake_clock.advance(60 + 14)
    assert decode(token, secret=SECRET, salt=SALT)["sub"] == "u1"
    fake_clock.advance(1)
    with pytest.raises(ExpiredTokenError) as caught:
        decode(token, secret=SECRET, salt=SALT)
    assert caught.value.reason == "expired"


def test_clock_tolerance_is_configurable(fake_clock: FakeClock) -> None:
    token = encode({"sub": "u1"}, secret=SECRET, salt=SALT, max_age=60)
    fake_clock.advance(61)
    with pytest.raises(ExpiredTokenError):
        decode(token, secret=SECRET, salt=SALT, clock_tolerance=0)
    assert decode(token, secret=SECRET, salt=SALT, clock_tolerance=120)["sub"] == "u1"


def test_not_before_in_the_future_is_refused(fake_clock: FakeClock) -> None:
    key = _key(SECRET, SALT, 64)
    header = {"alg": "dir", "enc": "A256CBC-HS512", "kid": _kid(key)}
    assert decode(_craft(header, _claims(nbf=T0 + 15), key), secret=SECRET, salt=SALT)
    assert _refused(_craft(header, _claims(nbf=T0 + 16), key)).reason == "not_yet_valid"


@pytest.mark.parametrize(
    "plaintext",
    [
        b"not json",
        b"\xff\xfe{}",
        b"[1, 2]",
        b'{"sub": "u1", "iat": 1}',  # no exp: a session token must expire
        b'{"sub": "u1", "exp": "tomorrow"}',
        b'{"sub": "u1", "exp": true}',
        b'{"sub": "u1", "exp": NaN}',
        b'{"sub": "u1", "exp": 9999999999, "iat": "now"}',
    ],
)
def test_a_genuine_token_with_bad_claims_is_refused_cleanly(
    fake_clock: FakeClock, plaintext: bytes
) -> None:
    key = _key(SECRET, SALT, 64)
    token = _craft({"alg": "dir", "enc": "A256CBC-HS512", "kid": _kid(key)}, plaintext, key)
    error = _refused(token)
    assert error.reason == "invalid_claims"
    assert error.__cause__ is None
    assert error.__context__ is None or error.__suppress_context__


# -- malformed, tampered, truncated, oversized -----------------------------------


@pytest.mark.parametrize(
    "token",
    [
        "",
        "not-a-token",
        "a.b.c",
        "a.b.c.d.e.f",
        "....",
        "e30..AAAA.AAAA.AAAA",  # header {} : no alg
        "W10..AAAA.AAAA.AAAA",  # header [] : not an object
        "!!!..AAAA.AAAA.AAAA",
        "ÿ..AAAA.AAAA.AAAA",
        b"bytes..are.not.tokens",
        None,
        12,
    ],
)
def test_malformed_tokens_are_refused_cleanly(token: Any) -> None:
    error = _refused(token)
    assert error.reason in {"malformed", "unsupported_algorithm"}
    assert error.__cause__ is None


def _single_byte_changes(token: str) -> list[str]:
    """Every token that differs from ``token`` in exactly one byte (0-255) at one position."""
    variants = []
    for index, original in enumerate(token):
        for code in range(256):
            if code != ord(original):
                variants.append(token[:index] + chr(code) + token[index + 1 :])
    return variants


@pytest.mark.parametrize("v4", [False, True], ids=["v5", "v4"])
def test_every_single_byte_change_of_a_token_is_refused(v4: bool) -> None:
    # A small payload keeps the token short: ~90k variants, most refused
    # before any cryptography, the rest by the authentication tag.
    token = encode_v4({}, secret=SECRET) if v4 else encode({}, secret=SECRET, salt=SALT)
    reader = decode_v4 if v4 else decode
    salt = "" if v4 else SALT
    assert reader(token, secret=SECRET, salt=salt)["jti"]
    accepted = []
    for variant in _single_byte_changes(token):
        try:
            reader(variant, secret=SECRET, salt=salt)
        except InvalidTokenError:
            continue
        accepted.append(variant)
    assert accepted == []


def test_truncated_tokens_are_refused() -> None:
    token = encode({"sub": "u1", "name": "x" * 100}, secret=SECRET, salt=SALT)
    cuts = {1, 2, 3, 4, 8, 16, len(token) // 2, len(token) - 1}
    for cut in cuts:
        assert _refused(token[:-cut]).reason in {"malformed", "decryption_failed"}
    without_tag = token.rsplit(".", 1)[0] + "."
    assert _refused(without_tag).reason == "decryption_failed"


def test_a_one_megabyte_token_is_refused_before_any_work() -> None:
    token = encode({"sub": "u1"}, secret=SECRET, salt=SALT)
    huge = token + "A" * (1024 * 1024)
    error = _refused(huge)
    assert error.reason == "too_large"
    assert str(len(huge)) in str(error)
    assert _refused("x" * 1024 * 1024, v4=True, salt="").reason == "too_large"
    assert decode(token, secret=SECRET, salt=SALT, max_size=len(token))
    assert _refused(token, max_size=len(token) - 1).reason == "too_large"


def test_encode_refuses_what_decode_would_refuse() -> None:
    with pytest.raises(ValidationError, match="keep the session payload small"):
        encode({"blob": "x" * 70_000}, secret=SECRET, salt=SALT)
    with pytest.raises(ValidationError, match="JSON"):
        encode({"when": datetime.now(UTC)}, secret=SECRET, salt=SALT)
    with pytest.raises(ValidationError, match="JSON"):
        encode({"x": float("nan")}, secret=SECRET, salt=SALT)
    with pytest.raises(ValidationError, match="JSON"):
        encode({"name": "\udc80"}, secret=SECRET, salt=SALT)
    with pytest.raises(ValidationError, match="mapping"):
        encode(["sub"], secret=SECRET, salt=SALT)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="max_age"):
        encode({}, secret=SECRET, salt=SALT, max_age=1.5)  # type: ignore[arg-type]


def test_errors_name_no_secret_and_no_token() -> None:
    token = encode({"sub": "u1", "email": "ann@example.com"}, secret=SECRET, salt=SALT)
    rng = random.Random(7)
    tampered = list(token)
    tampered[-5] = rng.choice([c for c in "ABCDEFGH" if c != token[-5]])
    errors: list[AuthStoreError] = [
        _refused("".join(tampered)),
        _refused(token, secret=OLD_SECRET),
        _refused(token + "." + token),
    ]
    for error in errors:
        text = f"{error!s} {error!r}"
        assert SECRET not in text
        assert OLD_SECRET not in text
        assert not any(part in text for part in token.split(".") if len(part) > 8)
        assert error.__cause__ is None


# -- secrets from the environment ------------------------------------------------


def test_secret_from_env_reads_as_auth_js_does() -> None:
    env = {"AUTH_SECRET": "base", "AUTH_SECRET_1": "one", "AUTH_SECRET_3": "three"}
    assert authjs.secret_from_env(env) == ["three", "one", "base"]
    assert authjs.secret_from_env({"AUTH_SECRET": "base"}) == ["base"]
    assert authjs.secret_from_env({"NEXTAUTH_SECRET": "n", "AUTH_SECRET": "a"}, v4=True) == ["n"]
    assert authjs.secret_from_env({"AUTH_SECRET": "a"}, v4=True) == ["a"]
    with pytest.raises(ConfigurationError, match="AUTH_SECRET is not set"):
        authjs.secret_from_env({"AUTH_SECRET": ""})


# -- cookies -------------------------------------------------------------------


def test_cookie_names() -> None:
    assert authjs.session_cookie_name(secure=False) == "authjs.session-token"
    assert authjs.session_cookie_name(secure=True) == "__Secure-authjs.session-token"
    assert authjs.session_cookie_name(secure=False, v4=True) == "next-auth.session-token"
    assert authjs.session_cookie_name(secure=True, v4=True) == "__Secure-next-auth.session-token"
    assert [c.salt for c in authjs.AUTHJS_COOKIES] == [SECURE_SALT, SALT]
    assert [c.salt for c in authjs.NEXTAUTH_V4_COOKIES] == ["", ""]


def test_read_joins_chunks_in_numeric_order() -> None:
    chunks = {f"{SALT}.{i}": f"<{i}>" for i in range(12)}
    shuffled = dict(random.Random(3).sample(sorted(chunks.items()), len(chunks)))
    shuffled["unrelated"] = "x"
    assert authjs.read_session_cookie(shuffled, SALT) == "".join(f"<{i}>" for i in range(12))
    assert authjs.read_session_cookie({SALT: "whole", "other": "x"}, SALT) == "whole"
    assert authjs.read_session_cookie({"other": "x"}, SALT) is None
    assert authjs.read_session_cookie({SALT: ""}, SALT) is None


def test_read_ignores_look_alike_names_and_refuses_a_gap() -> None:
    look_alikes = {
        f"{SALT}x": "a",
        f"{SALT}s.0": "b",
        f"{SALT}.-1": "c",
        f"{SALT}.01": "d",
        f"{SALT}.1e3": "e",
        f"{SECURE_SALT}.0": "f",
    }
    assert authjs.read_session_cookie({**look_alikes, SALT: "whole"}, SALT) == "whole"
    assert authjs.read_session_cookie({f"{SALT}.0": "a", f"{SALT}.2": "c"}, SALT) is None
    too_many = {f"{SALT}.{i}": "x" for i in range(65)}
    assert authjs.read_session_cookie(too_many, SALT) is None


def test_writes_chunk_a_long_token_and_clear_what_the_old_one_left() -> None:
    short = authjs.session_cookie_writes(
        SALT, "t" * authjs.CHUNK_SIZE, present=[f"{SALT}.0", f"{SALT}.1", "other"]
    )
    assert short.set == [(SALT, "t" * authjs.CHUNK_SIZE)]
    assert short.clear == [f"{SALT}.0", f"{SALT}.1"]
    token = "".join(random.Random(1).choice("abcdef") for _ in range(2 * authjs.CHUNK_SIZE + 5))
    long = authjs.session_cookie_writes(SALT, token, present=[SALT, f"{SALT}.0"])
    assert [name for name, _ in long.set] == [f"{SALT}.0", f"{SALT}.1", f"{SALT}.2"]
    assert [len(value) for _, value in long.set] == [authjs.CHUNK_SIZE, authjs.CHUNK_SIZE, 5]
    assert long.clear == [SALT]
    assert authjs.read_session_cookie(dict(long.set), SALT) == token
    assert token[:20] not in repr(long)
    v4 = authjs.session_cookie_writes(
        "next-auth.session-token", token, chunk_size=authjs.V4_CHUNK_SIZE
    )
    assert len(v4.set[0][1]) == 4096 - 163


def test_a_chunked_token_decodes_after_the_round_trip_through_cookies() -> None:
    token = encode({"sub": "u1", "groups": ["g" * 30] * 300}, secret=SECRET, salt=SALT)
    assert len(token) > 2 * authjs.CHUNK_SIZE
    cookies = dict(authjs.session_cookie_writes(SALT, token).set)
    assert len(cookies) == -(-len(token) // authjs.CHUNK_SIZE) >= 3
    joined = authjs.read_session_cookie(cookies, SALT)
    assert joined is not None
    assert decode(joined, secret=SECRET, salt=SALT)["groups"][0] == "g" * 30
