"""``FastAPIAuth``: ``RequestAuth`` and the JSON router built on it."""

from __future__ import annotations

from fastapi import APIRouter

from ._auth import RequestAuth
from ._routes import build_router

__all__ = ["FastAPIAuth"]


class FastAPIAuth(RequestAuth):
    """The FastAPI side of an ``AuthFlow``: cookies, dependencies, the JSON router."""

    def router(self) -> APIRouter:
        """The JSON API of the flow, sessions, TOTP, backup codes, API keys (and OAuth)."""
        return build_router(self)
