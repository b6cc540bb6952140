"""A FastAPI API behind a Next.js app that signs people in with Auth.js.

The Next.js app (its ``auth.ts`` is in docs/nextjs.md) and this API share
``AUTH_SECRET`` and, optionally, a database. The browser sends the Auth.js
session cookie with each request to this API (proxied by the Next.js app, or
on the same site), or the Next.js server calls it with
``Authorization: Bearer <token>``; this API reads the session either way::

    AUTH_SECRET=... python examples/nextjs_backend.py        # the token alone
    AUTH_SECRET=... AUTH_STORE_URL=postgresql://.../app python examples/nextjs_backend.py

With ``AUTH_STORE_URL`` (the database the Next.js app's adapter writes), the
user behind a JWT is looked up by its ``sub`` on every request, so a deleted
or disabled user is refused at once, and database sessions work too.
``NEXTAUTH_V4=1`` reads a next-auth 4 app's cookies instead.

Endpoints: ``GET /api/session`` (who, until when, how), ``GET /api/me`` (the
user's record; with a store), ``GET /api/health``. ``PORT`` (default 8001).
"""

# No ``from __future__ import annotations``: the endpoints' dependencies are made
# per app, inside create_app, and FastAPI must see the annotations as objects.

import os
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

if __package__ in (None, ""):  # run as a script: make ``examples`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fastapi import Depends, FastAPI
from pydantic import BaseModel

import auth_store
from auth_store.authjs import authjs_resolver
from auth_store.integrations.fastapi_authjs import AuthJsDependencies
from auth_store.models import User
from auth_store.session_resolver import ResolvedSession


class SessionOut(BaseModel):
    """The session of the request: whose it is, until when, and how it came."""

    user_id: str
    name: str | None
    email: str | None
    expires: datetime
    strategy: str
    transport: str


class UserOut(BaseModel):
    """The signed-in user's record in the shared store."""

    id: str
    email: str
    name: str | None
    image: str | None


def _claim(claims: Any, name: str) -> str | None:
    value = claims.get(name)
    return value if isinstance(value, str) else None


def create_app(
    store: auth_store.Adapter | None = None,
    *,
    secret: str | Sequence[str] | None = None,
    v4: bool = False,
) -> FastAPI:
    """The API; ``secret`` defaults to the environment (``AUTH_SECRET``, ``AUTH_SECRET_1``...)."""
    sessions = AuthJsDependencies(authjs_resolver(store=store, secret=secret, v4=v4))
    current_session = Annotated[ResolvedSession, Depends(sessions.current_session)]
    app = FastAPI(title="Next.js backend", description="A Python API on Auth.js sessions")

    @app.get("/api/health")
    def health() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/api/session")
    def session(found: current_session) -> SessionOut:
        user = found.user
        return SessionOut(
            user_id=found.user_id,
            name=user.name if user else _claim(found.claims, "name"),
            email=user.email if user else _claim(found.claims, "email"),
            expires=found.expires,
            strategy=found.strategy,
            transport=found.transport,
        )

    if store is not None:

        @app.get("/api/me")
        def me(user: Annotated[User, Depends(sessions.current_user)]) -> UserOut:
            return UserOut(id=user.id or "", email=user.email, name=user.name, image=user.image)

    return app


def main() -> None:
    """Serve the API on 127.0.0.1:$PORT."""
    import uvicorn

    store = auth_store.connect() if os.environ.get("AUTH_STORE_URL") else None
    app = create_app(store, v4=os.environ.get("NEXTAUTH_V4") == "1")
    port = int(os.environ.get("PORT", "8001"))
    print(f"Next.js backend on http://127.0.0.1:{port}/api/session", flush=True)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main()
