"""The synthetic population every backend is filled with, the same everywhere.

User ``i`` has one GitHub account and one session; every field is derived
from ``i`` alone, so any backend can be grown from ``n`` to ``m`` users and
any lookup key can be computed without keeping the records. The SQL suites
give the sessions the details an app's ``SessionManager`` records
(``with_details``), so their lookups decode what an app's would.
"""

from __future__ import annotations

import base64
import hashlib
import random
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from auth_store.models import Account, Model, Session, User, VerificationToken, new_id

__all__ = [
    "EXPIRES",
    "USER_AGENT",
    "account",
    "email",
    "people",
    "sample",
    "session",
    "session_token",
    "user",
    "user_id",
    "verification_tokens",
    "with_details",
]

#: One fixed expiry, so every run stores the same bytes.
EXPIRES = datetime(2031, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)
VERIFIED = datetime(2024, 5, 6, 7, 8, 9, 101112, tzinfo=UTC)
PROVIDER = "github"
#: The browser ``SessionManager`` records in the population's sessions.
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


def _digest(kind: str, i: int) -> bytes:
    return hashlib.sha256(f"{kind}:{i}".encode()).digest()


def user_id(i: int) -> str:
    """A UUID4 text id (fastapi-users needs real UUIDs on the same rows)."""
    return str(uuid.UUID(bytes=_digest("user", i)[:16], version=4))


def email(i: int) -> str:
    """The (already normalised) e-mail of user ``i``."""
    return f"user{i}@example.com"


def provider_account_id(i: int) -> str:
    """User ``i``'s GitHub account number."""
    return str(10_000_000 + i)


def session_token(i: int) -> str:
    """A 256-bit url-safe token, like ``secrets.token_urlsafe(32)``."""
    return base64.urlsafe_b64encode(_digest("session", i)).rstrip(b"=").decode()


def user(i: int) -> User:
    """User ``i`` with the optional fields a real user has set."""
    return User(
        id=user_id(i),
        email=email(i),
        email_verified=VERIFIED,
        name=f"User {i}",
        image=f"https://avatars.example.com/{i}.png",
        extra={"role": "member", "locale": "en"},
    )


def account(i: int) -> Account:
    """User ``i``'s GitHub OAuth account, with the token fields GitHub returns."""
    return Account(
        id=str(uuid.UUID(bytes=_digest("account", i)[:16], version=4)),
        user_id=user_id(i),
        type="oauth",
        provider=PROVIDER,
        provider_account_id=provider_account_id(i),
        access_token=f"gho_{_digest('access', i).hex()[:36]}",
        token_type="bearer",
        scope="read:user,user:email",
    )


def session(i: int, token: str | None = None) -> Session:
    """User ``i``'s session (or a new one with ``token``)."""
    return Session(
        id=new_id() if token else str(uuid.UUID(bytes=_digest("sid", i)[:16], version=4)),
        session_token=token or session_token(i),
        user_id=user_id(i),
        expires=EXPIRES,
    )


def people(start: int, stop: int, chunk: int = 5000) -> Iterator[Model]:
    """Users ``start`` to ``stop - 1`` with their accounts and sessions.

    In chunks of users, then their accounts, then their sessions: dependency
    order (a user before what points at it) as ``import_records`` wants, with
    long runs of one collection that a backend can insert in bulk.
    """
    for low in range(start, stop, chunk):
        high = min(low + chunk, stop)
        yield from (user(i) for i in range(low, high))
        yield from (account(i) for i in range(low, high))
        yield from (session(i) for i in range(low, high))


def verification_tokens(tag: str, count: int) -> list[VerificationToken]:
    """``count`` fresh magic-link tokens, distinct for each ``tag``."""
    return [
        VerificationToken(
            identifier=f"{tag}-{k}@example.com",
            token=hashlib.sha256(f"{tag}:{k}".encode()).hexdigest(),
            expires=EXPIRES + timedelta(days=k % 7),
        )
        for k in range(count)
    ]


def with_details(records: Iterable[Model]) -> Iterator[Model]:
    """The population, each session with the details ``SessionManager`` records."""
    for record in records:
        if isinstance(record, Session):
            started = record.expires - timedelta(days=30)
            record = replace(
                record,
                created_at=started,
                updated_at=started + timedelta(minutes=7),
                ip_address="203.0.113.24",
                user_agent=USER_AGENT,
            )
        yield record


def sample(size: int, count: int = 4096, seed: int = 8) -> list[int]:
    """``count`` random indices of existing users (the same for every backend)."""
    rng = random.Random(f"{seed}:{size}")
    return [rng.randrange(size) for _ in range(count)]
