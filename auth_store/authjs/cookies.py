"""Auth.js's session cookie: its names, and chunking it across several cookies.

A browser keeps at most about 4 KB per cookie, so Auth.js splits a longer
session token into ``<name>.0``, ``<name>.1``, ... of at most ``CHUNK_SIZE``
characters (``SessionStore`` in ``@auth/core/lib/utils/cookie.js``) and joins
them again on the way in. These functions do the same, framework-neutrally:
``read_session_cookie`` takes the request's cookies as a mapping,
``session_cookie_writes`` says which cookies to set and which to clear.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

__all__ = [
    "AUTHJS_COOKIES",
    "CHUNK_SIZE",
    "NEXTAUTH_V4_COOKIES",
    "SECURE_PREFIX",
    "SESSION_COOKIE",
    "V4_CHUNK_SIZE",
    "V4_SESSION_COOKIE",
    "CookieWrite",
    "SessionCookie",
    "read_session_cookie",
    "session_cookie_name",
    "session_cookie_writes",
]

#: Auth.js v5's session cookie; on HTTPS it carries ``SECURE_PREFIX``.
SESSION_COOKIE = "authjs.session-token"
#: next-auth 4's session cookie.
V4_SESSION_COOKIE = "next-auth.session-token"
#: The prefix Auth.js adds when it uses secure cookies (an HTTPS site).
SECURE_PREFIX = "__Secure-"
#: Longest chunk ``@auth/core`` writes: 4096 bytes less 160 for the cookie's attributes.
CHUNK_SIZE = 4096 - 160
#: Longest chunk next-auth 4 writes (it reserves 163 bytes).
V4_CHUNK_SIZE = 4096 - 163
#: The most chunks read: a token of ``MAX_TOKEN_SIZE`` needs 17.
_MAX_CHUNKS = 64


@dataclass(frozen=True)
class SessionCookie:
    """A session cookie's name and the token format it carries (v5, or next-auth 4's)."""

    name: str
    v4: bool = False

    @property
    def salt(self) -> str:
        """The salt of its tokens' key: the cookie name (v5), or ``""`` (next-auth 4)."""
        return "" if self.v4 else self.name


def session_cookie_name(*, secure: bool, v4: bool = False) -> str:
    """The session cookie's name: ``[__Secure-]authjs.session-token`` (v4: ``next-auth.``)."""
    return (SECURE_PREFIX if secure else "") + (V4_SESSION_COOKIE if v4 else SESSION_COOKIE)


#: Auth.js v5's session cookies, HTTPS first.
AUTHJS_COOKIES = (
    SessionCookie(session_cookie_name(secure=True)),
    SessionCookie(session_cookie_name(secure=False)),
)
#: next-auth 4's session cookies, HTTPS first.
NEXTAUTH_V4_COOKIES = (
    SessionCookie(session_cookie_name(secure=True, v4=True), v4=True),
    SessionCookie(session_cookie_name(secure=False, v4=True), v4=True),
)


def _chunk_index(name: str, base: str) -> int | None:
    if not name.startswith(base + "."):
        return None
    suffix = name[len(base) + 1 :]
    if not re.fullmatch(r"0|[1-9][0-9]{0,5}", suffix):
        return None
    return int(suffix)


def read_session_cookie(cookies: Mapping[str, str], name: str) -> str | None:
    """The session cookie ``name`` from a request's cookies, joined from its chunks.

    Chunks ``name.0``, ``name.1``, ... are joined in order of their number (as
    Auth.js does); without chunks, the cookie ``name`` itself. ``None`` when
    neither is there, or when the chunks are not numbered 0 to n-1 (one got
    lost, so the token cannot be whole).
    """
    chunks: dict[int, str] = {}
    for cookie, value in cookies.items():
        index = _chunk_index(cookie, name)
        if index is not None and value:
            chunks[index] = value
    if chunks:
        if len(chunks) > _MAX_CHUNKS or sorted(chunks) != list(range(len(chunks))):
            return None
        return "".join(chunks[i] for i in range(len(chunks)))
    return cookies.get(name) or None


@dataclass(frozen=True)
class CookieWrite:
    """What to send for a new session token: cookies to ``set`` and names to ``clear``.

    ``set`` holds ``(name, value)`` pairs, one cookie or several chunks;
    ``clear`` names cookies of an earlier token (a chunk no longer needed, or
    the unchunked cookie when the new token is chunked) to expire with
    ``Max-Age=0``. Set each with the session cookie's attributes (HttpOnly,
    ``SameSite=Lax``, ``Path=/``, ``Secure`` on HTTPS).
    """

    set: list[tuple[str, str]] = field(repr=False)
    clear: list[str]


def session_cookie_writes(
    name: str,
    token: str,
    *,
    present: Iterable[str] = (),
    chunk_size: int = CHUNK_SIZE,
) -> CookieWrite:
    """The cookies that carry ``token`` as the session cookie ``name`` (``SessionStore.chunk``).

    A token of at most ``chunk_size`` characters is one cookie ``name``;
    a longer one is ``name.0``, ``name.1``, ... ``present`` is the names of
    the request's cookies: those of the old session that the new one does not
    overwrite are listed in ``clear``. Pass ``V4_CHUNK_SIZE`` for next-auth 4.
    """
    if chunk_size < 1:
        raise ValueError("chunk_size must be positive")
    count = max(1, -(-len(token) // chunk_size))
    if count == 1:
        written = [(name, token)]
    else:
        written = [
            (f"{name}.{i}", token[i * chunk_size : (i + 1) * chunk_size]) for i in range(count)
        ]
    names = {cookie for cookie, _ in written}
    stale = [
        cookie
        for cookie in present
        if (cookie == name or _chunk_index(cookie, name) is not None) and cookie not in names
    ]
    return CookieWrite(set=written, clear=sorted(set(stale)))
