"""The async twin of ``auth_store.oauth.OAuthService`` (needs the ``oauth`` extra)."""

from __future__ import annotations

from ..async_adapter import AsyncAdapter
from ..oauth import OAuthServiceCore

__all__ = ["OAuthService"]


class OAuthService(OAuthServiceCore[AsyncAdapter]):
    """OAuth sign-in on an ``auth_store.aio.AuthFlow``, through authlib's httpx async client."""


OAuthService.__module__ = "auth_store.aio"
