"""Auth.js session tokens: ``encode``/``decode``, byte-compatible with ``@auth/core/jwt``.

**v5** (``@auth/core``, next-auth 5) — a JWE in compact form, ``alg: "dir"``,
``enc: "A256CBC-HS512"``. The key is HKDF-SHA256 over the secret with the
cookie name as salt and ``"Auth.js Generated Encryption Key (<salt>)"`` as
info, 64 bytes. The header names the key by ``kid``, its RFC 7638 thumbprint
(SHA-512), so that with several secrets the right one is found without
trying each. ``encode`` adds ``iat``, ``exp = iat + max_age`` and a random
``jti``. ``decode`` also takes ``enc: "A256GCM"`` (a 32-byte key from the
same derivation), as ``@auth/core`` does.

**v4** (next-auth 4) — ``alg: "dir"``, ``enc: "A256GCM"``, no ``kid``; the key
is HKDF-SHA256 with salt ``""`` (what next-auth 4 uses for its session
cookie) and info ``"NextAuth.js Generated Encryption Key"``, 32 bytes.

Secrets rotate as in Auth.js: pass a list, newest first. The newest encrypts;
every one decrypts. ``decode`` raises ``InvalidTokenError`` (``reason`` says
why) for anything it refuses, ``ExpiredTokenError`` once a token is past its
``exp`` by more than the clock tolerance, and never lets a base64, padding or
JSON error from inside escape. The cryptography is ``joserfc``'s and
``cryptography``'s HKDF; this module picks the algorithms and the keys.
"""

from __future__ import annotations

import functools
import json
import math
import os
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from joserfc.errors import JoseError
from joserfc.jwe import JWERegistry, decrypt_compact, encrypt_compact
from joserfc.jwk import OctKey, thumbprint
from joserfc.util import urlsafe_b64decode, urlsafe_b64encode

from .. import clock
from ..errors import AuthStoreError, ConfigurationError, ValidationError

__all__ = [
    "DEFAULT_CLOCK_TOLERANCE",
    "DEFAULT_MAX_AGE",
    "MAX_TOKEN_SIZE",
    "ExpiredTokenError",
    "InvalidTokenError",
    "decode",
    "decode_v4",
    "encode",
    "encode_v4",
    "secret_from_env",
]

#: Auth.js's default session lifetime: 30 days, in seconds.
DEFAULT_MAX_AGE = 30 * 24 * 60 * 60
#: Seconds a token's ``exp``/``nbf`` may be off, as ``@auth/core`` allows.
DEFAULT_CLOCK_TOLERANCE = 15
#: Longest token (all cookie chunks together) accepted, in characters. Node's
#: HTTP server takes 16 KiB of headers by default, so a real session is far
#: smaller; anything longer is refused before any decoding work.
MAX_TOKEN_SIZE = 64 * 1024


class InvalidTokenError(AuthStoreError):
    """A session token was refused; ``reason`` names the case.

    ``malformed`` (not a JWE, bad base64 or header), ``too_large``,
    ``unsupported_algorithm`` (``alg``/``enc`` other than the format's),
    ``unknown_secret`` (its ``kid`` matches none of the secrets: a wrong
    secret or a wrong salt), ``decryption_failed`` (tampered, truncated, or
    made with another secret or salt), ``invalid_claims``, ``not_yet_valid``,
    ``expired``. Messages never quote the token.
    """

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class ExpiredTokenError(InvalidTokenError):
    """A genuine token whose ``exp`` is past (beyond the clock tolerance)."""

    def __init__(self, message: str = "the session token has expired") -> None:
        super().__init__(message, reason="expired")


for _cls in (InvalidTokenError, ExpiredTokenError):
    _cls.__module__ = "auth_store.authjs"


class _Key(NamedTuple):
    key: OctKey
    kid: str | None


@dataclass(frozen=True)
class _Format:
    name: str
    encrypt_with: str
    decrypt_with: frozenset[str]
    registry: JWERegistry
    info: Callable[[str], str]
    with_kid: bool


def _registry(*encs: str) -> JWERegistry:
    # Non-strict headers, as jose: a header is authenticated (it is the AAD),
    # so only the holder of a key can add fields to it.
    return JWERegistry(algorithms=["dir", *encs], strict_check_header=False)


_V5 = _Format(
    name="v5",
    encrypt_with="A256CBC-HS512",
    decrypt_with=frozenset({"A256CBC-HS512", "A256GCM"}),
    registry=_registry("A256CBC-HS512", "A256GCM"),
    info=lambda salt: f"Auth.js Generated Encryption Key ({salt})",
    with_kid=True,
)
_V4 = _Format(
    name="v4",
    encrypt_with="A256GCM",
    decrypt_with=frozenset({"A256GCM"}),
    registry=_registry("A256GCM"),
    info=lambda salt: "NextAuth.js Generated Encryption Key" + (f" ({salt})" if salt else ""),
    with_kid=False,
)
_KEY_BYTES = {"A256CBC-HS512": 64, "A256GCM": 32}
_THUMBPRINT_DIGEST: dict[int, Literal["sha256", "sha512"]] = {64: "sha512", 32: "sha256"}


@functools.lru_cache(maxsize=128)
def _derive(secret: str, salt: str, info: str, length: int, with_kid: bool) -> _Key:
    # HKDF per call is cheap, but the key object and its thumbprint are not
    # free; a process sees a handful of (secret, cookie name) pairs.
    raw = HKDF(algorithm=SHA256(), length=length, salt=salt.encode(), info=info.encode()).derive(
        secret.encode()
    )
    kid = None
    if with_kid:
        jwk = {"kty": "oct", "k": urlsafe_b64encode(raw).decode("ascii")}
        kid = thumbprint(jwk, _THUMBPRINT_DIGEST[length])
    return _Key(OctKey.import_key(raw), kid)


def _key(fmt: _Format, secret: str, salt: str, enc: str) -> _Key:
    return _derive(secret, salt, fmt.info(salt), _KEY_BYTES[enc], fmt.with_kid)


def secret_list(secret: str | Sequence[str]) -> tuple[str, ...]:
    """``secret`` as a tuple of secrets, newest first; ``ConfigurationError`` if it is none."""
    given: Sequence[object] = [secret] if isinstance(secret, str) else ()
    if isinstance(secret, list | tuple):
        given = secret
    secrets = tuple(s for s in given if isinstance(s, str) and s and _is_text(s))
    if not secrets or len(secrets) != len(given):
        raise ConfigurationError(
            "secret must be a non-empty string of Unicode text, or a list of them, newest "
            "first (the app's AUTH_SECRET)"
        )
    return secrets


def _is_text(value: str) -> bool:
    # A lone surrogate (from undecodable bytes in the environment) has no
    # UTF-8 form; Node would replace it, so no key derived from it could match.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _salt(salt: str) -> str:
    if not isinstance(salt, str) or not _is_text(salt):
        raise ConfigurationError("salt must be a string: the session cookie's name")
    return salt


# -- encode ------------------------------------------------------------------


def _encode(
    fmt: _Format,
    payload: Mapping[str, Any],
    secret: str | Sequence[str],
    salt: str,
    max_age: int,
    max_size: int,
) -> str:
    newest = secret_list(secret)[0]
    salt = _salt(salt)
    if not isinstance(payload, Mapping):
        raise ValidationError("the payload must be a mapping of claims")
    if isinstance(max_age, bool) or not isinstance(max_age, int):
        raise ValidationError("max_age must be a whole number of seconds")
    now = math.floor(clock.now().timestamp())
    # The order jose writes: the payload's own claims, then iat, exp, jti.
    claims = {**payload, "iat": now, "exp": now + max_age, "jti": str(uuid.uuid4())}
    try:
        text = json.dumps(claims, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        plaintext = text.encode("utf-8")
    except (TypeError, ValueError) as exc:  # UnicodeEncodeError is a ValueError
        raise ValidationError(f"the payload is not JSON-serialisable: {exc}") from None
    derived = _key(fmt, newest, salt, fmt.encrypt_with)
    header: dict[str, Any] = {"alg": "dir", "enc": fmt.encrypt_with}
    if derived.kid is not None:
        header["kid"] = derived.kid
    token = encrypt_compact(header, plaintext, derived.key, registry=fmt.registry)
    if len(token) > max_size:
        raise ValidationError(
            f"the token would be {len(token)} characters, over the {max_size} that decode "
            "accepts: keep the session payload small"
        )
    return token


def encode(
    payload: Mapping[str, Any],
    *,
    secret: str | Sequence[str],
    salt: str,
    max_age: int = DEFAULT_MAX_AGE,
    max_size: int = MAX_TOKEN_SIZE,
) -> str:
    """An Auth.js v5 session token for ``payload``, as ``@auth/core/jwt``'s ``encode``.

    ``salt`` is the session cookie's name (``authjs.session-token``, or
    ``__Secure-authjs.session-token`` on HTTPS); ``secret`` a string or a list
    newest first (the newest encrypts). ``iat``, ``exp`` (now + ``max_age``
    seconds) and ``jti`` are set, replacing any in ``payload``. Raises
    ``ValidationError`` for a payload that is not JSON or would make a token
    longer than ``max_size``.
    """
    return _encode(_V5, payload, secret, salt, max_age, max_size)


def encode_v4(
    payload: Mapping[str, Any],
    *,
    secret: str | Sequence[str],
    salt: str = "",
    max_age: int = DEFAULT_MAX_AGE,
    max_size: int = MAX_TOKEN_SIZE,
) -> str:
    """A next-auth 4 session token (``A256GCM``, no ``kid``), as ``next-auth/jwt``'s ``encode``.

    next-auth 4 encrypts its session cookie with an empty ``salt``; keep the
    default unless the app passes its own.
    """
    return _encode(_V4, payload, secret, salt, max_age, max_size)


# -- decode ------------------------------------------------------------------


def _malformed(message: str) -> InvalidTokenError:
    return InvalidTokenError(message, reason="malformed")


def _header(segment: bytes) -> dict[str, Any]:
    try:
        header = json.loads(urlsafe_b64decode(segment).decode("utf-8"))
    except (ValueError, UnicodeError):
        raise _malformed("the token's header is not base64url-encoded JSON") from None
    if not isinstance(header, dict):
        raise _malformed("the token's header is not a JSON object")
    return header


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _claims(plaintext: bytes) -> dict[str, Any]:
    try:
        claims = json.loads(plaintext.decode("utf-8"), parse_constant=_reject_constant)
    except (ValueError, UnicodeError):
        raise InvalidTokenError(
            "the token's payload is not JSON", reason="invalid_claims"
        ) from None
    if not isinstance(claims, dict):
        raise InvalidTokenError("the token's payload is not a JSON object", reason="invalid_claims")
    return claims


def _numeric_date(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None and name not in claims:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidTokenError(f'the "{name}" claim is not a number', reason="invalid_claims")
    return value


def _check_times(claims: Mapping[str, Any], tolerance: float) -> None:
    # jose's rules (jwt_claims_set.js), plus: a session token must expire.
    now = math.floor(clock.now().timestamp())
    _numeric_date(claims, "iat")
    not_before = _numeric_date(claims, "nbf")
    if not_before is not None and not_before > now + tolerance:
        raise InvalidTokenError("the token is not valid yet (nbf)", reason="not_yet_valid")
    expires = _numeric_date(claims, "exp")
    if expires is None:
        raise InvalidTokenError('the token has no "exp" claim', reason="invalid_claims")
    if expires <= now - tolerance:
        raise ExpiredTokenError()


def _decode(
    fmt: _Format,
    token: str,
    secret: str | Sequence[str],
    salt: str,
    clock_tolerance: float,
    max_size: int,
) -> dict[str, Any]:
    secrets = secret_list(secret)
    salt = _salt(salt)
    if isinstance(clock_tolerance, bool) or not isinstance(clock_tolerance, int | float):
        raise ConfigurationError("clock_tolerance must be a number of seconds")
    if not 0 <= clock_tolerance < math.inf:
        raise ConfigurationError("clock_tolerance must be a finite number >= 0")
    if not isinstance(token, str):
        raise _malformed("a session token must be a string")
    if len(token) > max_size:
        raise InvalidTokenError(
            f"the token is {len(token)} characters, over the {max_size} accepted",
            reason="too_large",
        )
    if not token:
        raise _malformed("the session token is empty")
    try:
        raw = token.encode("ascii")
    except UnicodeEncodeError:
        raise _malformed("a session token is ASCII") from None
    parts = raw.split(b".")
    if len(parts) != 5:
        raise _malformed("not a JWE in compact form (five parts separated by dots)")
    header = _header(parts[0])
    enc = header.get("enc")
    if header.get("alg") != "dir" or enc not in fmt.decrypt_with:
        expected = " or ".join(sorted(fmt.decrypt_with))
        raise InvalidTokenError(
            f'unexpected "alg"/"enc": an Auth.js {fmt.name} token is "dir" with {expected}',
            reason="unsupported_algorithm",
        )
    if "zip" in header:
        raise InvalidTokenError(
            "compressed tokens are not accepted", reason="unsupported_algorithm"
        )
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise _malformed('the token\'s "kid" is not a string')
    keys = [_key(fmt, s, salt, enc) for s in secrets]
    if kid is not None:
        # A key id says which secret made the token; one that matches none
        # means another secret or another salt (cookie name).
        keys = [k for k in keys if k.kid == kid]
        if not keys:
            raise InvalidTokenError(
                "the token was made with another secret or for another cookie name (salt)",
                reason="unknown_secret",
            )
    for derived in keys:
        try:
            decrypted = decrypt_compact(raw, derived.key, registry=fmt.registry)
        except (JoseError, ValueError, TypeError):
            continue
        assert decrypted.plaintext is not None
        claims = _claims(decrypted.plaintext)
        _check_times(claims, clock_tolerance)
        return claims
    raise InvalidTokenError(
        "the token does not decrypt: it was tampered with, truncated, or made with "
        "another secret or for another cookie name (salt)",
        reason="decryption_failed",
    )


def decode(
    token: str,
    *,
    secret: str | Sequence[str],
    salt: str,
    clock_tolerance: float = DEFAULT_CLOCK_TOLERANCE,
    max_size: int = MAX_TOKEN_SIZE,
) -> dict[str, Any]:
    """The claims of an Auth.js v5 session token, as ``@auth/core/jwt``'s ``decode``.

    ``salt`` is the cookie name the token came in; ``secret`` a string or a
    list newest first (each is tried; the ``kid`` header picks the right one).
    Raises ``ExpiredTokenError`` for an expired token and
    ``InvalidTokenError`` for anything else refused (see its ``reason``).
    """
    return _decode(_V5, token, secret, salt, clock_tolerance, max_size)


def decode_v4(
    token: str,
    *,
    secret: str | Sequence[str],
    salt: str = "",
    clock_tolerance: float = DEFAULT_CLOCK_TOLERANCE,
    max_size: int = MAX_TOKEN_SIZE,
) -> dict[str, Any]:
    """The claims of a next-auth 4 session token, as ``next-auth/jwt``'s ``decode``."""
    return _decode(_V4, token, secret, salt, clock_tolerance, max_size)


def secret_from_env(environ: Mapping[str, str] | None = None, *, v4: bool = False) -> list[str]:
    """The app's secrets from the environment, newest first, as Auth.js reads them.

    v5: ``AUTH_SECRET_3``, ``AUTH_SECRET_2``, ``AUTH_SECRET_1``, ``AUTH_SECRET``
    (those set, in that order: ``@auth/core``'s ``setEnvDefaults``); v4:
    ``NEXTAUTH_SECRET``, else ``AUTH_SECRET``. ``ConfigurationError`` when none
    is set.
    """
    env = os.environ if environ is None else environ
    if v4:
        names = ["NEXTAUTH_SECRET"] if env.get("NEXTAUTH_SECRET") else ["AUTH_SECRET"]
    else:
        names = ["AUTH_SECRET_3", "AUTH_SECRET_2", "AUTH_SECRET_1", "AUTH_SECRET"]
    found = [env[name] for name in names if env.get(name)]
    if not found:
        wanted = "NEXTAUTH_SECRET or AUTH_SECRET" if v4 else "AUTH_SECRET"
        raise ConfigurationError(f"{wanted} is not set (the Next.js app's secret)")
    return found
