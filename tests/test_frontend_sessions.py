"""The FastAPI dependencies and the Flask helper for a front end's sessions, through real apps.

The front end signs people in with Auth.js or with Better Auth. End to end
with the real apps is in tests/test_authjs_interop.py and
tests/test_better_auth_interop.py; these check each framework's side: 401s
with ``WWW-Authenticate``, one resolution per request, both front ends' cookies
and bearer tokens, and a clear error when users are asked of a store-less
resolver.
"""

# No ``from __future__ import annotations``: the FastAPI endpoints below use
# dependencies made inside the tests, which FastAPI must see as objects.

import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from flask import Flask

import auth_store
import auth_store.aio
from auth_store import ConfigurationError, User, authjs, better_auth
from auth_store.authjs import authjs_resolver
from auth_store.integrations.fastapi import FrontendSessions
from auth_store.integrations.flask import FrontendSessions as FlaskFrontendSessions
from auth_store.integrations.flask import get_frontend_sessions
from auth_store.session_resolver import RequestCredentials, ResolvedSession, SessionResolver
from auth_store.sessions import SessionManager

SECRET = "secret-of-the-next-js-app-0123456789abcdef"
PLAIN = "authjs.session-token"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[auth_store.Adapter]:
    with auth_store.connect(f"sqlite:///{tmp_path}/auth.db") as adapter:
        yield adapter


@pytest.fixture
def ann(store: auth_store.Adapter) -> User:
    return store.create_user(User(email="ann@example.com", name="Ann"))


def _token(user_id: str, **claims: Any) -> str:
    return authjs.encode({"sub": user_id, **claims}, secret=SECRET, salt=PLAIN)


def _cookie(user_id: str, **claims: Any) -> dict[str, str]:
    return {"Cookie": f"{PLAIN}={_token(user_id, **claims)}"}


class _Counting(SessionResolver):
    """A resolver that counts how often it is asked."""

    calls = 0

    # ``resolve`` is a twin method (a descriptor): a plain override works, typed as one.
    def resolve(self, request: RequestCredentials) -> ResolvedSession | None:  # type: ignore[override]
        self.calls += 1
        return super().resolve(request)


# -- FastAPI -------------------------------------------------------------------------


def test_fastapi_dependencies(store: auth_store.Adapter, ann: User) -> None:
    assert ann.id is not None
    resolver = _Counting(authjs_resolver(store=store, secret=SECRET).strategies)
    sessions = FrontendSessions(resolver)
    app = FastAPI()

    @app.get("/both")
    def both(
        user: Annotated[User, Depends(sessions.current_user)],
        found: Annotated[ResolvedSession, Depends(sessions.current_session)],
        maybe: Annotated[User | None, Depends(sessions.optional_user)],
    ) -> dict[str, Any]:
        return {"email": user.email, "strategy": found.strategy, "same": maybe == user}

    @app.get("/maybe")
    def maybe(user: Annotated[User | None, Depends(sessions.optional_user)]) -> dict[str, Any]:
        return {"email": user.email if user else None}

    client = TestClient(app)
    response = client.get("/both", headers=_cookie(ann.id))
    assert response.json() == {"email": "ann@example.com", "strategy": "authjs-jwt", "same": True}
    assert resolver.calls == 1  # three dependencies, one resolution
    denied = client.get("/both")
    assert denied.status_code == 401
    assert denied.headers["www-authenticate"] == "Bearer"
    assert client.get("/maybe").json() == {"email": None}
    assert client.get("/maybe", headers=_cookie(ann.id)).json() == {"email": "ann@example.com"}


def test_fastapi_current_user_without_a_store_is_a_configuration_error() -> None:
    sessions = FrontendSessions(authjs_resolver(secret=SECRET))
    app = FastAPI()

    @app.get("/me")
    def me(user: Annotated[User, Depends(sessions.current_user)]) -> str:
        return user.email

    @app.get("/claims")
    def claims(
        found: Annotated[ResolvedSession, Depends(sessions.current_session)],
    ) -> Mapping[str, Any]:
        return {"sub": found.user_id, "name": found.claims.get("name")}

    client = TestClient(app)
    assert client.get("/claims", headers=_cookie("u-1", name="Ann")).json() == {
        "sub": "u-1",
        "name": "Ann",
    }
    with pytest.raises(ConfigurationError, match="without a store"):
        client.get("/me", headers=_cookie("u-1"))


# -- Flask ---------------------------------------------------------------------------


def _flask_app(resolver: SessionResolver) -> tuple[Flask, FlaskFrontendSessions]:
    app = Flask(__name__)
    sessions = FlaskFrontendSessions(app, resolver=resolver)

    @app.get("/me")
    @sessions.required
    def me() -> dict[str, Any]:
        found = get_frontend_sessions().session()
        assert found is not None
        user = sessions.user()
        return {
            "sub": found.user_id,
            "email": user.email if user else None,
            "transport": found.transport,
        }

    @app.get("/maybe")
    def maybe() -> dict[str, Any]:
        found = sessions.session()
        return {"sub": found.user_id if found else None}

    return app, sessions


def test_flask_helper(store: auth_store.Adapter, ann: User) -> None:
    assert ann.id is not None
    resolver = _Counting(authjs_resolver(store=store, secret=SECRET).strategies)
    app, _ = _flask_app(resolver)
    client = app.test_client()
    client.set_cookie(PLAIN, _token(ann.id))
    response = client.get("/me")
    assert response.status_code == 200
    assert response.json == {"sub": ann.id, "email": "ann@example.com", "transport": "cookie"}
    assert resolver.calls == 1  # required, session() and user(): one resolution
    client.delete_cookie(PLAIN)
    bearer = client.get("/me", headers={"Authorization": f"Bearer {_token(ann.id)}"})
    assert bearer.json is not None
    assert bearer.json["transport"] == "bearer"
    denied = client.get("/me")
    assert denied.status_code == 401
    assert denied.headers["WWW-Authenticate"] == "Bearer"
    assert denied.json == {"detail": "Please sign in."}
    assert client.get("/maybe").json == {"sub": None}
    store.delete_user(ann.id)
    client.set_cookie(PLAIN, _token(ann.id))
    assert client.get("/me").status_code == 401


def test_flask_user_without_a_store_is_a_configuration_error() -> None:
    app, sessions = _flask_app(authjs_resolver(secret=SECRET))
    with app.test_request_context("/", headers=_cookie("u-1")):
        found = sessions.session()
        assert found is not None
        assert found.user_id == "u-1"
        with pytest.raises(ConfigurationError, match="without a store"):
            sessions.user()
    with app.test_request_context("/"):
        assert sessions.user() is None


def test_flask_setup_errors() -> None:
    with pytest.raises(ConfigurationError, match="resolver"):
        FlaskFrontendSessions(Flask(__name__))
    with (
        Flask(__name__).test_request_context("/"),
        pytest.raises(RuntimeError, match="FrontendSessions"),
    ):
        get_frontend_sessions()
    async_resolver: Any = auth_store.aio.authjs_resolver(secret=SECRET)
    with pytest.raises(ConfigurationError, match="sync resolver"):
        FlaskFrontendSessions(Flask(__name__), resolver=async_resolver)
    late = FlaskFrontendSessions()
    app = Flask(__name__)
    late.init_app(app, resolver=authjs_resolver(secret=SECRET))
    with app.test_request_context("/"):
        assert get_frontend_sessions() is late


# -- Better Auth, and both front ends at once ------------------------------------------------

BETTER_AUTH_SECRET = "secret-of-the-better-auth-app-0123456789abcdef"


@pytest.fixture
def shared(tmp_path: Path) -> Iterator[auth_store.Adapter]:
    """A store in Better Auth's tables, as a Better Auth app shares it."""
    with auth_store.connect(f"sqlite:///{tmp_path}/app.db?flavor=better-auth") as adapter:
        yield adapter


def _both(store: auth_store.Adapter) -> SessionResolver:
    """Sessions of an Auth.js front end and of a Better Auth one."""
    return SessionResolver(
        [
            *authjs_resolver(store=store, secret=SECRET).strategies,
            *better_auth.better_auth_resolver(store=store, secret=BETTER_AUTH_SECRET).strategies,
        ]
    )


def test_fastapi_reads_better_auth_cookies_and_bearer_tokens(shared: auth_store.Adapter) -> None:
    bea = shared.create_user(User(email="bea@example.com", name="Bea"))
    token = SessionManager(shared).create(bea).token
    signed = better_auth.sign_cookie(token, BETTER_AUTH_SECRET)
    sessions = FrontendSessions(_both(shared))
    app = FastAPI()

    @app.get("/me")
    def me(found: Annotated[ResolvedSession, Depends(sessions.current_session)]) -> Any:
        assert found.user is not None
        return {"email": found.user.email, "how": [found.strategy, found.transport]}

    client = TestClient(app)
    cookie = {"Cookie": f"better-auth.session_token={better_auth.encode_cookie_value(signed)}"}
    expected = {"email": "bea@example.com", "how": ["better-auth", "cookie"]}
    assert client.get("/me", headers=cookie).json() == expected
    secure = {"Cookie": f"__Secure-better-auth.session_token={signed}"}
    assert client.get("/me", headers=secure).json() == expected
    bearer = client.get("/me", headers={"Authorization": f"Bearer {signed}"})
    assert bearer.json() == {"email": "bea@example.com", "how": ["better-auth", "bearer"]}
    forged = better_auth.sign_cookie(token, "another secret of 32 characters or more")
    denied = client.get("/me", headers={"Cookie": f"better-auth.session_token={forged}"})
    assert denied.status_code == 401
    assert client.get("/me", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    # The Auth.js front end's JWT still works beside it.
    assert client.get("/me", headers=_cookie(bea.id)).json() == {
        "email": "bea@example.com",
        "how": ["authjs-jwt", "cookie"],
    }
    SessionManager(shared).revoke(token)  # signed out: the cookie no longer works
    assert client.get("/me", headers=cookie).status_code == 401


def test_flask_reads_better_auth_cookies_and_bearer_tokens(shared: auth_store.Adapter) -> None:
    bea = shared.create_user(User(email="bea@example.com", name="Bea"))
    token = SessionManager(shared).create(bea).token
    signed = better_auth.sign_cookie(token, BETTER_AUTH_SECRET)
    resolver = _Counting(
        better_auth.better_auth_resolver(store=shared, secret=BETTER_AUTH_SECRET).strategies
    )
    app, _ = _flask_app(resolver)
    client = app.test_client()
    client.set_cookie("better-auth.session_token", better_auth.encode_cookie_value(signed))
    assert client.get("/me").json == {
        "sub": bea.id,
        "email": "bea@example.com",
        "transport": "cookie",
    }
    assert resolver.calls == 1
    client.delete_cookie("better-auth.session_token")
    bearer = client.get("/me", headers={"Authorization": f"Bearer {signed}"})
    assert bearer.json is not None
    assert bearer.json["transport"] == "bearer"
    raw = client.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert raw.status_code == 200  # the token alone, as Better Auth's bearer plugin takes it
    shared.update_user(bea.id, extra={"disabled": True})
    assert client.get("/me", headers={"Authorization": f"Bearer {signed}"}).status_code == 401


# -- what each module needs installed --------------------------------------------------

_BLOCK = """
import importlib.abc, sys
BLOCKED = set(sys.argv[1].split(","))
class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, Blocker())
"""

#: Everything an extra installs (and the base install does not).
_EXTRAS = "fastapi,starlette,pydantic,flask,werkzeug,authlib,click,rich,psycopg,psycopg_pool,httpx"


def _python(code: str, blocked: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-W", "error", "-c", _BLOCK + code, blocked],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
        check=False,
    )


def test_authjs_better_auth_and_the_resolver_work_on_a_base_install() -> None:
    code = """
from auth_store import authjs, better_auth
from auth_store.session_resolver import RequestCredentials
assert better_auth.verify_cookie(better_auth.sign_cookie("t", "k" * 32), "k" * 32) == "t"
token = authjs.encode({"sub": "u"}, secret="s" * 32, salt="authjs.session-token")
resolver = authjs.authjs_resolver(secret="s" * 32)
found = resolver.resolve(RequestCredentials(cookies={"authjs.session-token": token}))
assert found is not None and found.user_id == "u"
print("ok", sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED))
"""
    done = _python(code, _EXTRAS)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok []"
