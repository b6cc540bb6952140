"""A FastAPI API behind a Next.js app that signs people in with Auth.js or Better Auth.

The Next.js app (its ``auth.ts`` is in docs/nextjs.md, or docs/better-auth.md)
and this API share the app's secret and, optionally (Auth.js) or necessarily
(Better Auth), a database. The browser sends the app's session cookie with
each request to this API (proxied by the Next.js app, or on the same site),
or the Next.js server calls it with ``Authorization: Bearer <token>``; this
API reads the session either way::

    AUTH_SECRET=... python examples/nextjs_backend.py        # Auth.js, the token alone
    AUTH_SECRET=... AUTH_STORE_URL=postgresql://.../app python examples/nextjs_backend.py
    FRONTEND=better-auth BETTER_AUTH_SECRET=... \
        AUTH_STORE_URL='postgresql://.../app?flavor=better-auth' python examples/nextjs_backend.py

With ``AUTH_STORE_URL`` (the database the Next.js app's adapter writes), the
user behind an Auth.js JWT is looked up by its ``sub`` on every request, so a
deleted or disabled user is refused at once, and database sessions work too.
``NEXTAUTH_V4=1`` reads a next-auth 4 app's cookies instead. With
``FRONTEND=better-auth`` the signed ``better-auth.session_token`` cookie (or
bearer token) is read, and looked up in the store, which keeps Better Auth's
tables (``?flavor=better-auth``).

The API runs on the async twin of the store (``auth_store.aio``'s resolvers,
native on Postgres): no store call leaves the event loop.

Endpoints: ``GET /api/session`` (who, until when, how), ``GET /api/me`` (the
user's record; with a store), ``GET /api/health``. ``PORT`` (default 8001).
"""

# No ``from __future__ import annotations``: the endpoints' dependencies are made
# per app, inside create_app, and FastAPI must see the annotations as objects.

import asyncio
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
from auth_store import aio
from auth_store.async_twin import ThreadedAsyncAdapter
from auth_store.integrations.fastapi import FrontendSessions
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
    store: auth_store.AsyncAdapter | auth_store.Adapter | None = None,
    *,
    secret: str | Sequence[str] | None = None,
    v4: bool = False,
    frontend: str = "authjs",
) -> FastAPI:
    """The API for a front end on ``frontend`` (``authjs`` or ``better-auth``).

    ``secret`` defaults to the environment, read as the front end reads it
    (Auth.js: ``AUTH_SECRET``, ``AUTH_SECRET_1``...; Better Auth:
    ``BETTER_AUTH_SECRET``). Better Auth needs the ``store`` it shares: an
    async one (``await auth_store.connect_async(url)``), or a sync one, which
    then runs on worker threads (``ThreadedAsyncAdapter``).
    """
    if isinstance(store, auth_store.Adapter):
        store = ThreadedAsyncAdapter(store)
    resolver: aio.SessionResolver
    if frontend == "better-auth":
        if store is None:
            raise SystemExit("FRONTEND=better-auth needs AUTH_STORE_URL (with ?flavor=better-auth)")
        resolver = aio.better_auth_resolver(store=store, secret=secret)
    else:
        resolver = aio.authjs_resolver(store=store, secret=secret, v4=v4)
    sessions = FrontendSessions(resolver)
    current_session = Annotated[ResolvedSession, Depends(sessions.current_session)]
    app = FastAPI(title="Next.js backend", description=f"A Python API on {frontend} sessions")

    @app.get("/api/health")
    async def health() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/api/session")
    async def session(found: current_session) -> SessionOut:
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
        async def me(user: Annotated[User, Depends(sessions.current_user)]) -> UserOut:
            return UserOut(id=user.id or "", email=user.email, name=user.name, image=user.image)

    return app


def main() -> None:
    """Serve the API on 127.0.0.1:$PORT."""
    import uvicorn

    frontend = os.environ.get("FRONTEND", "authjs")
    v4 = os.environ.get("NEXTAUTH_V4") == "1"
    port = int(os.environ.get("PORT", "8001"))

    async def serve(store: auth_store.AsyncAdapter | None) -> None:
        app = create_app(store, v4=v4, frontend=frontend)
        print(f"Next.js backend on http://127.0.0.1:{port}/api/session", flush=True)
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        await uvicorn.Server(config).serve()

    async def run() -> None:
        # The store is opened on the loop that serves the app (a Postgres pool lives there).
        if not os.environ.get("AUTH_STORE_URL"):
            await serve(None)
            return
        async with await auth_store.connect_async() as store:
            await serve(store)

    asyncio.run(run())


if __name__ == "__main__":
    main()
