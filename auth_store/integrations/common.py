"""What the Flask and FastAPI integrations share: cookies, CSRF, safe redirects.

Nothing here imports a web framework. The integrations translate requests
and responses; the decisions (what a cookie holds, what a public message
says) are made once, here and in ``auth_store.flow``; which error is which
HTTP status is decided once in ``auth_store.integrations.errors``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from .. import clock
from .._twins import run_sync
from ..errors import ConfigurationError
from ..flow import AuthFlowCore
from ..sessions import ActiveSession, SessionClient, client_ip
from ..signing import CsrfProtector, InvalidSignatureError

__all__ = [
    "CSRF_FIELD",
    "CSRF_HEADER",
    "CookieSettings",
    "WebAuth",
    "WebPages",
    "client_address",
    "parse_proxies",
    "safe_next",
]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

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


def parse_proxies(values: Iterable[str] | str | None) -> tuple[Network, ...]:
    """Trusted proxies from addresses or networks (``"10.0.0.0/8"``), a list or one
    comma-separated string; ``ConfigurationError`` for anything else."""
    if values is None:
        return ()
    items = values.split(",") if isinstance(values, str) else list(values)
    networks: list[Network] = []
    for item in items:
        text = str(item).strip()
        if not text:
            continue
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise ConfigurationError(f"not an IP address or network: {text!r}") from None
    return tuple(networks)


def client_address(
    peer: str | None, forwarded_for: str | None, trusted: tuple[Network, ...] = ()
) -> str | None:
    """The client's IP address: the peer's, or behind trusted proxies the one they saw.

    ``X-Forwarded-For`` is believed only as far as trusted proxies wrote it:
    read right to left from the peer, each hop that is a trusted proxy hands
    over to the address it reports, and the first hop that is not trusted is
    the client. Without trusted proxies the header is ignored (anyone can send it).
    """
    address = client_ip(peer)
    if not trusted or not forwarded_for:
        return address
    hops = [hop.strip() for hop in forwarded_for.split(",")]
    while address is not None and _trusted(address, trusted) and hops:
        reported = client_ip(hops.pop())
        if reported is None:
            break  # a hop we can't read: keep the last address we can vouch for
        address = reported
    return address


def _trusted(address: str, trusted: tuple[Network, ...]) -> bool:
    parsed = ipaddress.ip_address(address)
    return any(parsed in network for network in trusted)


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

    def __init__(
        self,
        flow: AuthFlowCore[Any],
        cookies: CookieSettings | None = None,
        *,
        trusted_proxies: Iterable[str] | str | None = None,
    ) -> None:
        self.flow = flow
        self.cookies = cookies or CookieSettings()
        self.csrf = CsrfProtector(flow.signer)
        #: Proxies whose ``X-Forwarded-For`` is believed (see ``client_address``).
        self.trusted_proxies = parse_proxies(trusted_proxies)

    def client(
        self, peer: str | None, forwarded_for: str | None, user_agent: str | None
    ) -> SessionClient:
        """Who a request comes from, for the session it may start (``client=`` of the flow)."""
        return SessionClient(
            ip_address=client_address(peer, forwarded_for, self.trusted_proxies),
            user_agent=user_agent,
        )

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
