"""Re-authentication proofs: "this user just proved a factor again".

Security changes ask for a fresh proof, not just a session: a password
change asks for the current password, turning TOTP off for a code, deleting
a passkey for either of those or another passkey. A session stolen from an
unlocked laptop then can't lock the owner out.

A proof is a short-lived value signed with the app's ``Signer`` (purpose
``reauthenticated``, 5 minutes by default) naming the user, how they proved
it, and optionally the session it was made in. The check that earns it is
the same one the sign-in flow runs, counting against the same attempt limits:
``ReauthProofs.with_password`` uses ``PasswordService.verify_password`` as
``AuthFlow.change_password`` does; ``PasskeyService.reauthenticate`` verifies
a passkey assertion. Give the proof to the change (``PasskeyService.delete``),
which calls ``check``.
"""

from __future__ import annotations

import hmac
from datetime import timedelta
from typing import Any

from ._twins import Steps, run_sync
from .errors import AuthStoreError, ErrorCode, ValidationError
from .models import User
from .passwords import PasswordService, PasswordServiceCore
from .signing import InvalidSignatureError, Signer

__all__ = ["DEFAULT_MAX_AGE", "PURPOSE", "ReauthProofs", "ReauthenticationRequiredError"]

PURPOSE = "reauthenticated"
DEFAULT_MAX_AGE = timedelta(minutes=5)
_METHODS = frozenset({"password", "passkey", "totp", "backup_code"})


class ReauthenticationRequiredError(AuthStoreError):
    """The change needs a fresh proof of identity (none given, stale, or someone else's)."""

    code = ErrorCode.REAUTHENTICATION_REQUIRED

    def __init__(self, message: str = "Confirm it's you to make this change.") -> None:
        super().__init__(message)


class ReauthProofs:
    """Issues and checks re-authentication proofs, valid ``max_age`` (5 minutes)."""

    def __init__(self, signer: Signer, *, max_age: timedelta = DEFAULT_MAX_AGE) -> None:
        if not isinstance(max_age, timedelta) or max_age <= timedelta(0):
            raise ValidationError("max_age must be a positive timedelta")
        self.signer = signer
        self.max_age = max_age

    def __repr__(self) -> str:
        return f"ReauthProofs(max_age={self.max_age})"

    def issue(self, user: User, method: str, *, session_id: str | None = None) -> str:
        """A proof that ``user`` passed a ``method`` check just now.

        Call it only right after the check passed. ``method`` is one of
        ``password``, ``passkey``, ``totp``, ``backup_code``. With
        ``session_id`` the proof is good only in that session.
        """
        if method not in _METHODS:
            raise ValidationError(f"method must be one of {sorted(_METHODS)}")
        payload = {"u": user.id, "m": method, "s": session_id}
        return self.signer.dumps(payload, purpose=PURPOSE)

    def check(self, user: User, proof: str | None, *, session_id: str | None = None) -> str:
        """The method ``proof`` names, if it is ``user``'s, fresh, and of this session.

        Raises ``ReauthenticationRequiredError`` otherwise. A proof issued
        with a session id must be checked with the same one.
        """
        if not isinstance(proof, str) or not proof or len(proof) > 1024:
            raise ReauthenticationRequiredError()
        try:
            data = self.signer.loads(proof, purpose=PURPOSE, max_age=self.max_age)
        except InvalidSignatureError:
            raise ReauthenticationRequiredError() from None
        if not isinstance(data, dict):
            raise ReauthenticationRequiredError()
        owner, method, bound = data.get("u"), data.get("m"), data.get("s")
        if not isinstance(owner, str) or not hmac.compare_digest(owner, user.id):
            raise ReauthenticationRequiredError()
        if bound is not None and (
            not isinstance(bound, str)
            or session_id is None
            or not hmac.compare_digest(bound, session_id)
        ):
            raise ReauthenticationRequiredError()
        if method not in _METHODS:
            raise ReauthenticationRequiredError()
        return str(method)

    def with_password(
        self,
        passwords: PasswordService,
        user: User,
        password: str,
        *,
        session_id: str | None = None,
    ) -> str:
        """Check ``user``'s current password and return a proof.

        ``ReauthenticationRequiredError`` for a wrong password (or a user
        without one); a throttled account raises ``TooManyAttemptsError``, as
        for a password change.
        """
        return run_sync(self.password_steps(passwords, user, password, session_id=session_id))

    def password_steps(
        self,
        passwords: PasswordServiceCore[Any],
        user: User,
        password: str,
        *,
        session_id: str | None = None,
    ) -> Steps[str]:
        """``with_password`` as steps, for either twin of the password service."""
        if not isinstance(password, str) or not (
            yield from passwords.verify_password.steps(user.id, password)
        ):
            raise ReauthenticationRequiredError("That password is not right.")
        return self.issue(user, "password", session_id=session_id)
