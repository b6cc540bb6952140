"""The sync twin of a FastAPI app's flow, for tests that set things up directly.

The FastAPI example runs ``auth_store.aio.AuthFlow``; a test that creates a
password or enrols TOTP before it drives the app does it through the sync
twin of the same flow (same signer, keyring and passkey settings) on the
same store.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

from auth_store.adapter import Adapter
from auth_store.flow import AuthFlow
from auth_store.mail import Mailer, MemoryMailer


def sync_twin_of(served: Any, store: Adapter, mailer: Mailer | None = None) -> AuthFlow:
    """A sync ``AuthFlow`` on ``store`` configured as ``served`` (an app's flow) is."""
    if isinstance(served, AuthFlow):
        return served
    flow = AuthFlow(
        store,
        signer=served.signer,
        mailer=mailer or MemoryMailer(),
        base_url=served.base_url,
        keyring=served.keyring,
        app_name=served.app_name,
        paths=served.paths,
    )
    if served.passkeys_available:
        flow.enable_passkeys(rp_id=served.passkeys.rp_id, origins=served.passkeys.origins)
    return flow


def warm_dummy_hash(served: Any) -> None:
    """Make ``served``'s hasher make its dummy hash now (libpass does it on first use)."""
    done = served.passwords.dummy_verify()
    if inspect.iscoroutine(done):
        asyncio.run(done)
