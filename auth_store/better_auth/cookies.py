"""Better Auth's signed session-token cookie: ``better-auth.session_token``.

Better Auth (through ``better-call``'s ``signCookieValue``) sets the cookie
to ``encodeURIComponent(token + "." + base64(HMAC-SHA256(secret, token)))``:
the signature is standard base64 with its ``=`` padding, always 44
characters. On read it percent-decodes the value, splits it at its last dot
and checks the signature with the app's current secret only. The cookie is
``__Secure-better-auth.session_token`` when the app runs on HTTPS; each app
reads only the name it writes. The prefix (``better-auth``) is the app's
``advanced.cookiePrefix``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from urllib.parse import quote, unquote

from ..errors import ConfigurationError

__all__ = [
    "BETTER_AUTH_COOKIES",
    "COOKIE_PREFIX",
    "SECURE_PREFIX",
    "SESSION_COOKIE",
    "encode_cookie_value",
    "read_session_cookie",
    "session_cookie_name",
    "sign_cookie",
    "verify_cookie",
]

#: Better Auth's default cookie prefix (``advanced.cookiePrefix``).
COOKIE_PREFIX = "better-auth"
#: The session cookie's name after the prefix.
_SESSION_SUFFIX = ".session_token"
#: Better Auth's session cookie on ``http://`` (development).
SESSION_COOKIE = COOKIE_PREFIX + _SESSION_SUFFIX
#: What Better Auth puts before its cookies' names on HTTPS.
SECURE_PREFIX = "__Secure-"
#: Both names of the default session cookie: HTTPS first.
BETTER_AUTH_COOKIES = (SECURE_PREFIX + SESSION_COOKIE, SESSION_COOKIE)
_SIGNATURE_LENGTH = 44  # base64 of 32 bytes, with one "=" of padding
#: Longest cookie value looked at (a session token is 32 characters).
_MAX_VALUE = 4096


def _mac(token: str, secret: str) -> str:
    digest = hmac.new(secret.encode("utf-8"), token.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def _secrets(secret: str | Sequence[str]) -> tuple[str, ...]:
    found = (secret,) if isinstance(secret, str) else tuple(secret)
    if not found or not all(isinstance(s, str) and s for s in found):
        raise ConfigurationError(
            "secret must be a non-empty string (the Better Auth app's BETTER_AUTH_SECRET),"
            " or a list of them"
        )
    return found


def sign_cookie(token: str, secret: str) -> str:
    """``token.signature`` as Better Auth writes it (not yet percent-encoded).

    ``secret`` is the app's current secret (``BETTER_AUTH_SECRET``): the only
    one the app checks.
    """
    if not isinstance(token, str) or not token:
        raise ConfigurationError("the session token must be a non-empty string")
    (key,) = _secrets(secret)[:1]
    return f"{token}.{_mac(token, key)}"


def encode_cookie_value(signed: str) -> str:
    """A signed value as the cookie carries it (JavaScript's ``encodeURIComponent``)."""
    return quote(signed, safe="-_.!~*'()")


def verify_cookie(value: str, secret: str | Sequence[str]) -> str | None:
    """The session token in a cookie value (as sent or percent-decoded), or ``None``.

    ``None`` when the value is malformed or its signature matches none of
    ``secret`` (a string, or several: each is tried). Signatures are compared
    in constant time.
    """
    keys = _secrets(secret)
    if not isinstance(value, str) or not value or len(value) > _MAX_VALUE:
        return None
    if "%" in value:
        try:
            value = unquote(value, errors="strict")
        except UnicodeDecodeError:
            return None
    token, dot, signature = value.rpartition(".")
    if not dot or not token or len(signature) != _SIGNATURE_LENGTH or not signature.endswith("="):
        return None
    given = signature.encode("ascii", "replace")
    ok = False
    for key in keys:
        ok |= hmac.compare_digest(_mac(token, key).encode("ascii"), given)
    return token if ok else None


def session_cookie_name(*, secure: bool, prefix: str = COOKIE_PREFIX) -> str:
    """The session cookie's name: ``[__Secure-]<prefix>.session_token``."""
    name = f"{prefix}{_SESSION_SUFFIX}"
    return SECURE_PREFIX + name if secure else name


def read_session_cookie(cookies: Mapping[str, str], name: str) -> str | None:
    """The raw value of the cookie ``name`` in a request's cookies, or ``None``."""
    value = cookies.get(name)
    return value if isinstance(value, str) and value else None
