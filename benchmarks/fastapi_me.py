"""End to end: an authenticated ``GET /me`` through uvicorn (one worker), driven by ``wrk``.

Four servers on one Postgres database, each answering ``/me`` for a signed-in
user with that user's id and e-mail:

``auth-store async``
    ``auth_store.integrations.fastapi.current_user`` over ``auth_store.aio``
    on the native async Postgres twin (the session cookie is checked, the
    session read in one join, its expiry and last-seen handled).
``raw psycopg async``
    the ceiling: the same join, hand-written, on a psycopg
    ``AsyncConnectionPool`` of the same size, prepared; no signature, no
    sliding expiry.
``auth-store sync (thread pool)``
    the sync twin behind ``def`` dependencies, which FastAPI runs in its
    thread pool.
``fastapi-users``
    fastapi-users' ``DatabaseStrategy`` (access tokens in its SQLAlchemy
    table, on SQLAlchemy's async psycopg driver), with a ``lower(email)``
    index and the token's primary key: every index it can use.

Each server runs in its own process; ``wrk`` (Debian's, ``make bench``
installs it) opens 64 connections for ``--seconds`` (30) per run, ``--runs``
(3) runs per server, interleaved, after a warm-up. Reported: the median and
spread (min-max) of requests/s and of p99 latency, the load average during
the runs, and the ratios. ``python -m benchmarks.fastapi_me``; results go to
``build/benchmarks/fastapi_me.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request

from auth_store.integrations.fastapi import CurrentUser
from auth_store.models import User

from . import machine

KINDS = ("auth-store async", "raw psycopg async", "auth-store sync (thread pool)", "fastapi-users")
_SLUG = {
    "auth-store async": "async",
    "raw psycopg async": "raw",
    "auth-store sync (thread pool)": "sync",
    "fastapi-users": "fastapi-users",
}
SECRET = "benchmark-secret-" + "x" * 32
DATABASE = "auth_store_bench_fastapi_me"
POOL = 10  # auth-store's default pool_max; the raw ceiling gets the same
EMAIL = "ann@example.com"
OUT = Path("build/benchmarks/fastapi_me.json")


def _admin_url() -> str:
    return os.environ.get(
        "AUTH_STORE_BENCH_POSTGRES_URL",
        os.environ.get("AUTH_STORE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    )


def _database_url() -> str:
    base = _admin_url().split("?", 1)[0]
    return base.rsplit("/", 1)[0] + "/" + DATABASE


# -- the data ------------------------------------------------------------------------


def prepare() -> dict[str, str]:
    """A fresh database: one user with an auth-store session and a fastapi-users token."""
    import psycopg

    import auth_store
    from auth_store.models import User
    from auth_store.sessions import SessionManager
    from auth_store.signing import Signer

    with psycopg.connect(_admin_url().split("?", 1)[0], autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {DATABASE}")
    url = _database_url()
    with auth_store.connect(url) as store:
        user = store.create_user(User(email=EMAIL, email_verified=datetime.now(UTC)))
        issued = SessionManager(store).create(user)
    cookie = Signer([SECRET]).sign(issued.token, purpose="session-cookie")
    fu_token = _prepare_fastapi_users(url, user.id)
    return {"url": url, "token": issued.token, "cookie": cookie, "fu_token": fu_token}


def _prepare_fastapi_users(url: str, user_id: str) -> str:
    from sqlalchemy import create_engine, insert, text

    tables = _fastapi_users_tables()
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    token = secrets.token_urlsafe(32)  # what fastapi-users makes: 43 characters
    with engine.begin() as connection:
        tables["Base"].metadata.create_all(connection)
        # fastapi-users looks e-mails up case-insensitively: give it that index.
        connection.execute(text('CREATE INDEX fu_user_lower_email ON "user" (lower(email))'))
        connection.execute(
            insert(tables["User"]),
            [
                {
                    "id": uuid.UUID(user_id),
                    "email": EMAIL,
                    "hashed_password": "x",
                    "is_active": True,
                    "is_superuser": False,
                    "is_verified": True,
                }
            ],
        )
        connection.execute(
            insert(tables["AccessToken"]),
            [{"token": token, "user_id": uuid.UUID(user_id), "created_at": datetime.now(UTC)}],
        )
    engine.dispose()
    return token


def _fastapi_users_tables() -> dict[str, Any]:
    from fastapi_users_db_sqlalchemy import SQLAlchemyBaseUserTableUUID
    from fastapi_users_db_sqlalchemy.access_token import SQLAlchemyBaseAccessTokenTableUUID
    from sqlalchemy.orm import DeclarativeBase

    class Base(DeclarativeBase):
        pass

    class User(SQLAlchemyBaseUserTableUUID, Base):
        pass

    class AccessToken(SQLAlchemyBaseAccessTokenTableUUID, Base):
        pass

    return {"Base": Base, "User": User, "AccessToken": AccessToken}


# -- the servers ---------------------------------------------------------------------


def _async_app(store: Any) -> Any:
    import auth_store.aio as aio
    from auth_store.integrations.fastapi import FastAPIAuth
    from auth_store.mail import MemoryMailer
    from auth_store.signing import Signer

    flow = aio.AuthFlow(store, signer=Signer([SECRET]), mailer=MemoryMailer(), base_url="http://x")
    app = FastAPI()
    FastAPIAuth(flow).init_app(app)

    @app.get("/me")
    async def me(user: CurrentUser) -> dict[str, str]:
        return {"id": user.id, "email": user.email}

    return app


def _raw_app(pool: Any) -> Any:
    query = (
        'SELECT u.id, u.email, s.expires FROM sessions s JOIN users u ON u.id = s."userId" '
        'WHERE s."sessionToken" = %s'
    )
    app = FastAPI()

    @app.get("/me")
    async def me(request: Request) -> dict[str, str]:
        token = request.cookies.get("raw_session")
        if not token:
            raise HTTPException(401)
        digest = hashlib.sha256(token.encode()).hexdigest()
        async with pool.connection() as conn:
            cursor = await conn.execute(query, (digest,), prepare=True)
            row = await cursor.fetchone()
        if row is None or row[2] <= datetime.now(UTC):
            raise HTTPException(401)
        return {"id": str(row[0]), "email": row[1]}

    return app


def _sync_app(url: str) -> Any:
    import auth_store
    from auth_store.integrations.common import WebAuth
    from auth_store.mail import MemoryMailer
    from auth_store.signing import Signer

    store = auth_store.connect(url)
    flow = auth_store.flow.AuthFlow(
        store, signer=Signer([SECRET]), mailer=MemoryMailer(), base_url="http://x"
    )
    web = WebAuth(flow)
    app = FastAPI()

    def current(request: Request) -> User:  # a plain def: FastAPI runs it in its thread pool
        _, active = web.load_session(request.cookies.get("auth_store_session"))
        if active is None:
            raise HTTPException(401)
        return active.user

    @app.get("/me")
    def me(user: User = Depends(current)) -> dict[str, str]:  # noqa: B008
        return {"id": user.id, "email": user.email}

    return app


def _fastapi_users_app(url: str) -> Any:
    from fastapi_users import FastAPIUsers, UUIDIDMixin
    from fastapi_users.authentication import AuthenticationBackend, BearerTransport
    from fastapi_users.authentication.strategy.db import DatabaseStrategy
    from fastapi_users.manager import BaseUserManager
    from fastapi_users_db_sqlalchemy import SQLAlchemyUserDatabase
    from fastapi_users_db_sqlalchemy.access_token import SQLAlchemyAccessTokenDatabase
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

    tables = _fastapi_users_tables()
    User, AccessToken = tables["User"], tables["AccessToken"]
    engine = create_async_engine(
        url.replace("postgresql://", "postgresql+psycopg://", 1), pool_size=POOL, max_overflow=0
    )
    sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def get_session() -> AsyncIterator[AsyncSession]:
        async with sessions() as session:
            yield session

    async def get_user_db(session: AsyncSession = Depends(get_session)) -> Any:  # noqa: B008
        yield SQLAlchemyUserDatabase(session, User)

    async def get_token_db(session: AsyncSession = Depends(get_session)) -> Any:  # noqa: B008
        yield SQLAlchemyAccessTokenDatabase(session, AccessToken)

    class Manager(UUIDIDMixin, BaseUserManager[Any, uuid.UUID]):
        reset_password_token_secret = SECRET
        verification_token_secret = SECRET

    async def get_manager(user_db: Any = Depends(get_user_db)) -> Any:  # noqa: B008
        yield Manager(user_db)

    def get_strategy(token_db: Any = Depends(get_token_db)) -> DatabaseStrategy[Any, Any, Any]:  # noqa: B008
        return DatabaseStrategy(token_db, lifetime_seconds=3600)

    backend = AuthenticationBackend(
        name="db", transport=BearerTransport(tokenUrl="login"), get_strategy=get_strategy
    )
    users = FastAPIUsers[Any, uuid.UUID](get_manager, [backend])
    current_user = users.current_user(active=True)
    app = FastAPI()

    @app.get("/me")
    async def me(user: Any = Depends(current_user)) -> dict[str, str]:  # noqa: B008
        return {"id": str(user.id), "email": user.email}

    return app


async def _serve(kind: str, port: int, url: str) -> None:
    import uvicorn

    import auth_store

    @asynccontextmanager
    async def nothing() -> AsyncIterator[None]:
        yield

    resources: Any = nothing()
    if kind == "async":
        store = await auth_store.connect_async(url)
        app = _async_app(store)
        resources = store
    elif kind == "raw":
        from psycopg_pool import AsyncConnectionPool

        pool = AsyncConnectionPool(url, min_size=POOL, max_size=POOL, open=False)
        await pool.open()
        app = _raw_app(pool)
        resources = pool
    elif kind == "sync":
        app = _sync_app(url)
    else:
        app = _fastapi_users_app(url)
    async with resources:
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="error", access_log=False, workers=1
        )
        await uvicorn.Server(config).serve()


# -- the load ------------------------------------------------------------------------


def _headers(kind: str, data: dict[str, str]) -> list[str]:
    if kind == "raw":
        return ["-H", f"Cookie: raw_session={data['token']}"]
    if kind == "fastapi-users":
        return ["-H", f"Authorization: Bearer {data['fu_token']}"]
    return ["-H", f"Cookie: auth_store_session={data['cookie']}"]


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _start(kind: str, url: str) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.fastapi_me", "serve", kind, str(port), url]
    )
    return process, port


def _wait(port: int, headers: list[str], process: subprocess.Popen[bytes]) -> None:
    import urllib.request

    name, value = headers[1].split(": ", 1)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the server exited")
        try:
            request = urllib.request.Request(f"http://127.0.0.1:{port}/me", headers={name: value})
            with urllib.request.urlopen(request, timeout=2) as answer:
                if json.loads(answer.read())["email"] == EMAIL:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("the server did not answer /me")


def _wrk(port: int, headers: list[str], seconds: int) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", "-t2", "-c64", f"-d{seconds}s", "--latency", *headers,
         f"http://127.0.0.1:{port}/me"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    assert p99 is not None, out
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise RuntimeError(f"{errors.group(1)} failed responses:\n{out}")
    return {"rps": rps, "p99_ms": float(p99.group(1)) * scale}


def run(seconds: int, runs: int) -> dict[str, Any]:
    """Every server, ``runs`` times ``seconds`` of load each, interleaved."""
    data = prepare()
    results: dict[str, list[dict[str, float]]] = {kind: [] for kind in KINDS}
    loads: list[float] = []
    servers = {kind: _start(_SLUG[kind], data["url"]) for kind in KINDS}
    try:
        for kind, (process, port) in servers.items():
            _wait(port, _headers(_SLUG[kind], data), process)
            _wrk(port, _headers(_SLUG[kind], data), 5)  # warm-up
        for _ in range(runs):
            for kind, (_, port) in servers.items():
                results[kind].append(_wrk(port, _headers(_SLUG[kind], data), seconds))
                loads.append(os.getloadavg()[0])
    finally:
        for process, _ in servers.values():
            process.terminate()
            process.wait(timeout=30)
    return {
        "machine": machine.describe(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": seconds,
        "runs": runs,
        "connections": 64,
        "load_average": {"min": min(loads), "max": max(loads)},
        "results": results,
    }


def summary(report: dict[str, Any]) -> str:
    """The Markdown table of a report: median (min-max) per server, and the ratios."""

    def spread(values: list[float], fmt: str) -> str:
        return f"{statistics.median(values):{fmt}} ({min(values):{fmt}}-{max(values):{fmt}})"

    rows = ["| server | requests/s | p99 (ms) |", "| --- | --- | --- |"]
    median: dict[str, float] = {}
    for kind, runs in report["results"].items():
        rps = [r["rps"] for r in runs]
        median[kind] = statistics.median(rps)
        rows.append(
            f"| {kind} | {spread(rps, '.0f')} | {spread([r['p99_ms'] for r in runs], '.1f')} |"
        )
    ours = median["auth-store async"]
    rows.append("")
    rows.append(
        f"- auth-store async / raw psycopg async: {ours / median['raw psycopg async']:.2f}x"
    )
    rows.append(f"- auth-store async / auth-store sync (thread pool): "
                f"{ours / median['auth-store sync (thread pool)']:.2f}x")  # fmt: skip
    rows.append(f"- auth-store async / fastapi-users: {ours / median['fastapi-users']:.2f}x")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve")
    serve.add_argument("kind")
    serve.add_argument("port", type=int)
    serve.add_argument("url")
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    if args.command == "serve":
        asyncio.run(_serve(args.kind, args.port, args.url))
        return
    report = run(args.seconds, args.runs)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(report, indent=2))
    print(summary(report))
    print(f"load average during the runs: {report['load_average']}")


if __name__ == "__main__":
    main()
