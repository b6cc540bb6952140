"""What a Better Auth app expects of the rows auth-store writes in its tables."""

from __future__ import annotations

from datetime import timedelta

from ..capabilities import AppConventions
from .passwords import password_context

__all__ = ["SESSION_EXPIRES_IN", "SESSION_UPDATE_AGE", "conventions"]

#: Better Auth's session lifetime (``session.expiresIn``, 7 days).
SESSION_EXPIRES_IN = timedelta(days=7)
#: How often Better Auth slides a session's expiry (``session.updateAge``, 1 day).
SESSION_UPDATE_AGE = timedelta(days=1)


def conventions() -> AppConventions:
    """Better Auth's defaults: plain session tokens, 7 days sliding daily, scrypt hashes."""
    return AppConventions(
        app="Better Auth",
        plain_session_tokens=True,
        session_max_age=SESSION_EXPIRES_IN,
        session_update_age=SESSION_UPDATE_AGE,
        password_context=password_context,
    )
