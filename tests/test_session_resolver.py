"""Who is the user of a request: ``SessionResolver`` with the Auth.js strategies.

On a real SQLite store: the JWT cookie (with and without a store behind it),
the database session cookie, bearer tokens, precedence, revocation by
deleting or disabling the user, and a strategy written here, to show that
another kind of session plugs in without touching the resolver.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import auth_store
from auth_store import Session, User, authjs, clock
from auth_store.authjs import AuthJsDatabaseStrategy, AuthJsJwtStrategy, authjs_resolver
from auth_store.errors import ConfigurationError, StorageError
from auth_store.session_resolver import (
    RequestCredentials,
    ResolvedSession,
    SessionResolver,
    SessionStrategy,
)
from auth_store.users import disabled_extra

SECRET = "secret-of-the-next-js-app-0123456789abcdef"
PLAIN = "authjs.session-token"
SECURE = "__Secure-authjs.session-token"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[auth_store.Adapter]:
    with auth_store.connect(f"sqlite:///{tmp_path}/auth.db") as adapter:
        yield adapter


@pytest.fixture
def user(store: auth_store.Adapter) -> User:
    return store.create_user(User(email="ann@example.com", name="Ann"))


def _jwt(sub: str, salt: str = PLAIN, **claims: Any) -> str:
    return authjs.encode({"sub": sub, **claims}, secret=SECRET, salt=salt)


def _db_session(store: auth_store.Adapter, user: User, *, days: float = 30) -> str:
    assert user.id is not None
    token = str(uuid.uuid4())  # what Auth.js's database strategy puts in the cookie
    store.create_session(
        Session(session_token=token, user_id=user.id, expires=clock.now() + timedelta(days=days))
    )
    return token


def _request(
    cookies: Mapping[str, str] | None = None, auth: str | None = None
) -> RequestCredentials:
    return RequestCredentials(cookies=dict(cookies or {}), authorization=auth)


def test_a_jwt_cookie_names_the_user_from_the_store(store: auth_store.Adapter, user: User) -> None:
    assert user.id is not None
    resolver = authjs_resolver(store=store, secret=SECRET)
    found = resolver.resolve(_request({PLAIN: _jwt(user.id, name="Ann")}))
    assert found is not None
    assert found.user == user
    assert (found.user_id, found.strategy, found.transport) == (user.id, "authjs-jwt", "cookie")
    assert found.cookie == PLAIN
    assert found.claims["name"] == "Ann"
    assert found.expires > clock.now() + timedelta(days=29)
    secure = resolver.resolve(_request({SECURE: _jwt(user.id, salt=SECURE)}))
    assert secure is not None
    assert secure.cookie == SECURE


def test_without_a_store_the_token_alone_is_trusted() -> None:
    resolver = authjs_resolver(secret=SECRET)
    found = resolver.resolve(_request({PLAIN: _jwt("someone")}))
    assert found is not None
    assert found.user is None
    assert found.user_id == "someone"
    assert [s.name for s in resolver.strategies] == ["authjs-jwt"]


def test_a_jwt_for_the_other_cookie_name_is_refused() -> None:
    # The salt binds a token to its cookie name: a plain-cookie token moved
    # into the __Secure- cookie does not decode.
    resolver = authjs_resolver(secret=SECRET)
    assert resolver.resolve(_request({SECURE: _jwt("u", salt=PLAIN)})) is None


def test_deleting_or_disabling_the_user_revokes_their_jwt(
    store: auth_store.Adapter, user: User
) -> None:
    assert user.id is not None
    resolver = authjs_resolver(store=store, secret=SECRET)
    cookies = {PLAIN: _jwt(user.id)}
    assert resolver.resolve(_request(cookies)) is not None
    store.update_user(user.id, extra=disabled_extra(user))
    assert resolver.resolve(_request(cookies)) is None
    store.delete_user(user.id)
    assert resolver.resolve(_request(cookies)) is None
    assert resolver.resolve(_request({PLAIN: _jwt("../../etc/passwd")})) is None
    assert resolver.resolve(_request({PLAIN: authjs.encode({}, secret=SECRET, salt=PLAIN)})) is None


def test_is_revoked_can_refuse_a_token(store: auth_store.Adapter, user: User) -> None:
    assert user.id is not None
    denied: set[str] = set()
    resolver = authjs_resolver(
        store=store, secret=SECRET, is_revoked=lambda claims: claims["jti"] in denied
    )
    token = _jwt(user.id)
    assert resolver.resolve(_request({PLAIN: token})) is not None
    denied.add(authjs.decode(token, secret=SECRET, salt=PLAIN)["jti"])
    assert resolver.resolve(_request({PLAIN: token})) is None
    assert resolver.resolve(_request({PLAIN: _jwt(user.id)})) is not None


def test_a_database_session_cookie(store: auth_store.Adapter, user: User) -> None:
    token = _db_session(store, user)
    resolver = authjs_resolver(store=store, secret=SECRET)
    found = resolver.resolve(_request({SECURE: token}))
    assert found is not None
    assert (found.user, found.strategy, found.cookie) == (user, "authjs-database", SECURE)
    assert found.session is not None
    assert found.session.session_token == token
    assert token not in repr(found)


def test_an_expired_or_disabled_database_session_is_refused(
    store: auth_store.Adapter, user: User
) -> None:
    assert user.id is not None
    resolver = authjs_resolver(store=store, strategy="database")
    assert resolver.resolve(_request({PLAIN: _db_session(store, user, days=-1)})) is None
    live = _db_session(store, user)
    assert resolver.resolve(_request({PLAIN: live})) is not None
    store.update_user(user.id, extra=disabled_extra(user))
    assert resolver.resolve(_request({PLAIN: live})) is None
    assert resolver.resolve(_request({PLAIN: "no-such-session"})) is None
    assert resolver.resolve(_request({PLAIN: "x" * 10_000})) is None


def test_bearer_tokens_of_both_kinds(store: auth_store.Adapter, user: User) -> None:
    assert user.id is not None
    resolver = authjs_resolver(store=store, secret=SECRET)
    by_jwt = resolver.resolve(_request(auth=f"Bearer {_jwt(user.id, salt=SECURE)}"))
    assert by_jwt is not None
    assert (by_jwt.strategy, by_jwt.transport, by_jwt.cookie) == ("authjs-jwt", "bearer", None)
    session_token = _db_session(store, user)
    by_session = resolver.resolve(_request(auth=f"bearer {session_token}"))
    assert by_session is not None
    assert by_session.strategy == "authjs-database"
    encoded = _jwt(user.id).replace(".", "%2E")  # percent-decoded, as Auth.js's getToken does
    assert resolver.resolve(_request(auth=f"Bearer {encoded}")) is not None
    for header in ("Basic dXNlcjpwYXNz", "Bearer", "Bearer ", _jwt(user.id), "Bearer %ff%fe"):
        assert resolver.resolve(_request(auth=header)) is None


def test_a_cookie_wins_over_a_bearer_token(store: auth_store.Adapter, user: User) -> None:
    assert user.id is not None
    other = store.create_user(User(email="bob@example.com"))
    assert other.id is not None
    resolver = authjs_resolver(store=store, secret=SECRET)
    found = resolver.resolve(_request({PLAIN: _jwt(user.id)}, f"Bearer {_jwt(other.id)}"))
    assert found is not None
    assert found.user_id == user.id
    # A cookie that names nobody leaves the header to decide.
    found = resolver.resolve(_request({PLAIN: "garbage"}, f"Bearer {_jwt(other.id)}"))
    assert found is not None
    assert found.user_id == other.id


def test_a_chunked_jwt_cookie(store: auth_store.Adapter, user: User) -> None:
    assert user.id is not None
    token = _jwt(user.id, groups=["group-name"] * 800)
    cookies = dict(authjs.session_cookie_writes(PLAIN, token).set)
    assert len(cookies) > 1
    found = authjs_resolver(store=store, secret=SECRET).resolve(_request(cookies))
    assert found is not None
    assert found.user == user


def test_a_one_megabyte_cookie_is_refused_cleanly(store: auth_store.Adapter, user: User) -> None:
    assert user.id is not None
    resolver = authjs_resolver(store=store, secret=SECRET)
    token = _jwt(user.id)
    huge = token + "A" * (1 << 20)
    assert resolver.resolve(_request({PLAIN: huge})) is None
    chunked = dict(authjs.session_cookie_writes(PLAIN, huge).set)
    assert resolver.resolve(_request(chunked)) is None
    assert resolver.resolve(_request(auth=f"Bearer {huge}")) is None


def test_next_auth_4_sessions(store: auth_store.Adapter, user: User) -> None:
    assert user.id is not None
    resolver = authjs_resolver(store=store, secret=SECRET, v4=True)
    token = authjs.encode_v4({"sub": user.id}, secret=SECRET)
    found = resolver.resolve(_request({"__Secure-next-auth.session-token": token}))
    assert found is not None
    assert found.user == user
    assert resolver.resolve(_request({"next-auth.session-token": token})) is not None
    assert resolver.resolve(_request(auth=f"Bearer {token}")) is not None
    assert resolver.resolve(_request({PLAIN: _jwt(user.id)})) is None  # a v5 cookie is not read
    session_token = _db_session(store, user)
    assert resolver.resolve(_request({"next-auth.session-token": session_token})) is not None


def test_the_secret_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTH_SECRET", "old-secret-old-secret")
    monkeypatch.setenv("AUTH_SECRET_1", SECRET)
    resolver = authjs_resolver()
    assert resolver.resolve(_request({PLAIN: _jwt("u")})) is not None
    old = authjs.encode({"sub": "u"}, secret="old-secret-old-secret", salt=PLAIN)
    assert resolver.resolve(_request({PLAIN: old})) is not None
    monkeypatch.delenv("AUTH_SECRET")
    monkeypatch.delenv("AUTH_SECRET_1")
    with pytest.raises(ConfigurationError, match="AUTH_SECRET"):
        authjs_resolver()
    assert SECRET not in repr(authjs_resolver(secret=SECRET).strategies)


def test_configuration_errors() -> None:
    with pytest.raises(ConfigurationError, match="needs a store"):
        authjs_resolver(secret=SECRET, strategy="database")
    with pytest.raises(ConfigurationError):
        authjs_resolver(secret=SECRET, strategy="cookie")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        AuthJsJwtStrategy(SECRET, cookies=[])
    with pytest.raises(ValueError, match="strategy"):
        SessionResolver([])


def test_a_storage_failure_is_an_error_not_an_anonymous_request(
    store: auth_store.Adapter, user: User
) -> None:
    assert user.id is not None
    resolver = authjs_resolver(store=store, secret=SECRET)
    cookies = {PLAIN: _jwt(user.id)}
    store.close()
    with pytest.raises(StorageError):
        resolver.resolve(_request(cookies))


class _HeaderKeyStrategy:
    """Another kind of session, written outside the package: a fixed API key cookie."""

    name = "api-key"

    def __init__(self, keys: Mapping[str, str]) -> None:
        self.keys = keys

    def from_cookies(self, cookies: Mapping[str, str]) -> ResolvedSession | None:
        return self._resolve(cookies.get("api-key"), "cookie")

    def from_bearer(self, token: str) -> ResolvedSession | None:
        return self._resolve(token, "bearer")

    def _resolve(self, key: str | None, transport: Any) -> ResolvedSession | None:
        if key is None or key not in self.keys:
            return None
        return ResolvedSession(
            user_id=self.keys[key],
            user=None,
            expires=clock.now() + timedelta(days=1),
            strategy=self.name,
            transport=transport,
        )


def test_another_strategy_plugs_in_beside_auth_js_s(store: auth_store.Adapter, user: User) -> None:
    assert user.id is not None
    custom = _HeaderKeyStrategy({"k-123": "service-account"})
    assert isinstance(custom, SessionStrategy)
    resolver = SessionResolver(
        [AuthJsJwtStrategy(SECRET, store=store), AuthJsDatabaseStrategy(store), custom]
    )
    found = resolver.resolve(_request({"api-key": "k-123"}))
    assert found is not None
    assert (found.strategy, found.user_id) == ("api-key", "service-account")
    found = resolver.resolve(_request(auth="Bearer k-123"))
    assert found is not None
    assert found.transport == "bearer"
    found = resolver.resolve(_request({PLAIN: _jwt(user.id), "api-key": "k-123"}))
    assert found is not None
    assert found.strategy == "authjs-jwt"  # earlier strategies first
    assert "api-key" in repr(resolver)
