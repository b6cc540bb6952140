"""TOTP (RFC 6238) second factor with pyotp: encrypted secrets, single-use codes.

One credential of type ``totp`` per user holds::

    {"secret": <envelope>, "confirmed": bool, "last_step": int | None,
     "digits": 6, "period": 30, "algorithm": "SHA1", "started": <Unix time>}

The secret is encrypted with the ``FieldCipher`` (bound to
``credentials/<credential id>/secret``). An enrollment is pending until a
first valid code confirms it, or until it expires (``enrollment_max_age``,
1 hour, from ``started``): meanwhile ``pending_enrollment`` shows the same
secret again, so a person who scanned the QR code and mistyped a code
confirms with the next one. A code is accepted within one time step either
side of now, and each time step at most once: the last accepted step is
stored and advanced by compare-and-set, so of N concurrent submissions of one
code exactly one succeeds.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pyotp

from . import clock
from ._slots import change_slot, slot_id
from ._twins import Steps, StoreT, Twin, twin
from .adapter import Adapter
from .attempts import AttemptLimiterCore
from .crypto import FieldCipher
from .errors import ConflictError, StorageError, ValidationError
from .models import Credential
from .validation import check_text, validate_id

__all__ = [
    "ALGORITHMS",
    "CREDENTIAL_TYPE",
    "TOTPEnrollment",
    "TOTPService",
    "TOTPServiceCore",
    "hotp_code",
    "totp_code",
]

CREDENTIAL_TYPE = "totp"
KIND = "totp"  # the AttemptLimiter kind
ALGORITHMS: dict[str, Callable[..., Any]] = {
    "SHA1": hashlib.sha1,
    "SHA256": hashlib.sha256,
    "SHA512": hashlib.sha512,
}
_SECRET_FIELD = "secret"  # noqa: S105 - a field name, not a secret


def _check_params(digits: int, period: int, algorithm: str) -> None:
    if isinstance(digits, bool) or not isinstance(digits, int) or not 6 <= digits <= 10:
        raise ValidationError("TOTP digits must be an int from 6 to 10")
    if isinstance(period, bool) or not isinstance(period, int) or not 1 <= period <= 300:
        raise ValidationError("TOTP period must be an int from 1 to 300 seconds")
    if algorithm not in ALGORITHMS:
        raise ValidationError(f"TOTP algorithm must be one of {sorted(ALGORITHMS)}")


def _otp(secret: str, digits: int, algorithm: str) -> pyotp.HOTP:
    try:
        return pyotp.HOTP(secret, digits=digits, digest=ALGORITHMS[algorithm])
    except (ValueError, TypeError):
        raise ValidationError("TOTP secret must be base32 of at least 112 bits") from None


def hotp_code(secret: str, counter: int, *, digits: int = 6, algorithm: str = "SHA1") -> str:
    """The HOTP code (RFC 4226) of a base32 ``secret`` at ``counter``."""
    _check_params(digits, 30, algorithm)
    return str(_otp(secret, digits, algorithm).at(counter))


def _timestamp(at: datetime | float) -> float:
    return at.timestamp() if isinstance(at, datetime) else float(at)


def totp_code(
    secret: str,
    at: datetime | float,
    *,
    digits: int = 6,
    period: int = 30,
    algorithm: str = "SHA1",
) -> str:
    """The TOTP code (RFC 6238) of a base32 ``secret`` at an aware datetime or Unix time."""
    _check_params(digits, period, algorithm)
    return str(_otp(secret, digits, algorithm).at(int(_timestamp(at) // period)))


@dataclass(frozen=True)
class TOTPEnrollment:
    """A new enrollment: show ``provisioning_uri`` (as a QR code) or ``secret`` once.

    Both hold the secret and are left out of ``repr``.
    """

    secret: str = field(repr=False)
    provisioning_uri: str = field(repr=False)
    digits: int = 6
    period: int = 30
    algorithm: str = "SHA1"


class TOTPServiceCore(Twin[StoreT]):
    """Enroll, confirm, verify and disable TOTP for users of an ``Adapter``.

    ``window`` is how many time steps either side of now are accepted
    (default 1). With a ``limiter`` every ``confirm``/``verify`` counts
    against the user's ``totp`` attempt limit (``TooManyAttemptsError``).
    A pending enrollment expires ``enrollment_max_age`` after it started.
    """

    def __init__(
        self,
        adapter: StoreT,
        cipher: FieldCipher,
        *,
        limiter: AttemptLimiterCore[StoreT] | None = None,
        window: int = 1,
        enrollment_max_age: timedelta = timedelta(hours=1),
    ) -> None:
        if not isinstance(cipher, FieldCipher):
            raise ValidationError("TOTPService needs a FieldCipher")
        if not 0 <= window <= 10:
            raise ValidationError("window must be from 0 to 10 steps")
        if enrollment_max_age <= timedelta(0):
            raise ValidationError("enrollment_max_age must be positive")
        super().__init__(adapter)
        self.cipher = cipher
        self.limiter = limiter
        self.window = window
        self.enrollment_max_age = enrollment_max_age

    # -- enrollment ----------------------------------------------------------

    @twin
    def enroll(
        self,
        user_id: str,
        *,
        issuer: str,
        account_name: str,
        digits: int = 6,
        period: int = 30,
        algorithm: str = "SHA1",
    ) -> Steps[TOTPEnrollment]:
        """Start (or restart) an enrollment with a new 160-bit secret, pending until ``confirm``.

        Raises ``ConflictError`` if TOTP is already enabled (``disable`` it
        first) and ``NotFoundError`` if there is no such user.
        """
        check_text(issuer, "issuer")
        check_text(account_name, "account_name")
        secret = pyotp.random_base32(32)
        yield from self._put(user_id, secret, digits, period, algorithm, confirmed=False)
        return _enrollment(secret, issuer, account_name, digits, period, algorithm)

    @twin
    def pending_enrollment(
        self, user_id: str, *, issuer: str, account_name: str
    ) -> Steps[TOTPEnrollment | None]:
        """The enrollment waiting for its first code (the same secret), or ``None``.

        ``None`` when TOTP is on, was never started, or the pending enrollment
        expired. Reading it changes nothing.
        """
        check_text(issuer, "issuer")
        check_text(account_name, "account_name")
        credential = yield from self._store(Adapter.get_credential, self._id(user_id))
        if credential is None or not self._pending_and_fresh(credential):
            return None
        digits, period, algorithm = _params(credential.data)
        secret = self._secret(credential)
        return _enrollment(secret, issuer, account_name, digits, period, algorithm)

    @twin
    def import_secret(
        self,
        user_id: str,
        secret: str,
        *,
        digits: int = 6,
        period: int = 30,
        algorithm: str = "SHA1",
    ) -> Steps[None]:
        """Store an existing base32 secret (from another system) as enabled."""
        yield from self._put(
            user_id, secret, digits, period, algorithm, confirmed=True, replace=True
        )

    def _put(
        self,
        user_id: str,
        secret: str,
        digits: int,
        period: int,
        algorithm: str,
        *,
        confirmed: bool,
        replace: bool = False,
    ) -> Steps[None]:
        validate_id(user_id, "user_id")
        _check_params(digits, period, algorithm)
        if not isinstance(secret, str):
            raise ValidationError("TOTP secret must be a base32 string")
        secret = secret.replace(" ", "").upper()
        _otp(secret, digits, algorithm)  # validates the secret
        credential_id = self._id(user_id)
        envelope = self.cipher.encrypt(
            secret, collection="credentials", record_id=credential_id, field=_SECRET_FIELD
        )

        def put(current: Credential | None) -> dict[str, Any]:
            if current is not None and current.data.get("confirmed") and not replace:
                raise ConflictError("TOTP is already enabled for this user; disable it first")
            data: dict[str, Any] = {
                _SECRET_FIELD: envelope,
                "confirmed": confirmed,
                "last_step": None,
                "digits": digits,
                "period": period,
                "algorithm": algorithm,
            }
            if not confirmed:
                data["started"] = int(clock.now().timestamp())
            return data

        yield from change_slot(
            self.adapter, user_id=user_id, type=CREDENTIAL_TYPE, id=credential_id, change=put
        )

    # -- checks --------------------------------------------------------------

    @twin
    def confirm(self, user_id: str, code: str) -> Steps[bool]:
        """Finish a pending enrollment with a valid code; True turns TOTP on."""
        return (yield from self._check(user_id, code, confirmed=False))

    @twin
    def verify(self, user_id: str, code: str) -> Steps[bool]:
        """Whether ``code`` is valid now for an enabled user and its time step is unused.

        A success uses up the time step. False for users without TOTP enabled.
        """
        return (yield from self._check(user_id, code, confirmed=True))

    @twin
    def is_enabled(self, user_id: str) -> Steps[bool]:
        """Whether TOTP is on (enrolled and confirmed)."""
        credential = yield from self._store(Adapter.get_credential, self._id(user_id))
        return credential is not None and credential.data.get("confirmed") is True

    @twin
    def is_pending(self, user_id: str) -> Steps[bool]:
        """Whether an enrollment waits for its first code (and has not expired)."""
        credential = yield from self._store(Adapter.get_credential, self._id(user_id))
        return credential is not None and self._pending_and_fresh(credential)

    @twin
    def disable(self, user_id: str) -> Steps[bool]:
        """Turn TOTP off (or drop a pending enrollment); False if there was nothing."""
        return (yield from self._store(Adapter.delete_credential, self._id(user_id))) is not None

    # -- internals -----------------------------------------------------------

    @staticmethod
    def _id(user_id: str) -> str:
        validate_id(user_id, "user_id")
        return slot_id(CREDENTIAL_TYPE, user_id)

    def _check(self, user_id: str, code: str, *, confirmed: bool) -> Steps[bool]:
        credential_id = self._id(user_id)
        if not isinstance(code, str):
            raise ValidationError(f"code must be a string, got {type(code).__name__}")
        if self.limiter is not None:
            yield from self.limiter.begin.steps(user_id, KIND)
        code = "".join(code.split())
        accepted = False

        def use_step(current: Credential | None) -> dict[str, Any] | None:
            # Runs again after a lost race; if the winner used this step, it is taken now.
            nonlocal accepted
            accepted = False
            if current is None or current.data.get("confirmed") is not confirmed:
                return None
            if not confirmed and not self._pending_and_fresh(current):
                return None  # an expired enrollment: start again
            step = self._matching_step(current, code)
            if step is None:
                return None
            accepted = True
            return {**current.data, "confirmed": True, "last_step": step}

        yield from change_slot(
            self.adapter, user_id=user_id, type=CREDENTIAL_TYPE, id=credential_id, change=use_step
        )
        if accepted and self.limiter is not None:
            yield from self.limiter.record_success.steps(user_id, KIND)
        return accepted

    def _pending_and_fresh(self, credential: Credential) -> bool:
        data = credential.data
        started = data.get("started")
        if data.get("confirmed") is not False or not isinstance(started, int | float):
            return False  # on, or pending from before enrollments expired: start again
        age = clock.now().timestamp() - started
        return age < self.enrollment_max_age.total_seconds()

    def _secret(self, credential: Credential) -> str:
        envelope = credential.data.get(_SECRET_FIELD)
        if not isinstance(envelope, str):
            raise StorageError("stored TOTP secret is unreadable")
        return self.cipher.decrypt_str(
            envelope,
            collection="credentials",
            record_id=credential.id,
            field=_SECRET_FIELD,
        )

    def _matching_step(self, credential: Credential, code: str) -> int | None:
        data = credential.data
        digits, period, algorithm = _params(data)
        if len(code) != digits or not code.isascii() or not code.isdigit():
            return None
        secret = self._secret(credential)
        otp = _otp(secret, digits, algorithm)
        now_step = int(clock.now().timestamp() // period)
        last = data.get("last_step")
        last_step = last if isinstance(last, int) else -1
        found: int | None = None
        # Check every step of the window (no early exit) and keep the latest match.
        for step in range(now_step - self.window, now_step + self.window + 1):
            if step > last_step and step >= 0 and hmac.compare_digest(str(otp.at(step)), code):
                found = step
        return found


def _params(data: dict[str, Any]) -> tuple[int, int, str]:
    """The stored digits, period and algorithm (``StorageError`` when unreadable)."""
    digits, period, algorithm = data.get("digits"), data.get("period"), data.get("algorithm")
    if not isinstance(digits, int) or not isinstance(period, int):
        raise StorageError("stored TOTP parameters are unreadable")
    if not isinstance(algorithm, str) or algorithm not in ALGORITHMS:
        raise StorageError("stored TOTP parameters are unreadable")
    return digits, period, algorithm


def _enrollment(
    secret: str, issuer: str, account_name: str, digits: int, period: int, algorithm: str
) -> TOTPEnrollment:
    uri = pyotp.TOTP(
        secret,
        digits=digits,
        digest=ALGORITHMS[algorithm],
        name=account_name,
        issuer=issuer,
        interval=period,
    ).provisioning_uri()
    return TOTPEnrollment(
        secret=secret,
        provisioning_uri=str(uri),
        digits=digits,
        period=period,
        algorithm=algorithm,
    )


class TOTPService(TOTPServiceCore[Adapter]):
    """TOTP on a sync store (``auth_store.aio.TOTPService`` is the async twin)."""
