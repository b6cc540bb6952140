"""Account state kept on the user record: disabled users.

A disabled user has ``User.extra["disabled"]`` set (``true``; any truthy
value counts, so an odd value fails closed) and ``"disabled_at"``, an ISO
8601 UTC time. ``auth-store users disable`` sets both and revokes the user's
sessions; ``enable`` removes both. The rule lives here, once: the sign-in flow
(``auth_store.flow``), the session layer (``auth_store.sessions``) and the CLI
all call ``is_disabled``.
"""

from __future__ import annotations

from typing import Any

from . import clock
from .models import User

__all__ = ["DISABLED", "DISABLED_AT", "disabled_extra", "enabled_extra", "is_disabled"]

DISABLED = "disabled"
DISABLED_AT = "disabled_at"


def is_disabled(user: User) -> bool:
    """Whether ``user`` may not sign in, and its sessions do not authenticate."""
    return bool(user.extra.get(DISABLED))


def disabled_extra(user: User) -> dict[str, Any]:
    """``user.extra`` with the user marked disabled as of now (pass to ``update_user``)."""
    return {**user.extra, DISABLED: True, DISABLED_AT: clock.now().isoformat()}


def enabled_extra(user: User) -> dict[str, Any]:
    """``user.extra`` without the disabled marks (pass to ``update_user``)."""
    return {k: v for k, v in user.extra.items() if k not in {DISABLED, DISABLED_AT}}
