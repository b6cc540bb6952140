"""The sync store and its async twin give the same answers to the same calls.

One script of calls (every method of the contract, hits, misses and errors)
runs on a fresh sync store and on a fresh async twin of the same backend; the
two transcripts must be equal. The twin has no logic of its own to drift (it
runs the sync adapter's methods), so what this catches is a twin method
wired to the wrong call, or losing an argument on the way.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import auth_store
from auth_store import (
    Account,
    Authenticator,
    AuthStoreError,
    Credential,
    Session,
    User,
    VerificationToken,
)
from auth_store.testing import stores
from auth_store.testing.urls import derive_url

T0 = datetime(2030, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)

#: (method, positional arguments, keyword arguments): the script both twins run.
SCRIPT: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
    ("create_user", (User(id="u1", email=" Ada@Example.com ", name="Ada", extra={"r": 1}),), {}),
    ("create_user", (User(id="u2", email="bob@example.com"),), {}),
    ("create_user", (User(email="ada@example.com"),), {}),  # ConflictError
    ("get_user", ("u1",), {}),
    ("get_user", ("../x",), {}),  # ValidationError
    ("get_user_by_email", ("ADA@example.com",), {}),
    ("update_user", ("u2",), {"name": "Bob", "extra": {"k": "v"}}),
    ("update_user", ("nobody",), {"name": "X"}),  # NotFoundError
    (
        "link_account",
        (Account(id="a1", user_id="u1", type="oauth", provider="gh", provider_account_id="9"),),
        {},
    ),
    ("get_user_by_account", ("gh", "9"), {}),
    ("get_account", ("gh", "9"), {}),
    ("update_account", ("gh", "9"), {"access_token": "tok", "expires_at": 5}),
    ("list_accounts", ("u1",), {}),
    ("create_session", (Session(id="s1", session_token="st", user_id="u1", expires=T0),), {}),
    (
        "create_session",
        (Session(session_token="x", user_id="u1", expires=T0.replace(tzinfo=None)),),
        {},
    ),
    ("get_session_and_user", ("st",), {}),
    ("get_session_and_user", ("missing",), {}),
    ("update_session", ("st",), {"expires": T0 + timedelta(days=1), "ip_address": "203.0.113.9"}),
    ("list_sessions", ("u1",), {}),
    ("create_verification_token", (VerificationToken(identifier="i", token="t", expires=T0),), {}),
    ("use_verification_token", ("i", "t"), {}),
    ("use_verification_token", ("i", "t"), {}),
    (
        "create_authenticator",
        (
            Authenticator(
                credential_id="c1",
                user_id="u1",
                provider_account_id="c1",
                credential_public_key="pk",
                counter=0,
                credential_device_type="singleDevice",
                credential_backed_up=False,
                transports="usb",
            ),
        ),
        {},
    ),
    ("get_authenticator", ("c1",), {}),
    ("update_authenticator_counter", ("c1", 7), {}),
    ("list_authenticators_by_user_id", ("u1",), {}),
    ("delete_authenticator", ("c1",), {}),
    (
        "create_credential",
        (
            Credential(
                id="k1", user_id="u1", type="totp", data={"s": "x"}, created_at=T0, updated_at=T0
            ),
        ),
        {},
    ),
    ("get_credential", ("k1",), {}),
    ("update_credential", ("k1", {"s": "y"}), {"expected_version": 1}),
    ("update_credential", ("k1", {"s": "z"}), {"expected_version": 1}),  # stale: None
    ("list_credentials", ("u1",), {"type": "totp"}),
    ("delete_credential", ("k1",), {}),
    ("counts", (), {}),
    ("purge_expired", (), {"now": T0 + timedelta(days=2)}),
    ("delete_session", ("st",), {}),
    ("delete_sessions", ("u1",), {}),
    ("unlink_account", ("gh", "9"), {}),
    ("delete_user", ("u2",), {}),
    ("delete_user", ("u2",), {}),
]


def _plain(value: Any) -> Any:
    """A comparable form: times a call stamps with "now" left out."""
    if isinstance(value, Credential):
        return dataclasses.replace(value, updated_at=None)
    if isinstance(value, Session):
        return dataclasses.replace(value, updated_at=None, created_at=None)
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _sync_transcript(url: str) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    with auth_store.connect(url) as store:
        for method, args, kwargs in SCRIPT:
            try:
                out.append(("ok", _plain(getattr(store, method)(*args, **kwargs))))
            except AuthStoreError as exc:
                out.append((type(exc).__name__, str(exc)))
        out.append(("export", [_plain(r) for r in store.export()]))
    return out


async def _async_transcript(url: str) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    async with await auth_store.connect_async(url) as store:
        for method, args, kwargs in SCRIPT:
            try:
                out.append(("ok", _plain(await getattr(store, method)(*args, **kwargs))))
            except AuthStoreError as exc:
                out.append((type(exc).__name__, str(exc)))
        out.append(("export", [_plain(r) async for r in store.export()]))
    return out


@pytest.fixture(params=stores.backend_params())
def two_urls(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, drop_first = derive_url(request.param, tmp_path / "a")
    second, drop_second = derive_url(request.param, tmp_path / "b")
    yield first, second
    for drop in (drop_first, drop_second):
        if drop is not None:
            drop()


def test_the_twins_write_down_the_same_transcript(two_urls: tuple[str, str]) -> None:
    sync_url, async_url = two_urls
    sync = _sync_transcript(sync_url)
    twin = asyncio.run(_async_transcript(async_url))
    assert [kind for kind, _ in sync].count("ok") > 30  # the script mostly succeeds
    for step, (mine, theirs) in enumerate(zip(sync, twin, strict=True)):
        assert mine == theirs, (SCRIPT[step][0] if step < len(SCRIPT) else "export", mine, theirs)
