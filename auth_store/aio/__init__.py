"""The async twins of the services: the same names as the sync ones, as coroutines.

::

    store = await auth_store.connect_async("postgresql://.../app")
    flow = auth_store.aio.AuthFlow(store, signer=signer, mailer=mailer, base_url=url)
    result = await flow.sign_in_password(email, password)

Each class here is its sync twin's core (``auth_store.sessions.SessionManagerCore``...)
on an ``AsyncAdapter``: the logic is written once, as steps (``auth_store._twins``),
and every method that touches the store, hashes a password or sends mail is a
coroutine here. Argon2 hashing runs on a worker thread, never on the event loop.
Methods without I/O (``SessionManager.stored_token``, ``PasswordService.check_policy``)
are the same plain methods as in the sync twin. The session strategies of a
front end (``authjs_resolver``, ``better_auth_resolver``, ``SessionResolver``)
are here too, for ``auth_store.integrations.fastapi.FrontendSessions``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..api_keys import ApiKeyServiceCore
from ..async_adapter import AsyncAdapter
from ..attempts import AttemptLimiterCore
from ..backup_codes import BackupCodeServiceCore
from ..flow import AuthFlowCore
from ..passkey_store import PasskeyStoreCore
from ..passwords import PasswordServiceCore
from ..pending import PendingSignInsCore
from ..sessions import SessionManagerCore
from ..tokens import TokenServiceCore
from ..totp import TOTPServiceCore
from ._frontend import (
    AuthJsDatabaseStrategy,
    AuthJsJwtStrategy,
    BetterAuthSessionStrategy,
    SessionResolver,
    authjs_resolver,
    better_auth_resolver,
)

if TYPE_CHECKING:
    from ._oauth import OAuthService
    from ._passkeys import PasskeyService

__all__ = [
    "ApiKeyService",
    "AttemptLimiter",
    "AuthFlow",
    "AuthJsDatabaseStrategy",
    "AuthJsJwtStrategy",
    "BackupCodeService",
    "BetterAuthSessionStrategy",
    "OAuthService",
    "PasskeyService",
    "PasskeyStore",
    "PasswordService",
    "PendingSignIns",
    "SessionManager",
    "SessionResolver",
    "TOTPService",
    "TokenService",
    "authjs_resolver",
    "better_auth_resolver",
]


class AuthFlow(AuthFlowCore[AsyncAdapter]):
    """The sign-in flow on an async store (the twin of ``auth_store.flow.AuthFlow``)."""


class SessionManager(SessionManagerCore[AsyncAdapter]):
    """Sessions on an async store (the twin of ``auth_store.sessions.SessionManager``)."""


class TokenService(TokenServiceCore[AsyncAdapter]):
    """Verification tokens on an async store (the twin of ``auth_store.tokens.TokenService``)."""


class PasswordService(PasswordServiceCore[AsyncAdapter]):
    """Passwords on an async store; hashing runs on a worker thread."""


class PendingSignIns(PendingSignInsCore[AsyncAdapter]):
    """Pending second steps on an async store (the twin of ``auth_store.pending``'s)."""


class AttemptLimiter(AttemptLimiterCore[AsyncAdapter]):
    """Attempt limits on an async store (the twin of ``auth_store.attempts.AttemptLimiter``)."""


class TOTPService(TOTPServiceCore[AsyncAdapter]):
    """TOTP on an async store (the twin of ``auth_store.totp.TOTPService``)."""


class BackupCodeService(BackupCodeServiceCore[AsyncAdapter]):
    """Backup codes on an async store (the twin of ``auth_store.backup_codes``' service)."""


class ApiKeyService(ApiKeyServiceCore[AsyncAdapter]):
    """API keys on an async store (the twin of ``auth_store.api_keys.ApiKeyService``)."""


class PasskeyStore(PasskeyStoreCore[AsyncAdapter]):
    """Passkeys' storage on an async store (the twin of ``auth_store.passkey_store``'s)."""


def __getattr__(name: str) -> Any:
    # These need an extra ('passkeys': webauthn; 'oauth': authlib): imported on first use.
    if name == "PasskeyService":
        from ._passkeys import PasskeyService

        return PasskeyService
    if name == "OAuthService":
        from ._oauth import OAuthService

        return OAuthService
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
