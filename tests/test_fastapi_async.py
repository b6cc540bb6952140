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
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio.to_thread
import httpx
import pytest
import uvicorn
from fastapi.routing import APIRoute

import auth_store
from auth_store.adapter import Adapter
from auth_store.adapters.postgres_async import AsyncPostgresAdapter
from auth_store.integrations.fastapi import current_user, optional_user
from auth_store.mail import MemoryMailer
from examples.fastapi_app import create_app
from tests.chromium import free_port
from tests.pg import postgres_url  # noqa: F401  (a fixture)

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
            for name in ("get_session_and_user", "create_session", "get_user_by_email"):
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
