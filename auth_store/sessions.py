"""Database sessions with Auth.js timing.

A session lives ``max_age`` (30 days) and slides: when it is read more than
``update_age`` (1 day) after it was last extended, its expiry moves to
``now + max_age``. A session read after it expired is deleted and treated as
absent. These are the rules of Auth.js's database strategy, so a session
created here and one created by an Auth.js app age the same way.

Tokens are 256 random bits from ``secrets``. The browser holds the token; the
store holds its SHA-256 digest, so a leaked database or backup does not hand
out live sessions (the token is random and long, so a plain, fast hash is
enough: there is nothing to guess). ``authjs_compat=True`` stores the token as
it is, which is what an Auth.js app reading the same table expects. On a store
another app shares (``?flavor=better-auth``: ``SharedWithAnotherApp``), tokens
are stored as they are too, and the timing defaults to that app's (Better
Auth: 7 days, sliding daily).

Each session records what a "your sessions" page shows: ``created_at``, the
``ip_address`` and ``user_agent`` the caller passes to ``create``, and
``updated_at``, when it was last seen. Last seen is not a write per request:
``get`` moves it when it is older than ``last_seen_interval`` (5 minutes), or
together with a sliding-expiry refresh, so it is exact to that interval.
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import ipaddress
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from . import clock
from ._twins import Steps, StoreT, Twin, shared_with, twin
from .adapter import Adapter
from .disabled import is_disabled
from .errors import ValidationError
from .models import Session, User
from .validation import MAX_USER_AGENT

__all__ = [
    "DEFAULT_LAST_SEEN_INTERVAL",
    "DEFAULT_MAX_AGE",
    "DEFAULT_UPDATE_AGE",
    "ActiveSession",
    "IssuedSession",
    "SessionClient",
    "SessionManager",
    "SessionManagerCore",
    "client_ip",
    "client_user_agent",
]

DEFAULT_MAX_AGE = timedelta(days=30)
DEFAULT_UPDATE_AGE = timedelta(days=1)
DEFAULT_LAST_SEEN_INTERVAL = timedelta(minutes=5)
_TOKEN_BYTES = 32  # 256 bits
_MAX_TOKEN_LENGTH = 512


def client_ip(value: str | None) -> str | None:
    """An IP address as sessions store it (canonical text), or ``None`` for anything else.

    IPv4 addresses mapped into IPv6 (``::ffff:192.0.2.1``, as dual-stack
    servers report them) are stored as the IPv4 address.
    """
    if not value or not isinstance(value, str):
        return None
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return None  # a host name, "unknown", a proxy's list: not an address
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return str(address)


def client_user_agent(value: str | None) -> str | None:
    """A ``User-Agent`` header as sessions store it: printable, at most 1024 characters."""
    if not value or not isinstance(value, str):
        return None
    # The header is whatever the client sent: keep what can be shown, bounded.
    text = "".join(ch for ch in value if ch.isprintable()).strip()[:MAX_USER_AGENT]
    return text or None


def _same(stored: str, other: str) -> bool:
    # In authjs_compat mode these are live tokens: compare in constant time, as
    # bytes (compare_digest refuses str that is not ASCII).
    return hmac.compare_digest(
        stored.encode("utf-8", "surrogatepass"), other.encode("utf-8", "surrogatepass")
    )


@dataclass(frozen=True, kw_only=True)
class SessionClient:
    """Who is signing in, as the request shows it: kept on the new session for its list.

    The web integrations make one per request (``ip_address`` from the peer,
    or from ``X-Forwarded-For`` behind a trusted proxy; ``user_agent`` from
    the header) and pass it to the flow's sign-in steps as ``client=``.
    """

    ip_address: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True, kw_only=True)
class IssuedSession:
    """A new session: ``token`` goes to the client (cookie) and nowhere else."""

    token: str = field(repr=False)
    session: Session
    user: User

    @property
    def expires(self) -> datetime:
        """When the session expires unless it is extended."""
        return self.session.expires


@dataclass(frozen=True, kw_only=True)
class ActiveSession:
    """A valid session read by token; ``refreshed`` says its expiry just moved."""

    session: Session
    user: User
    refreshed: bool = False

    @property
    def expires(self) -> datetime:
        """The (possibly just extended) expiry."""
        return self.session.expires


class SessionManagerCore(Twin[StoreT]):
    """Creates, reads (with sliding expiry), lists and revokes sessions.

    ``last_seen_interval`` bounds how stale a session's ``updated_at`` (last
    seen) may get before ``get`` writes it; ``timedelta(0)`` writes it on every
    read.
    """

    def __init__(
        self,
        adapter: StoreT,
        *,
        max_age: timedelta | None = None,
        update_age: timedelta | None = None,
        authjs_compat: bool = False,
        last_seen_interval: timedelta = DEFAULT_LAST_SEEN_INTERVAL,
    ) -> None:
        shared = shared_with(adapter)
        if max_age is None:
            max_age = DEFAULT_MAX_AGE if shared is None else shared.session_max_age
        if update_age is None:
            update_age = DEFAULT_UPDATE_AGE if shared is None else shared.session_update_age
        if max_age <= timedelta(0) or update_age < timedelta(0) or update_age > max_age:
            raise ValidationError("need max_age > 0 and 0 <= update_age <= max_age")
        if last_seen_interval < timedelta(0):
            raise ValidationError("last_seen_interval must not be negative")
        super().__init__(adapter)
        self.max_age = max_age
        self.update_age = update_age
        self.authjs_compat = authjs_compat
        #: Whether the store keeps client tokens as they are (else their SHA-256).
        self.plain_tokens = authjs_compat or (shared is not None and shared.plain_session_tokens)
        self.last_seen_interval = last_seen_interval

    def stored_token(self, token: str) -> str:
        """What the store keeps for a client token (its SHA-256 hex, or itself in compat mode)."""
        if self.plain_tokens:
            return token
        return hashlib.sha256(token.encode()).hexdigest()

    @twin
    def create(
        self, user: User, *, ip_address: str | None = None, user_agent: str | None = None
    ) -> Steps[IssuedSession]:
        """Start a new session for ``user`` with a fresh token.

        ``ip_address`` and ``user_agent`` describe the client (the request's
        peer address and ``User-Agent`` header); they are kept for the user's
        list of sessions: an IP address in canonical form (anything that is
        not an address is dropped), the user agent's printable text cut to
        1024 characters. ``created_at`` and ``updated_at`` are now.
        """
        token = secrets.token_urlsafe(_TOKEN_BYTES)
        now = clock.now()
        session = yield from self._store(
            Adapter.create_session,
            Session(
                session_token=self.stored_token(token),
                user_id=user.id,
                expires=now + self.max_age,
                created_at=now,
                updated_at=now,
                ip_address=client_ip(ip_address),
                user_agent=client_user_agent(user_agent),
            ),
        )
        return IssuedSession(token=token, session=session, user=user)

    @twin
    def get(self, token: str | None) -> Steps[ActiveSession | None]:
        """The live session for a client token, or ``None``.

        An expired session, or one of a disabled user (``auth_store.disabled``),
        is deleted. A session last extended more than
        ``update_age`` ago gets ``expires = now + max_age`` (``refreshed=True``:
        send the cookie again with the new expiry). Its ``updated_at`` (last
        seen) becomes now with that refresh, or on its own once it is
        ``last_seen_interval`` old: at most one write per interval.
        """
        if not token or not isinstance(token, str) or len(token) > _MAX_TOKEN_LENGTH:
            return None
        stored = self.stored_token(token)
        found = yield from self._store(Adapter.get_session_and_user, stored)
        if found is None:
            return None
        session, user = found
        now = clock.now()
        if session.expires <= now or is_disabled(user):
            # Disabling revokes every session; one made in a race with it ends here.
            yield from self._store(Adapter.delete_session, stored)
            return None
        due = session.expires - self.max_age + self.update_age
        if due <= now:
            updated = yield from self._update(
                Adapter.update_session, stored, expires=now + self.max_age, updated_at=now
            )
            if updated is None:  # revoked between the read and the write
                return None
            return ActiveSession(session=updated, user=user, refreshed=True)
        seen = session.updated_at
        if seen is None or now - seen >= self.last_seen_interval:
            touched = yield from self._update(Adapter.update_session, stored, updated_at=now)
            if touched is None:
                return None
            session = touched
        return ActiveSession(session=session, user=user)

    @twin
    def revoke(self, token: str | None) -> Steps[bool]:
        """End the session a client token names; whether there was one."""
        if not token or not isinstance(token, str) or len(token) > _MAX_TOKEN_LENGTH:
            return False
        ended = yield from self._store(Adapter.delete_session, self.stored_token(token))
        return ended is not None

    @twin
    def revoke_by_id(self, user_id: str, session_id: str) -> Steps[bool]:
        """End one of ``user_id``'s sessions by its id (as shown by ``list``)."""
        for session in (yield from self._store(Adapter.list_sessions, user_id)):
            if session.id == session_id:
                ended = yield from self._store(Adapter.delete_session, session.session_token)
                return ended is not None
        return False

    @twin
    def revoke_all(self, user_id: str, *, except_token: str | None = None) -> Steps[int]:
        """End every session of a user (but ``except_token``'s); return how many ended."""
        if except_token is None:
            return (yield from self._store(Adapter.delete_sessions, user_id))
        keep = self.stored_token(except_token)
        ended = 0
        for session in (yield from self._store(Adapter.list_sessions, user_id)):
            if _same(session.session_token, keep):
                continue
            if (yield from self._store(Adapter.delete_session, session.session_token)) is not None:
                ended += 1
        return ended

    @twin
    def list(self, user_id: str) -> Steps[builtins.list[Session]]:
        """A user's live sessions, oldest expiry first (expired ones are not listed)."""
        now = clock.now()
        return [
            s for s in (yield from self._store(Adapter.list_sessions, user_id)) if s.expires > now
        ]

    def is_current(self, session: Session, token: str | None) -> bool:
        """Whether ``session`` is the one the client ``token`` names."""
        if not token:
            return False
        return _same(session.session_token, self.stored_token(token))


class SessionManager(SessionManagerCore[Adapter]):
    """Sessions on a sync store (``auth_store.aio.SessionManager`` is the async twin)."""
