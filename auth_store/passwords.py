"""Password hashes: argon2id through libpass, bcrypt imports, policy, equal-time misses.

One credential of type ``password`` per user holds ``{"hash": "$argon2id$..."}``.
Hashes written by other systems (bcrypt ``$2a$``/``$2b$``/``$2y$``, argon2 with
other parameters) can be imported; they verify as they are and are rehashed
with the current parameters on the next successful check.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from passlib.context import CryptContext

from ._slots import change_slot, slot_id
from ._twins import Steps, StoreT, Twin, offload, shared_with, twin
from .adapter import Adapter
from .attempts import AttemptLimiterCore
from .errors import ErrorCode, ValidationError
from .models import Credential, User
from .validation import validate_id

__all__ = [
    "ARGON2_MEMORY_COST",
    "ARGON2_PARALLELISM",
    "ARGON2_TIME_COST",
    "CREDENTIAL_TYPE",
    "PasswordPolicy",
    "PasswordPolicyError",
    "PasswordService",
    "PasswordServiceCore",
    "make_context",
]

log = logging.getLogger(__name__)

#: OWASP's minimum for argon2id (Password Storage Cheat Sheet): 19 MiB, 2 passes, 1 lane.
ARGON2_MEMORY_COST = 19 * 1024  # KiB
ARGON2_TIME_COST = 2
ARGON2_PARALLELISM = 1

CREDENTIAL_TYPE = "password"
KIND = "password"  # the AttemptLimiter kind
_BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")
_BCRYPT_MAX_BYTES = 72


def make_context(
    *,
    memory_cost: int = ARGON2_MEMORY_COST,
    time_cost: int = ARGON2_TIME_COST,
    parallelism: int = ARGON2_PARALLELISM,
) -> CryptContext:
    """The libpass context: argon2id with these parameters hashes; bcrypt and Better
    Auth's scrypt (``auth_store.better_auth.passwords``) only verify.

    The defaults meet OWASP's minimum; lower values are for tests only.
    """
    from .better_auth.passwords import BetterAuthScrypt

    return CryptContext(
        schemes=["argon2", "bcrypt", BetterAuthScrypt],
        default="argon2",
        deprecated=["bcrypt", BetterAuthScrypt.name],
        argon2__type="ID",
        argon2__memory_cost=memory_cost,
        argon2__time_cost=time_cost,
        argon2__parallelism=parallelism,
    )


class PasswordPolicyError(ValidationError):
    """A new password breaks the policy; ``reason`` is ``too_short``, ``too_long`` or ``breached``.

    The message never contains the password.
    """

    code = ErrorCode.PASSWORD_REJECTED

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


PasswordPolicyError.__module__ = "auth_store.passwords"


@dataclass(frozen=True)
class PasswordPolicy:
    """Length limits for new passwords, counted in characters (NIST 800-63B).

    No composition rules; ``max_length`` only guards the hasher against abuse.
    """

    min_length: int = 8
    max_length: int = 1024

    def __post_init__(self) -> None:
        if not 1 <= self.min_length <= self.max_length:
            raise ValidationError("password policy needs 1 <= min_length <= max_length")

    def check(self, password: str) -> None:
        """Raise ``PasswordPolicyError`` if ``password`` is not acceptable as a new password."""
        if not isinstance(password, str):
            raise ValidationError(f"password must be a string, got {type(password).__name__}")
        if len(password) < self.min_length:
            raise PasswordPolicyError(
                f"password must be at least {self.min_length} characters", reason="too_short"
            )
        if len(password) > self.max_length:
            raise PasswordPolicyError(
                f"password must be at most {self.max_length} characters", reason="too_long"
            )


class PasswordServiceCore(Twin[StoreT]):
    """Set, verify, change and import password hashes stored through an ``Adapter``.

    ``breached_check(password) -> bool`` (optional) returns True for a password
    known to be breached; such passwords are refused as new passwords. With a
    ``limiter`` every verification counts against the user's attempt limits
    and may raise ``TooManyAttemptsError``. ``context`` overrides the libpass
    context (see ``make_context``); on a store another app shares
    (``SharedWithAnotherApp``: ``?flavor=better-auth``) the default is the
    context whose hashes that app verifies (Better Auth's scrypt).
    """

    def __init__(
        self,
        adapter: StoreT,
        *,
        policy: PasswordPolicy | None = None,
        breached_check: Callable[[str], bool] | None = None,
        limiter: AttemptLimiterCore[StoreT] | None = None,
        context: CryptContext | None = None,
    ) -> None:
        super().__init__(adapter)
        self.policy = policy or PasswordPolicy()
        self.breached_check = breached_check
        self.limiter = limiter
        # A store another app shares (Better Auth): hashes that app verifies, and
        # passwords that app set, whose credentials have ids of its making.
        shared = shared_with(adapter)
        self._shared = shared is not None
        if context is None and shared is not None:
            context = shared.password_context()
        self.context = context or make_context()

    # -- new passwords -------------------------------------------------------

    def check_policy(self, password: str) -> None:
        """Raise ``PasswordPolicyError`` if ``password`` may not be set (length, breached)."""
        self.policy.check(password)
        if self.breached_check is not None and self.breached_check(password):
            raise PasswordPolicyError(
                "this password appears in a list of breached passwords; choose another",
                reason="breached",
            )

    @twin
    def hash(self, password: str) -> Steps[str]:
        """A hash of ``password`` in the context's default scheme (argon2id; on a store
        shared with Better Auth, its scrypt), without a policy check."""
        if not isinstance(password, str):
            raise ValidationError(f"password must be a string, got {type(password).__name__}")
        result: str = yield from offload(self.context.hash, password)
        return result

    @twin
    def set_password(self, user_id: str, password: str) -> Steps[None]:
        """Check the policy, hash and store ``password`` as the user's password.

        Raises ``PasswordPolicyError`` or ``NotFoundError`` (no such user).
        """
        validate_id(user_id, "user_id")
        self.check_policy(password)
        yield from self._put(user_id, (yield from self.hash.steps(password)))

    @twin
    def import_hash(self, user_id: str, hash_string: str) -> Steps[None]:
        """Store a hash made elsewhere: argon2 (any variant), bcrypt ``$2a$/$2b$/$2y$``
        or Better Auth's scrypt (``<salt hex>:<key hex>``).

        It verifies as it is and is replaced by a hash of the context's default
        scheme on the next successful ``verify_password``. Raises
        ``ValidationError`` for anything else.
        """
        validate_id(user_id, "user_id")
        if not isinstance(hash_string, str):
            raise ValidationError("hash must be a string")
        scheme = self.context.identify(hash_string)
        if scheme is None or (scheme == "bcrypt" and not hash_string.startswith(_BCRYPT_PREFIXES)):
            raise ValidationError(
                "not an argon2, bcrypt ($2a$, $2b$, $2y$) or Better Auth scrypt hash"
            )
        try:
            self.context.handler(scheme).from_string(hash_string)
        except (ValueError, TypeError):
            raise ValidationError(f"malformed {scheme} hash") from None
        yield from self._put(user_id, hash_string)

    def _put(self, user_id: str, hash_string: str) -> Steps[None]:
        current = (yield from self._credential(user_id)) if self._shared else None
        yield from change_slot(
            self.adapter,
            user_id=user_id,
            type=CREDENTIAL_TYPE,
            id=slot_id(CREDENTIAL_TYPE, user_id) if current is None else current.id,
            change=lambda _current: {"hash": hash_string},
        )

    # -- checks --------------------------------------------------------------

    @twin
    def has_password(self, user_id: str) -> Steps[bool]:
        """Whether the user has a password."""
        return (yield from self._credential(user_id)) is not None

    @twin
    def remove_password(self, user_id: str) -> Steps[bool]:
        """Delete the user's password; False if there was none."""
        if self._shared:
            current = yield from self._credential(user_id)
            if current is None:
                return False
            return (yield from self._store(Adapter.delete_credential, current.id)) is not None
        removed = yield from self._store(
            Adapter.delete_credential, slot_id(CREDENTIAL_TYPE, user_id)
        )
        return removed is not None

    @twin
    def verify_password(self, user_id: str, password: str) -> Steps[bool]:
        """Whether ``password`` is the user's password.

        A user without a password costs one dummy hash, like a wrong password.
        On success an outdated hash (bcrypt, other argon2 parameters) is
        replaced. Never raises for odd input: over-long passwords, bcrypt's
        72-byte limit and unreadable stored hashes are all just False. With a
        limiter, raises ``TooManyAttemptsError`` while the user is throttled.
        """
        validate_id(user_id, "user_id")
        if not isinstance(password, str):
            raise ValidationError(f"password must be a string, got {type(password).__name__}")
        if self.limiter is not None:
            yield from self.limiter.begin.steps(user_id, KIND)
        credential = yield from self._credential(user_id)
        stored = credential.data.get("hash") if credential is not None else None
        if credential is None or not isinstance(stored, str):
            yield from self.dummy_verify.steps()
            return False
        ok, new_hash = yield from offload(self._verify, user_id, password, stored)
        if not ok:
            return False
        if self.limiter is not None:
            yield from self.limiter.record_success.steps(user_id, KIND)
        if new_hash is not None:
            # Best effort: if the password changed meanwhile, that change wins.
            yield from self._store(
                Adapter.update_credential,
                credential.id,
                {"hash": new_hash},
                expected_version=credential.version,
            )
        return True

    @twin
    def verify_password_for_email(self, email: str, password: str) -> Steps[User | None]:
        """The user with this e-mail if ``password`` is theirs, else ``None``.

        An unknown e-mail takes as long as a wrong password for a known one.
        """
        try:
            user = yield from self._store(Adapter.get_user_by_email, email)
        except ValidationError:
            user = None
        if user is None:
            yield from self.dummy_verify.steps()
            return None
        return user if (yield from self.verify_password.steps(user.id, password)) else None

    @twin
    def change_password(self, user_id: str, old: str, new: str) -> Steps[bool]:
        """Replace the password if ``old`` is right; False (nothing changed) if it is not.

        ``new`` is checked against the policy first (``PasswordPolicyError``).
        """
        self.check_policy(new)
        if not (yield from self.verify_password.steps(user_id, old)):
            return False
        yield from self._put(user_id, (yield from self.hash.steps(new)))
        return True

    @twin
    def dummy_verify(self, password: str | None = None) -> Steps[None]:
        """Spend the time of one verification against a default hash (for misses).

        ``password`` is accepted so callers can pass what they got; it is not used.
        """
        yield from offload(self.context.dummy_verify)

    @twin
    def needs_rehash(self, user_id: str) -> Steps[bool]:
        """Whether the stored hash is outdated (bcrypt, or other argon2 parameters)."""
        credential = yield from self._credential(user_id)
        if credential is None:
            return False
        stored = credential.data.get("hash")
        try:
            return bool(self.context.needs_update(stored))
        except (ValueError, TypeError):
            return True

    def _credential(self, user_id: str) -> Steps[Credential | None]:
        validate_id(user_id, "user_id")
        found = yield from self._store(Adapter.get_credential, slot_id(CREDENTIAL_TYPE, user_id))
        if found is None and self._shared:
            # A password the other app set (Better Auth's sign-up) has an id of its making.
            listed = yield from self._store(Adapter.list_credentials, user_id, CREDENTIAL_TYPE)
            found = listed[0] if listed else None
        return found

    def _verify(self, user_id: str, password: str, stored: str) -> tuple[bool, str | None]:
        try:
            scheme = self.context.identify(stored)
        except (ValueError, TypeError):
            scheme = None
        if scheme is None:
            log.warning("stored password hash of user %s is not a known format", user_id)
            self.context.dummy_verify()
            return False, None
        if scheme == "bcrypt" and len(password.encode("utf-8")) > _BCRYPT_MAX_BYTES:
            # bcrypt would only see the first 72 bytes; a longer password is not that one.
            self.context.dummy_verify()
            return False, None
        if len(password) > self.policy.max_length:
            self.context.dummy_verify()
            return False, None
        try:
            result: tuple[bool, Any] = self.context.verify_and_update(password, stored)
        except (ValueError, TypeError):
            log.warning("stored password hash of user %s could not be checked", user_id)
            return False, None
        return bool(result[0]), result[1]


class PasswordService(PasswordServiceCore[Adapter]):
    """Passwords on a sync store (``auth_store.aio.PasswordService`` is the async twin)."""
