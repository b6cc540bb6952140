"""The sync services and their async twins (``auth_store.aio``) are one logic, and agree.

Each service is written once, as steps (``auth_store._twins``); these tests
fail when the twins drift apart: a name one twin has and the other lacks,
code added to one twin's class, or any difference in what the same scenario
does on the sync store and on its async twin (memory, SQLite, Postgres).
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import re
import threading
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import pytest

import auth_store
import auth_store.aio as aio
from auth_store import _twins
from auth_store.adapter import Adapter
from auth_store.api_keys import ApiKeyService
from auth_store.attempts import AttemptLimiter
from auth_store.authjs import AuthJsDatabaseStrategy, AuthJsJwtStrategy
from auth_store.backup_codes import BackupCodeService
from auth_store.better_auth import BetterAuthSessionStrategy
from auth_store.crypto import Keyring
from auth_store.disabled import disabled_extra
from auth_store.flow import (
    AuthFlow,
    FlowError,
    SecondFactorRequired,
    SignedIn,
)
from auth_store.mail import MemoryMailer
from auth_store.models import Credential, Session, User
from auth_store.passkey_store import PasskeyStore
from auth_store.passkeys import PasskeyService
from auth_store.passwords import PasswordService, make_context
from auth_store.pending import PendingSignIns
from auth_store.session_resolver import RequestCredentials, ResolvedSession, SessionResolver
from auth_store.sessions import ActiveSession, SessionClient, SessionManager
from auth_store.signing import Signer
from auth_store.tokens import TokenService
from auth_store.totp import TOTPService, totp_code
from tests.fake_clock import FakeClock
from tests.pg import fresh_postgres_url

T = TypeVar("T")

#: Every service with an async twin: the sync class, by the name both twins share.
SYNC_TWINS: dict[str, type[Any]] = {
    cls.__name__: cls
    for cls in (
        AuthFlow,
        SessionManager,
        TokenService,
        PasswordService,
        AttemptLimiter,
        TOTPService,
        BackupCodeService,
        ApiKeyService,
        PasskeyStore,
        PasskeyService,
        PendingSignIns,
        SessionResolver,
        AuthJsJwtStrategy,
        AuthJsDatabaseStrategy,
        BetterAuthSessionStrategy,
    )
}
#: What a twin's class body may hold: a docstring and what Python puts there itself.
_CLASS_BOILERPLATE = {
    "__doc__",
    "__module__",
    "__qualname__",
    "__orig_bases__",
    "__parameters__",
    "_kind",
    "__firstlineno__",
    "__static_attributes__",
}


def _twin_methods(cls: type[Any]) -> set[str]:
    return {
        name
        for klass in cls.__mro__
        for name, value in vars(klass).items()
        if isinstance(value, _twins.twin) and not name.startswith("_")
    }


@pytest.mark.parametrize("name", sorted(SYNC_TWINS))
def test_each_service_has_an_async_twin_of_the_same_core_and_no_code_of_its_own(
    name: str,
) -> None:
    sync_cls = SYNC_TWINS[name]
    async_cls = getattr(aio, name)
    assert async_cls.__name__ == name
    assert name in aio.__all__
    # Both are the one core class on their kind of store; nothing else.
    (sync_core,) = sync_cls.__bases__
    (async_core,) = async_cls.__bases__
    assert (
        sync_core.__origin__ is async_core.__origin__
        if hasattr(sync_core, "__origin__")
        else (sync_core is async_core)
    )
    assert sync_cls._kind == "sync"
    assert async_cls._kind == "async"
    for cls in (sync_cls, async_cls):
        assert set(vars(cls)) <= _CLASS_BOILERPLATE, f"{cls} holds code of its own"
    # The same public names; the I/O methods plain on one side, coroutines on the other.
    public = {n for n in dir(sync_cls) if not n.startswith("_")}
    assert public == {n for n in dir(async_cls) if not n.startswith("_")}
    methods = _twin_methods(sync_cls)
    assert methods, f"{name} has no method that does I/O?"
    assert methods == _twin_methods(async_cls)


def test_a_twin_refuses_the_other_kind_of_store(tmp_path: Path) -> None:
    sync_store = auth_store.connect("memory://")

    async def main() -> None:
        async_store = await auth_store.connect_async("memory://")
        with pytest.raises(auth_store.ConfigurationError, match=r"auth_store\.aio"):
            SessionManager(async_store)  # type: ignore[arg-type]
        with pytest.raises(auth_store.ConfigurationError, match="connect_async"):
            aio.SessionManager(sync_store)  # type: ignore[arg-type]
        await async_store.close()

    asyncio.run(main())


def test_a_core_alone_is_no_service() -> None:
    from auth_store.session_resolver import SessionResolverCore
    from auth_store.sessions import SessionManagerCore

    with pytest.raises(TypeError, match="sync twin"):
        SessionManagerCore(auth_store.connect("memory://"))
    with pytest.raises(TypeError, match=r"aio\.SessionResolver"):
        SessionResolverCore([AuthJsJwtStrategy("s" * 32)])


def test_the_resolvers_build_their_own_kind_of_strategies_and_refuse_the_other() -> None:
    sync_store = auth_store.connect("memory://")

    async def main() -> None:
        async with await auth_store.connect_async("memory://") as store:
            resolver = aio.authjs_resolver(store=store, secret="s" * 32)
            assert type(resolver) is aio.SessionResolver
            assert [type(s) for s in resolver.strategies] == [
                aio.AuthJsJwtStrategy,
                aio.AuthJsDatabaseStrategy,
            ]
            better = aio.better_auth_resolver(store=store, secret="s" * 32)
            assert [type(s) for s in better.strategies] == [aio.BetterAuthSessionStrategy]
            token_only = aio.authjs_resolver(secret="s" * 32)
            assert [type(s) for s in token_only.strategies] == [aio.AuthJsJwtStrategy]
            with pytest.raises(auth_store.ConfigurationError, match=r"auth_store\.aio"):
                SessionResolver(resolver.strategies)
            with pytest.raises(auth_store.ConfigurationError, match="sync twin"):
                aio.SessionResolver([AuthJsDatabaseStrategy(sync_store)])
            with pytest.raises(auth_store.ConfigurationError, match="connect_async"):
                aio.AuthJsDatabaseStrategy(sync_store)  # type: ignore[arg-type]

    asyncio.run(main())


# -- the same scenario on both twins ------------------------------------------------


async def _value(result: T | Awaitable[T]) -> T:
    """A sync twin's result as it is; an async twin's awaited."""
    if inspect.isawaitable(result):
        return await result
    return result


def _link(mailer: MemoryMailer, to: str) -> tuple[str, str]:
    """The (email, token) of the newest link mailed to ``to``."""
    text = mailer.last(to).text
    url = re.search(r"https?://\S+", text)
    assert url is not None, text
    query = parse_qs(urlsplit(url.group(0)).query)
    return query["email"][0], query["token"][0]


#: Steps whose results later steps use: a failure there ends the scenario.
_MUST_PASS = {
    "verify",
    "start totp",
    "restart totp",
    "start after expiry",
    "confirm totp",
    "password",
    "backup code",
    "add key",
}
#: Fields that differ from run to run (made by ``secrets`` or ``uuid``).
_RANDOM = {"id", "user_id", "secret", "provisioning_uri", "token", "session_token"}


def _outcome(value: object) -> object:
    """What a step returned, without the random parts (ids, tokens, hashes)."""
    if isinstance(value, SignedIn):
        return ("signed in", value.user.email, value.new_user)
    if isinstance(value, SecondFactorRequired):
        return ("second factor", tuple(m.value for m in value.methods))
    if isinstance(value, ActiveSession):
        return ("session", value.user.email, value.refreshed)
    if isinstance(value, User):
        return ("user", value.email, value.email_verified is not None)
    if isinstance(value, list):
        return ("list", len(value))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = dataclasses.asdict(value)
        return (type(value).__name__, {k: v for k, v in fields.items() if k not in _RANDOM})
    if isinstance(value, str) and len(value) > 40 and " " not in value:
        return "<token>"
    if isinstance(value, bytes):
        return ("bytes", len(value))
    return value


async def _scenario(store: Any, twins: dict[str, type[Any]], clock: FakeClock) -> list[object]:
    """A tour of the flow and the services; the transcript of what each step gave."""
    mailer = MemoryMailer()
    keyring = Keyring.parse("k1:" + "A" * 43)
    passwords = twins["PasswordService"](store, context=make_context(memory_cost=256, time_cost=1))
    flow = twins["AuthFlow"](
        store,
        signer=Signer(["s" * 32]),
        mailer=mailer,
        base_url="https://app.example",
        keyring=keyring,
        passwords=passwords,
    )
    passwords.limiter = flow.limiter
    log: list[object] = []

    async def step(name: str, call: Callable[[], Any]) -> Any:
        try:
            value = await _value(call())
        except (FlowError, auth_store.AuthStoreError) as exc:
            log.append((name, type(exc).__name__, str(exc)))
            if name in _MUST_PASS:
                raise AssertionError(f"{name}: {exc!r} after {log}") from exc
            return None
        log.append((name, _outcome(value)))
        return value

    ann = "Ann@Example.com"
    await step("sign up", lambda: flow.sign_up(ann, "correct horse 1"))
    await step("unverified sign-in", lambda: flow.sign_in_password(ann, "correct horse 1"))
    email, token = _link(mailer, "ann@example.com")
    signed = await step("verify", lambda: flow.verify_email(email, token))
    await step("verify again", lambda: flow.verify_email(email, token))
    await step("current", lambda: flow.current(signed.session.token))
    await step("wrong password", lambda: flow.sign_in_password(ann, "wrong horse"))
    await step("unknown", lambda: flow.sign_in_password("bob@example.com", "x" * 12))
    user = signed.user

    async def same_key(found: Any, enrollment: Any) -> bool:
        found = await _value(found)
        return found is not None and found.secret == enrollment.secret

    # A pending TOTP enrolment keeps its key until confirmed, restarted or expired.
    first_key = await step("start totp", lambda: flow.start_totp(user))
    await step("pending key", lambda: same_key(flow.totp_enrollment(user), first_key))
    await step("start keeps it", lambda: same_key(flow.start_totp(user), first_key))
    await step("wrong first code", lambda: flow.confirm_totp(user, "000000"))
    await step("key kept", lambda: same_key(flow.totp_enrollment(user), first_key))
    restarted = await step("restart totp", lambda: flow.start_totp(user, restart=True))
    await step("restart: a new key", lambda: same_key(restarted, first_key))
    clock.advance(timedelta(hours=2))
    await step("expired", lambda: flow.totp_enrollment(user))
    late = totp_code(restarted.secret, clock.now)
    await step("expired key's code", lambda: flow.confirm_totp(user, late))
    enrollment = await step("start after expiry", lambda: flow.start_totp(user))
    await step("another key", lambda: same_key(enrollment, restarted))
    code = totp_code(enrollment.secret, clock.now)
    codes = await step("confirm totp", lambda: flow.confirm_totp(user, code))
    await step("totp on", lambda: flow.totp_enabled(user))
    first = await step("password", lambda: flow.sign_in_password(ann, "correct horse 1"))
    await step("bad code", lambda: flow.verify_second_factor(first.pending, "000000"))
    laptop = SessionClient(ip_address="203.0.113.9", user_agent="Firefox/128.0")
    second = await step(
        "backup code", lambda: flow.verify_second_factor(first.pending, codes[0], client=laptop)
    )
    await step("spent code", lambda: flow.verify_second_factor(first.pending, codes[0]))
    await step("remaining", lambda: flow.backup_codes.remaining(user.id))
    # The pending step finished one sign-in: replayed, even with a valid code, it is stale.
    await step("replayed pending", lambda: flow.verify_second_factor(first.pending, codes[2]))

    async def clients() -> tuple[tuple[str, str], ...]:
        listed = await _value(flow.sessions.list(user.id))
        return tuple(sorted(((s.ip_address or ""), (s.user_agent or "")) for s in listed))

    await step("session clients", clients)
    clock.advance(timedelta(seconds=60))
    now_code = totp_code(enrollment.secret, clock.now)
    await step("reauth by code", lambda: flow.reauthenticate(user, code=now_code))
    await step("reused step", lambda: flow.reauthenticate(user, code=now_code))
    await step("reauth by password", lambda: flow.reauthenticate(user, password="nope nope"))
    added = await step(
        "add key",
        lambda: flow.api_keys.add(user.id, label="llm", provider="x", key="sk-1234567890"),
    )
    await step("list keys", lambda: flow.api_keys.list(user.id))
    await step("reveal", lambda: flow.api_keys.reveal(user.id, added.id))
    await step("delete key", lambda: flow.api_keys.delete(user.id, added.id))
    await step("sessions", lambda: flow.sessions.list(user.id))
    await step(
        "revoke others",
        lambda: flow.sessions.revoke_all(user.id, except_token=second.session.token),
    )
    await step("change", lambda: flow.change_password(user, "bad", "new horse 22", keep_token=None))
    await step(
        "change ok",
        lambda: flow.change_password(user, "correct horse 1", "new horse 22", keep_token=None),
    )
    await step("reset request", lambda: flow.request_password_reset(ann))
    email, token = _link(mailer, "ann@example.com")
    await step("reset", lambda: flow.reset_password(email, token, "third horse 333"))
    await step("reset again", lambda: flow.reset_password(email, token, "fourth horse 4"))
    for attempt in range(7):
        await step(f"guess {attempt}", lambda: flow.sign_in_password(ann, "guess guess"))
    await step("status", lambda: flow.limiter.status(user.id, "password"))
    await step("magic link", lambda: flow.request_magic_link("cy@example.com"))
    email, token = _link(mailer, "cy@example.com")
    await step("magic sign-in", lambda: flow.sign_in_magic_link(email, token))
    cy = await _value(store.get_user_by_email("cy@example.com"))
    await step("cy verified", lambda: _value(store.get_user(cy.id)))
    passkeys = twins["PasskeyStore"](store)
    await step("no passkeys", lambda: passkeys.list(cy.id))
    await step("handle", lambda: passkeys.ensure_user_handle(cy.id))
    await step("sign out", lambda: flow.sign_out(second.session.token))
    await step("signed out", lambda: flow.current(second.session.token))
    await step("disable totp", lambda: flow.disable_totp(user, codes[1]))
    await step("counts", lambda: store.counts())
    return log


def _run_sync(url: str, clock: FakeClock) -> list[object]:
    with auth_store.connect(url) as store:
        return asyncio.run(_scenario(store, SYNC_TWINS, clock))


def _run_async(url: str, clock: FakeClock) -> list[object]:
    async def main() -> list[object]:
        async with await auth_store.connect_async(url) as store:
            twins = {name: getattr(aio, name) for name in SYNC_TWINS}
            return await _scenario(store, twins, clock)

    return asyncio.run(main())


@pytest.fixture
def two_stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    kind = request.param
    if kind == "memory":
        yield "memory://", "memory://"
    elif kind == "sqlite":
        yield f"sqlite:///{tmp_path}/sync.db", f"sqlite:///{tmp_path}/async.db"
    else:
        with fresh_postgres_url() as sync_url, fresh_postgres_url() as async_url:
            yield sync_url, async_url


@pytest.mark.parametrize("two_stores", ["memory", "sqlite", "postgres"], indirect=True)
def test_the_twins_do_the_same_thing(
    two_stores: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sync_url, async_url = two_stores
    sync_log = _run_sync(sync_url, FakeClock.install(monkeypatch))
    async_log = _run_async(async_url, FakeClock.install(monkeypatch))
    for sync_step, async_step in zip(sync_log, async_log, strict=True):
        assert sync_step == async_step
    # And the scenario did what it says (equal transcripts of nothing would prove nothing).
    steps = {entry[0]: entry[1:] for entry in sync_log if isinstance(entry, tuple)}
    assert steps["unverified sign-in"][0] == "EmailNotVerifiedError"
    assert steps["verify"] == (("signed in", "ann@example.com", False),)
    assert steps["verify again"][0] == "InvalidLinkError"
    assert steps["password"] == (("second factor", ("totp", "backup_code")),)
    assert steps["backup code"] == (("signed in", "ann@example.com", False),)
    assert steps["spent code"][0] == "InvalidCodeError"
    assert steps["remaining"] == (9,)
    assert steps["replayed pending"][0] == "InvalidLinkError"
    assert steps["session clients"] == ((("", ""), ("203.0.113.9", "Firefox/128.0")),)
    assert steps["pending key"] == steps["start keeps it"] == steps["key kept"] == (True,)
    assert steps["wrong first code"][0] == "InvalidCodeError"
    assert steps["restart: a new key"] == (False,)
    assert steps["expired"] == (None,)
    assert steps["expired key's code"][0] == "InvalidCodeError"
    assert steps["another key"] == (False,)
    assert steps["reused step"][0] == "ReauthenticationRequiredError"
    assert steps["reveal"] == ("sk-1234567890",)
    assert steps["change"][0] == "InvalidCredentialsError"
    assert steps["reset again"][0] == "InvalidLinkError"
    assert steps["guess 6"][0] == "InvalidCredentialsError"
    assert steps["magic sign-in"] == (("signed in", "cy@example.com", True),)
    assert steps["signed out"] == (None,)


# -- a front end's sessions, on both twins ------------------------------------------

_AUTHJS_SECRET = "secret-of-the-next-js-app-0123456789abcdef"
_BETTER_AUTH_SECRET = "secret-of-the-better-auth-app-0123456789abcdef"
_PLAIN = "authjs.session-token"


async def _frontend_scenario(store: Any, kind: str) -> list[object]:
    """Every kind of credential a front end's request carries; what each resolver made of it."""
    from auth_store import authjs, better_auth

    authjs_resolver: Callable[..., Any] = authjs.authjs_resolver
    better_auth_resolver: Callable[..., Any] = better_auth.better_auth_resolver
    if kind == "async":
        authjs_resolver, better_auth_resolver = aio.authjs_resolver, aio.better_auth_resolver
    resolvers = {
        "authjs": authjs_resolver(store=store, secret=_AUTHJS_SECRET),
        "token only": authjs_resolver(secret=_AUTHJS_SECRET),
        "better-auth": better_auth_resolver(store=store, secret=_BETTER_AUTH_SECRET),
    }
    ann = await _value(store.create_user(User(email="ann@example.com", name="Ann")))
    cy = await _value(store.create_user(User(email="cy@example.com")))

    async def session(user: User, token: str, days: float) -> str:
        expires = auth_store.clock.now() + timedelta(days=days)
        await _value(
            store.create_session(
                Session(session_token=token, user_id=user.id or "", expires=expires)
            )
        )
        return token

    live = await session(ann, "0f3c6c1e-6d1b-4bd5-9d43-1f1e2a1b9c01", 30)
    old = await session(ann, "0f3c6c1e-6d1b-4bd5-9d43-1f1e2a1b9c02", -1)
    cys = await session(cy, "0f3c6c1e-6d1b-4bd5-9d43-1f1e2a1b9c03", 30)
    ba_live = await session(ann, "a" * 32, 7)
    ba_old = await session(ann, "b" * 32, -1)

    def jwt(user: User | str, **claims: Any) -> str:
        sub = user if isinstance(user, str) else user.id
        return authjs.encode({"sub": sub, **claims}, secret=_AUTHJS_SECRET, salt=_PLAIN)

    def signed(token: str, secret: str = _BETTER_AUTH_SECRET) -> str:
        return better_auth.sign_cookie(token, secret)

    ba_cookie = "better-auth.session_token"
    cases: list[tuple[str, str, dict[str, str], str | None]] = [
        ("nothing", "authjs", {}, None),
        ("jwt cookie", "authjs", {_PLAIN: jwt(ann)}, None),
        ("jwt cookie, no store", "token only", {_PLAIN: jwt(ann, name="Ann")}, None),
        ("jwt bearer", "authjs", {}, f"Bearer {jwt(ann)}"),
        (
            "jwt of another secret",
            "authjs",
            {_PLAIN: authjs.encode({"sub": ann.id}, secret="x" * 40, salt=_PLAIN)},
            None,
        ),
        (
            "jwt, expired",
            "authjs",
            {
                _PLAIN: authjs.encode(
                    {"sub": ann.id}, secret=_AUTHJS_SECRET, salt=_PLAIN, max_age=-3600
                )
            },
            None,
        ),
        ("jwt of nobody", "authjs", {_PLAIN: jwt("no-such-user")}, None),
        ("jwt garbage", "authjs", {_PLAIN: "a.b.c.d.e"}, None),
        ("db cookie", "authjs", {_PLAIN: live}, None),
        ("db bearer", "authjs", {}, f"Bearer {live}"),
        ("db, expired", "authjs", {_PLAIN: old}, None),
        ("db, unknown", "authjs", {_PLAIN: "0f3c6c1e-0000-0000-0000-000000000000"}, None),
        ("db, oversized", "authjs", {}, f"Bearer {'x' * 600}"),
        ("cookie wins", "authjs", {_PLAIN: jwt(ann)}, f"Bearer {cys}"),
        ("ba cookie", "better-auth", {ba_cookie: signed(ba_live)}, None),
        ("ba secure cookie", "better-auth", {"__Secure-" + ba_cookie: signed(ba_live)}, None),
        ("ba bearer signed", "better-auth", {}, f"Bearer {signed(ba_live)}"),
        ("ba bearer plain", "better-auth", {}, f"Bearer {ba_live}"),
        ("ba forged", "better-auth", {ba_cookie: signed(ba_live, "y" * 40)}, None),
        ("ba expired", "better-auth", {ba_cookie: signed(ba_old)}, None),
        ("ba unsigned cookie", "better-auth", {ba_cookie: ba_live}, None),
    ]
    log: list[object] = []

    async def ask(name: str, resolver: str, cookies: dict[str, str], auth: str | None) -> None:
        request = RequestCredentials(cookies=cookies, authorization=auth)
        found: ResolvedSession | None = await _value(resolvers[resolver].resolve(request))
        if found is None:
            log.append((name, None))
            return
        who = found.user.email if found.user is not None else found.claims.get("name")
        log.append(
            (
                name,
                found.strategy,
                found.transport,
                found.cookie,
                who,
                found.session is not None,
                found.expires,
            )
        )

    for case in cases:
        await ask(*case)
    # Disabling a user refuses their sessions of every kind at once.
    await _value(store.update_user(cy.id, extra=disabled_extra(cy)))
    await ask("disabled: db", "authjs", {_PLAIN: cys}, None)
    await ask("disabled: jwt", "authjs", {_PLAIN: jwt(cy)}, None)
    return log


@pytest.mark.parametrize("two_stores", ["memory", "sqlite", "postgres"], indirect=True)
def test_the_twins_resolve_a_front_end_s_sessions_alike(
    two_stores: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sync_url, async_url = two_stores
    FakeClock.install(monkeypatch)
    with auth_store.connect(sync_url) as sync_store:
        sync_log = asyncio.run(_frontend_scenario(sync_store, "sync"))

    async def main() -> list[object]:
        async with await auth_store.connect_async(async_url) as store:
            return await _frontend_scenario(store, "async")

    async_log = asyncio.run(main())
    for sync_step, async_step in zip(sync_log, async_log, strict=True):
        assert sync_step == async_step
    said = {entry[0]: entry[1:] for entry in sync_log if isinstance(entry, tuple)}
    refused = {name for name, answer in said.items() if answer == (None,)}
    assert refused == {
        "nothing",
        "jwt of another secret",
        "jwt, expired",
        "jwt of nobody",
        "jwt garbage",
        "db, expired",
        "db, unknown",
        "db, oversized",
        "ba forged",
        "ba expired",
        "ba unsigned cookie",
        "disabled: db",
        "disabled: jwt",
    }
    assert said["jwt cookie"][:5] == ("authjs-jwt", "cookie", _PLAIN, "ann@example.com", False)
    assert said["jwt cookie, no store"][:4] == ("authjs-jwt", "cookie", _PLAIN, "Ann")
    assert said["jwt bearer"][:4] == ("authjs-jwt", "bearer", None, "ann@example.com")
    assert said["db cookie"][:5] == ("authjs-database", "cookie", _PLAIN, "ann@example.com", True)
    assert said["db bearer"][:2] == ("authjs-database", "bearer")
    assert said["cookie wins"][:4] == ("authjs-jwt", "cookie", _PLAIN, "ann@example.com")
    assert said["ba cookie"][:4] == (
        "better-auth",
        "cookie",
        "better-auth.session_token",
        "ann@example.com",
    )
    assert said["ba secure cookie"][2] == "__Secure-better-auth.session_token"
    assert said["ba bearer signed"][:2] == said["ba bearer plain"][:2] == ("better-auth", "bearer")


# -- what only the async twin does -----------------------------------------------------


def test_async_password_hashing_runs_off_the_event_loop() -> None:
    threads: list[int] = []
    context = make_context(memory_cost=256, time_cost=1)

    class Recording:
        def __getattr__(self, name: str) -> Any:
            return getattr(context, name)

        def hash(self, secret: str) -> str:
            threads.append(threading.get_ident())
            return str(context.hash(secret))

        def verify_and_update(self, secret: str, stored: str) -> Any:
            threads.append(threading.get_ident())
            return context.verify_and_update(secret, stored)

    async def main() -> int:
        async with await auth_store.connect_async("memory://") as store:
            user = await store.create_user(User(email="ann@example.com"))
            passwords = aio.PasswordService(store, context=Recording())
            await passwords.set_password(user.id, "correct horse 1")
            assert await passwords.verify_password(user.id, "correct horse 1")
            return threading.get_ident()

    loop_thread = asyncio.run(main())
    assert len(threads) == 2
    assert loop_thread not in threads


def test_a_cancelled_step_runs_its_cleanup_on_the_async_store() -> None:
    """A cancellation reaches the step where it waits, and its cleanup may still await."""
    calls: list[str] = []
    entered = asyncio.Event()

    class SlowStore:
        """Just enough of an async store: ``create_credential`` hangs until cancelled."""

        async def create_credential(self, c: Credential) -> Credential:
            calls.append("create")
            entered.set()
            await asyncio.sleep(3600)
            raise AssertionError("not reached")

        async def delete_credential(self, id: str) -> None:
            calls.append(f"delete {id}")

    def steps(store: object) -> _twins.Steps[None]:
        try:
            credential = Credential(id="c1", user_id="u1", type="x", data={})
            yield from _twins.store_call(store, Adapter.create_credential, credential)
        except BaseException:
            yield from _twins.store_call(store, Adapter.delete_credential, "c1")
            raise

    async def main() -> None:
        task = asyncio.create_task(_twins.run_async(steps(SlowStore())))
        await entered.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert calls == ["create", "delete c1"]
