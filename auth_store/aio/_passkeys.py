"""The async twin of ``auth_store.passkeys.PasskeyService`` (needs the ``passkeys`` extra)."""

from __future__ import annotations

from ..async_adapter import AsyncAdapter
from ..passkeys import PasskeyServiceCore

__all__ = ["PasskeyService"]


class PasskeyService(PasskeyServiceCore[AsyncAdapter]):
    """Passkey ceremonies on an async store (the twin of ``auth_store.passkeys``')."""


PasskeyService.__module__ = "auth_store.aio"
