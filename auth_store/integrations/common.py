"""What the Flask and FastAPI integrations share: cookies, CSRF, safe redirects.

Nothing here imports a web framework. The integrations translate requests
and responses; the decisions (what a cookie holds, what a public message
says) are made once, here and in ``auth_store.flow``; which error is which
HTTP status is decided once in ``auth_store.integrations.errors``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from .. import clock
from .._twins import run_sync
from ..flow import AuthFlowCore
from ..sessions import ActiveSession
from ..signing import CsrfProtector, InvalidSignatureError

__all__ = ["CSRF_FIELD", "CSRF_HEADER", "CookieSettings", "WebAuth", "WebPages", "safe_next"]

#: Form field and header that carry the CSRF token.
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


def safe_next(url: str | None, default: str = "/") -> str:
    """``url`` if it is a path on this site, else ``default`` (no open redirects)."""
    if not url or not url.startswith("/") or url.startswith(("//", "/\\")):
        return default
    if any(ch in url for ch in "\\\r\n\t") or ":" in url.split("?", 1)[0]:
        return default
    return url


@dataclass(frozen=True, kw_only=True)
class WebPages:
    """Pages of your app the browser is sent to after an OAuth round trip."""

    after_sign_in: str = "/"
    second_step: str = "/second-step"
    sign_in: str = "/sign-in"


@dataclass(frozen=True, kw_only=True)
class CookieSettings:
    """Names and flags of the cookies the integrations set.

    ``secure`` must stay ``True`` in production (HTTPS); turn it off only for
    local development over plain ``http://``. Every cookie is HttpOnly.
    ``passkey`` holds the state of a passkey ceremony a button started,
    ``passkey_autofill`` that of the sign-in the browser's autofill runs
    meanwhile on the same page; ``reauth`` a fresh re-authentication proof.
    """

    session: str = "auth_store_session"
    csrf: str = "auth_store_csrf"
    pending: str = "auth_store_pending"
    oauth_state: str = "auth_store_oauth"
    passkey: str = "auth_store_passkey"
    passkey_autofill: str = "auth_store_passkey_autofill"
    reauth: str = "auth_store_reauth"
    secure: bool = True
    samesite: Literal["lax", "strict", "none"] = "lax"
    domain: str | None = None
    path: str = "/"


class WebAuth:
    """The framework-neutral half of an integration, built on one ``AuthFlow``."""

    _session_cookie_purpose = "session-cookie"

    def __init__(self, flow: AuthFlowCore[Any], cookies: CookieSettings | None = None) -> None:
        self.flow = flow
        self.cookies = cookies or CookieSettings()
        self.csrf = CsrfProtector(flow.signer)

    # -- the session cookie --------------------------------------------------

    def encode_session_cookie(self, token: str) -> str:
        """The session cookie's value: the token, signed (as-is in Auth.js compat mode)."""
        if self.flow.sessions.authjs_compat:
            return token
        return self.flow.signer.sign(token, purpose=self._session_cookie_purpose)

    def decode_session_cookie(self, value: str | None) -> str | None:
        """The session token in a cookie value, or ``None`` if it is absent or forged."""
        if not value:
            return None
        if self.flow.sessions.authjs_compat:
            return value
        try:
            return self.flow.signer.unsign(value, purpose=self._session_cookie_purpose)
        except InvalidSignatureError:
            return None

    def load_session(self, cookie_value: str | None) -> tuple[str | None, ActiveSession | None]:
        """The token and live session a session cookie names (sliding its expiry).

        Sync flows only (Flask); the FastAPI integration awaits ``flow.sessions.get``.
        """
        token = self.decode_session_cookie(cookie_value)
        if token is None:
            return None, None
        return token, run_sync(self.flow.sessions.get.steps(token))

    @staticmethod
    def max_age(expires: datetime) -> int:
        """Seconds from now until ``expires`` (a cookie's Max-Age), at least 0."""
        return max(0, int((expires - clock.now()).total_seconds()))
