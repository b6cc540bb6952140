"""The FastAPI example on the native async Postgres twin, over real HTTP: no thread pool.

The app is served by uvicorn on the loop that opened the store (as the
example's ``main`` does) and driven by an httpx client: sign up, verify,
sign in, ``/me``, the sessions page, sign out. Every store call runs on the
event loop's thread, and nothing is handed to the thread pool (FastAPI runs
a ``def`` endpoint or dependency there: ours are all ``async def``).
"""

from __future__ import annotations

import asyncio
import inspect
import re
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio.to_thread
import httpx
import pytest
import uvicorn
from fastapi.routing import APIRoute

import auth_store
from auth_store import aio, authjs, better_auth
from auth_store.adapter import Adapter
from auth_store.adapters.postgres_async import AsyncPostgresAdapter
from auth_store.integrations.fastapi import FrontendSessions, current_user, optional_user
from auth_store.mail import MemoryMailer
from auth_store.models import Session, User
from examples import nextjs_backend
from examples.fastapi_app import create_app
from tests.chromium import free_port
from tests.pg import fresh_postgres_url, postgres_url  # noqa: F401  (a fixture)

PASSWORD = "correct horse battery"


def test_the_dependencies_and_every_route_are_coroutines(tmp_path: Path) -> None:
    """FastAPI runs a plain ``def`` in its thread pool: none of ours is one."""
    assert inspect.iscoroutinefunction(current_user)
    assert inspect.iscoroutinefunction(optional_user)
    app = create_app(
        auth_store.connect("memory://"),
        base_url="http://localhost:8000",  # passkeys on: their routes too
        data_dir=tmp_path,
        mailer=MemoryMailer(),
    )
    assert app.state.auth_store.flow.passkeys_available
    routes = [r for r in app.routes if isinstance(r, APIRoute)]
    assert len(routes) > 30
    assert [r.path for r in routes if not inspect.iscoroutinefunction(r.endpoint)] == []


def test_no_store_call_leaves_the_event_loop_on_postgres(
    postgres_url: str,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    handed_to_threads: list[str] = []
    real_run_sync = anyio.to_thread.run_sync

    async def recording_run_sync(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        handed_to_threads.append(getattr(fn, "__qualname__", repr(fn)))
        return await real_run_sync(fn, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", recording_run_sync)
    store_threads: set[int] = set()
    mailer = MemoryMailer()

    async def main() -> int:
        async with await auth_store.connect_async(postgres_url) as store:
            assert isinstance(store, AsyncPostgresAdapter)  # the native twin, not threads
            # Lookups make their plan where they run (on the loop, off the bridge, or
            # in the sync backend's read); writes run the sync method on the bridge.
            for name in ("_plan_get_session_and_user", "_plan_get_user_by_email", "_read"):
                method = getattr(store.sync, name)
                monkeypatch.setattr(store.sync, name, _on_thread(method, store_threads))
            for name in ("create_session",):
                method = getattr(store.sync, name)
                monkeypatch.setattr(store.sync, name, _on_thread(method, store_threads))
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            app = create_app(store, base_url=base, data_dir=tmp_path, mailer=mailer)
            server = uvicorn.Server(
                uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
            )
            serving = asyncio.create_task(server.serve())
            while not server.started:
                await asyncio.sleep(0.01)
            try:
                async with httpx.AsyncClient(base_url=base) as client:
                    await _tour(client, mailer)
            finally:
                server.should_exit = True
                await serving
        return threading.get_ident()

    loop_thread = asyncio.run(main())
    assert handed_to_threads == []
    assert store_threads == {loop_thread}


def _on_thread(method: Callable[..., Any], seen: set[int]) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        seen.add(threading.get_ident())
        return method(*args, **kwargs)

    return call


async def _tour(client: httpx.AsyncClient, mailer: MemoryMailer) -> None:
    api = "/api/auth"
    signed_up = await client.post(
        f"{api}/sign-up", json={"email": "ann@example.com", "password": PASSWORD}
    )
    assert signed_up.status_code == 200, signed_up.text
    link = re.search(r"https?://\S+", mailer.last("ann@example.com").text)
    assert link is not None
    query = {k: v[0] for k, v in parse_qs(urlsplit(link.group(0)).query).items()}
    verified = await client.post(f"{api}/verify-email", json=query)
    assert verified.json()["status"] == "signed_in"
    signed_in = await client.post(
        f"{api}/sign-in", json={"email": "ann@example.com", "password": PASSWORD}
    )
    assert signed_in.json()["status"] == "signed_in"
    me = await client.get(f"{api}/me")
    assert me.json()["email"] == "ann@example.com"
    sessions = await client.get(f"{api}/sessions")
    assert [s["current"] for s in sessions.json()] == [True]
    page = await client.get("/account")
    assert page.status_code == 200
    assert "ann@example.com" in page.text
    out = await client.post(f"{api}/sign-out", json={})
    assert out.status_code == 200
    assert (await client.get(f"{api}/me")).status_code == 401


def test_the_twin_types_check(tmp_path: Path) -> None:
    """A sync store given to the example runs on the threaded twin (SQLite, tests)."""
    from auth_store.async_twin import ThreadedAsyncAdapter

    app = create_app(
        auth_store.connect(f"sqlite:///{tmp_path}/a.db"), data_dir=tmp_path, mailer=MemoryMailer()
    )
    flow = app.state.auth_store.flow
    assert isinstance(flow.adapter, ThreadedAsyncAdapter)
    assert isinstance(flow.adapter.sync, Adapter)


# -- a Next.js front end's sessions (examples/nextjs_backend.py) ------------------------

AUTHJS_SECRET = "secret-of-the-next-js-app-0123456789abcdef"
BETTER_AUTH_SECRET = "secret-of-the-better-auth-app-0123456789abcdef"
PLAIN = "authjs.session-token"


def test_the_front_end_session_dependencies_are_coroutines() -> None:
    sessions = FrontendSessions(aio.authjs_resolver(secret=AUTHJS_SECRET))
    for dependency in (
        sessions.optional_session,
        sessions.current_session,
        sessions.optional_user,
        sessions.current_user,
    ):
        assert inspect.iscoroutinefunction(dependency)


@asynccontextmanager
async def _serving(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            yield client
    finally:
        server.should_exit = True
        await serving


def test_front_end_sessions_never_leave_the_event_loop_on_postgres(
    postgres_url: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Auth.js's JWT and database sessions, and Better Auth's signed cookie, over real HTTP."""
    handed_to_threads: list[str] = []
    real_run_sync = anyio.to_thread.run_sync

    async def recording_run_sync(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        handed_to_threads.append(getattr(fn, "__qualname__", repr(fn)))
        return await real_run_sync(fn, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", recording_run_sync)
    store_threads: set[int] = set()
    answers: dict[str, Any] = {}

    def watch(store: AsyncPostgresAdapter) -> None:
        for name in ("_plan_get_session_and_user", "_plan_get_user", "_read"):
            method = getattr(store.sync, name)
            monkeypatch.setattr(store.sync, name, _on_thread(method, store_threads))

    async def session(store: auth_store.AsyncAdapter, user: User, token: str, days: int) -> str:
        expires = auth_store.clock.now() + timedelta(days=days)
        assert user.id is not None
        await store.create_session(Session(session_token=token, user_id=user.id, expires=expires))
        return token

    async def authjs_front_end() -> None:
        async with await auth_store.connect_async(postgres_url) as store:
            assert isinstance(store, AsyncPostgresAdapter)  # the native twin, not threads
            ann = await store.create_user(User(email="ann@example.com", name="Ann"))
            live = await session(store, ann, "0f3c6c1e-6d1b-4bd5-9d43-1f1e2a1b9c01", 30)
            old = await session(store, ann, "0f3c6c1e-6d1b-4bd5-9d43-1f1e2a1b9c02", -1)
            watch(store)
            jwt = authjs.encode({"sub": ann.id}, secret=AUTHJS_SECRET, salt=PLAIN)
            app = nextjs_backend.create_app(store, secret=AUTHJS_SECRET)
            async with _serving(app) as client:
                for name, headers in {
                    "jwt cookie": {"Cookie": f"{PLAIN}={jwt}"},
                    "jwt bearer": {"Authorization": f"Bearer {jwt}"},
                    "db cookie": {"Cookie": f"{PLAIN}={live}"},
                    "db bearer": {"Authorization": f"Bearer {live}"},
                    "db expired": {"Cookie": f"{PLAIN}={old}"},
                    "garbage": {"Cookie": f"{PLAIN}=a.b.c.d.e"},
                    "nothing": {},
                }.items():
                    found = await client.get("/api/session", headers=headers)
                    me = await client.get("/api/me", headers=headers)
                    answers[name] = (found.status_code, found.json(), me.status_code)
                    if me.status_code == 200:
                        assert me.json()["email"] == "ann@example.com"

    async def better_auth_front_end(url: str) -> None:
        async with await auth_store.connect_async(url) as store:
            assert isinstance(store, AsyncPostgresAdapter)
            bea = await store.create_user(User(email="bea@example.com", name="Bea"))
            token = await session(store, bea, "a" * 32, 7)
            watch(store)
            signed = better_auth.sign_cookie(token, BETTER_AUTH_SECRET)
            forged = better_auth.sign_cookie(token, "another secret of 32 characters or more")
            app = nextjs_backend.create_app(
                store, secret=BETTER_AUTH_SECRET, frontend="better-auth"
            )
            cookie = "better-auth.session_token"
            async with _serving(app) as client:
                for name, headers in {
                    "ba cookie": {"Cookie": f"{cookie}={better_auth.encode_cookie_value(signed)}"},
                    "ba bearer": {"Authorization": f"Bearer {signed}"},
                    "ba forged": {"Cookie": f"{cookie}={forged}"},
                }.items():
                    found = await client.get("/api/session", headers=headers)
                    me = await client.get("/api/me", headers=headers)
                    answers[name] = (found.status_code, found.json(), me.status_code)

    async def main() -> int:
        await authjs_front_end()
        with fresh_postgres_url(flavor="better-auth") as url:
            await better_auth_front_end(url)
        return threading.get_ident()

    loop_thread = asyncio.run(main())
    assert handed_to_threads == []
    assert store_threads == {loop_thread}

    def how(name: str) -> tuple[int, str, str, str | None, int]:
        status, body, me_status = answers[name]
        return status, body.get("strategy"), body.get("transport"), body.get("email"), me_status

    assert how("jwt cookie") == (200, "authjs-jwt", "cookie", "ann@example.com", 200)
    assert how("jwt bearer") == (200, "authjs-jwt", "bearer", "ann@example.com", 200)
    assert how("db cookie") == (200, "authjs-database", "cookie", "ann@example.com", 200)
    assert how("db bearer") == (200, "authjs-database", "bearer", "ann@example.com", 200)
    assert how("ba cookie") == (200, "better-auth", "cookie", "bea@example.com", 200)
    assert how("ba bearer") == (200, "better-auth", "bearer", "bea@example.com", 200)
    for refused in ("db expired", "garbage", "nothing", "ba forged"):
        assert answers[refused][0] == answers[refused][2] == 401, refused
