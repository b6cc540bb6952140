"""Better Auth's verification values: password-reset links either side can issue.

Better Auth keeps a password-reset token as a ``verification`` row whose
``identifier`` is ``reset-password:<token>`` and whose ``value`` is the user
id; with ``verification.storeIdentifier: "hashed"`` the identifier is the
unpadded base64url SHA-256 of that text instead. In the ``better-auth``
flavor a ``VerificationToken`` is such a row with the identifier as its
``token`` and the value as its ``identifier``, so a reset issued here is
consumed by the app's ``resetPassword`` (and one the app issued can be
consumed here with ``use_verification_token(user_id, reset_identifier(token))``).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import string
from datetime import timedelta

from .. import clock
from ..adapter import Adapter
from ..models import VerificationToken
from ..validation import validate_id

__all__ = ["RESET_PASSWORD", "RESET_PASSWORD_MAX_AGE", "issue_password_reset", "reset_identifier"]

#: The prefix of Better Auth's password-reset identifiers.
RESET_PASSWORD = "reset-password"  # noqa: S105 - a purpose name
#: Better Auth's default lifetime of a reset token (``resetPasswordTokenExpiresIn``).
RESET_PASSWORD_MAX_AGE = timedelta(hours=1)
_ALPHABET = string.ascii_letters + string.digits


def reset_identifier(token: str, *, hashed: bool = False) -> str:
    """The ``verification.identifier`` of a reset token (``hashed``: the app's storeIdentifier)."""
    identifier = f"{RESET_PASSWORD}:{token}"
    if not hashed:
        return identifier
    digest = hashlib.sha256(identifier.encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def issue_password_reset(
    store: Adapter,
    user_id: str,
    *,
    hashed: bool = False,
    max_age: timedelta = RESET_PASSWORD_MAX_AGE,
) -> str:
    """Store a reset token for ``user_id`` that the Better Auth app accepts; return the token.

    Send the user the app's reset link with it
    (``{baseURL}/reset-password?token=<token>``, or the page your app's
    ``redirectTo`` names). ``hashed`` must match the app's
    ``verification.storeIdentifier``. The token is 24 characters of
    ``[A-Za-z0-9]`` (about 143 bits), as Better Auth makes them.
    """
    validate_id(user_id, "user_id")
    token = "".join(secrets.choice(_ALPHABET) for _ in range(24))
    store.create_verification_token(
        VerificationToken(
            identifier=user_id,
            token=reset_identifier(token, hashed=hashed),
            expires=clock.now() + max_age,
        )
    )
    return token
