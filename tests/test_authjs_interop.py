"""Auth.js sessions against the real JavaScript packages (``tests/js``, see tests/node.py).

- ``@auth/core/jwt`` 0.41: tokens it encodes decode here and tokens encoded
  here decode there, with one secret and with rotation, for the secure and
  the plain cookie name, and for payloads large enough to chunk (chunks
  compared with ``@auth/core``'s own ``SessionStore``);
- ``next-auth@4``'s ``next-auth/jwt``: the v4 format, both ways;
- a real Auth.js app, ``Auth()`` from ``@auth/core`` with the Credentials
  provider and the JWT strategy, served by ``node:http``: its sign-in cookie
  is accepted by the FastAPI example (``examples/nextjs_backend.py``) over real
  HTTP, and a token made here is a session to it;
- a database session written by the real ``@auth/pg-adapter`` on Postgres,
  read by the same example.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from fastapi import FastAPI
from joserfc.jwe import JWERegistry, encrypt_compact
from joserfc.jwk import OctKey, thumbprint
from joserfc.util import urlsafe_b64encode

import auth_store
from auth_store import User, authjs
from auth_store.authjs import ExpiredTokenError, InvalidTokenError
from auth_store.session_resolver import RequestCredentials
from examples.nextjs_backend import create_app
from tests.node import JS_DIR, node_modules, run_node
from tests.pg import conninfo, fresh_postgres_url, schema_of

SECRET = "secret-of-the-next-js-app-0123456789abcdef"
OLD_SECRET = "the-secret-before-rotation-0123456789abcdef"
PLAIN = "authjs.session-token"
SECURE = "__Secure-authjs.session-token"
PAYLOAD = {
    "name": "Zoë Ærø 🙂",
    "email": "zoe@example.com",
    "picture": "https://example.com/z.png",
    "sub": "5f1c0b1e-8f7a-4c55-9c1e-1f9b3a0e2d44",
    "roles": ["admin", "editor"],
    "nested": {"a": [1, 2.5, None, True], "b": {}},
}
BIG = {**PAYLOAD, "groups": [f"group-{i:04d}" for i in range(900)]}  # ~12 KB: 5 chunks
#: Small enough for Node's HTTP server, which refuses more than 16 KiB of headers (431).
MEDIUM = {**PAYLOAD, "groups": [f"group-{i:04d}" for i in range(500)]}  # 3 chunks


def _jwt(*ops: dict[str, Any]) -> list[dict[str, Any]]:
    """Run operations through @auth/core/jwt and next-auth@4's next-auth/jwt in one process."""
    result: list[dict[str, Any]] = run_node("authjs_jwt.mjs", list(ops))
    return result


def _cookies(*ops: dict[str, Any]) -> list[Any]:
    result: list[Any] = run_node("authjs_cookies.mjs", list(ops))
    return result


def _payload_of(claims: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in claims.items() if k not in {"iat", "exp", "jti"}}


# -- @auth/core/jwt, both ways -----------------------------------------------------

SECRETS = {"one secret": SECRET, "rotation": [SECRET, OLD_SECRET]}


@pytest.mark.parametrize("salt", [PLAIN, SECURE])
@pytest.mark.parametrize("secret", list(SECRETS.values()), ids=list(SECRETS))
def test_tokens_encoded_by_auth_core_decode_here(salt: str, secret: str | list[str]) -> None:
    made = _jwt(
        {"op": "encode", "payload": PAYLOAD, "secret": secret, "salt": salt},
        {"op": "encode", "payload": BIG, "secret": secret, "salt": salt},
        {"op": "encode", "payload": PAYLOAD, "secret": OLD_SECRET, "salt": salt},
    )
    small, big, by_old = (entry["token"] for entry in made)
    assert len(big) > 3 * authjs.CHUNK_SIZE
    for token, payload in ((small, PAYLOAD), (big, BIG)):
        claims = authjs.decode(token, secret=secret, salt=salt)
        assert _payload_of(claims) == payload
        assert claims["exp"] - claims["iat"] == authjs.DEFAULT_MAX_AGE
    if isinstance(secret, list):
        # A token made before the rotation, with the old secret, still reads.
        assert _payload_of(authjs.decode(by_old, secret=secret, salt=salt)) == PAYLOAD
        # The newest secret made the new tokens: the old one alone does not read them.
        with pytest.raises(InvalidTokenError):
            authjs.decode(small, secret=OLD_SECRET, salt=salt)
    other = SECURE if salt == PLAIN else PLAIN
    with pytest.raises(InvalidTokenError) as caught:
        authjs.decode(small, secret=secret, salt=other)
    assert caught.value.reason == "unknown_secret"


@pytest.mark.parametrize("salt", [PLAIN, SECURE])
@pytest.mark.parametrize("secret", list(SECRETS.values()), ids=list(SECRETS))
def test_tokens_encoded_here_decode_in_auth_core(salt: str, secret: str | list[str]) -> None:
    small = authjs.encode(PAYLOAD, secret=secret, salt=salt, max_age=3600)
    big = authjs.encode(BIG, secret=secret, salt=salt)
    by_old = authjs.encode(PAYLOAD, secret=OLD_SECRET, salt=salt)
    other = SECURE if salt == PLAIN else PLAIN
    decoded = _jwt(
        {"op": "decode", "token": small, "secret": secret, "salt": salt},
        {"op": "decode", "token": big, "secret": secret, "salt": salt},
        {"op": "decode", "token": by_old, "secret": [SECRET, OLD_SECRET], "salt": salt},
        {"op": "decode", "token": small, "secret": secret, "salt": other},
        {"op": "decode", "token": small, "secret": "not-the-secret", "salt": salt},
    )
    assert decoded[0]["payload"] == authjs.decode(small, secret=secret, salt=salt)
    assert decoded[0]["payload"]["exp"] - decoded[0]["payload"]["iat"] == 3600
    assert _payload_of(decoded[1]["payload"]) == BIG
    assert _payload_of(decoded[2]["payload"]) == PAYLOAD
    assert "no matching decryption secret" in decoded[3]["error"]
    assert "no matching decryption secret" in decoded[4]["error"]


def test_expiry_and_its_tolerance_agree_with_auth_core() -> None:
    made = _jwt(
        {"op": "encode", "payload": PAYLOAD, "secret": SECRET, "salt": PLAIN, "maxAge": -10},
        {"op": "encode", "payload": PAYLOAD, "secret": SECRET, "salt": PLAIN, "maxAge": -30},
    )
    within, beyond = (entry["token"] for entry in made)
    assert authjs.decode(within, secret=SECRET, salt=PLAIN)["sub"] == PAYLOAD["sub"]
    with pytest.raises(ExpiredTokenError):
        authjs.decode(beyond, secret=SECRET, salt=PLAIN)
    ours_within = authjs.encode(PAYLOAD, secret=SECRET, salt=PLAIN, max_age=-10)
    ours_beyond = authjs.encode(PAYLOAD, secret=SECRET, salt=PLAIN, max_age=-30)
    decoded = _jwt(
        {"op": "decode", "token": ours_within, "secret": SECRET, "salt": PLAIN},
        {"op": "decode", "token": ours_beyond, "secret": SECRET, "salt": PLAIN},
    )
    assert decoded[0]["payload"]["sub"] == PAYLOAD["sub"]
    assert '"exp" claim timestamp check failed' in decoded[1]["error"]


def test_an_a256gcm_token_reads_here_as_in_auth_core() -> None:
    # @auth/core's decode takes enc A256GCM too (a 32-byte key from the same
    # derivation, kid a SHA-256 thumbprint); so does this one.
    key = HKDF(SHA256(), 32, PLAIN.encode(), f"Auth.js Generated Encryption Key ({PLAIN})".encode())
    raw = key.derive(SECRET.encode())
    kid = thumbprint({"kty": "oct", "k": urlsafe_b64encode(raw).decode()}, "sha256")
    claims = {**PAYLOAD, "iat": int(time.time()), "exp": int(time.time()) + 60}
    token = encrypt_compact(
        {"alg": "dir", "enc": "A256GCM", "kid": kid},
        json.dumps(claims).encode(),
        OctKey.import_key(raw),
        registry=JWERegistry(algorithms=["dir", "A256GCM"]),
    )
    (decoded,) = _jwt({"op": "decode", "token": token, "secret": SECRET, "salt": PLAIN})
    assert decoded["payload"] == claims
    assert authjs.decode(token, secret=SECRET, salt=PLAIN) == claims


# -- next-auth 4 ------------------------------------------------------------------


@pytest.mark.parametrize("salt", ["", "next-auth.session-token"])
def test_the_v4_format_both_ways_with_next_auth_4(salt: str) -> None:
    ours = authjs.encode_v4(PAYLOAD, secret=SECRET, salt=salt, max_age=600)
    results = _jwt(
        {"op": "encode", "format": "v4", "payload": PAYLOAD, "secret": SECRET, "salt": salt},
        {"op": "encode", "format": "v4", "payload": BIG, "secret": SECRET, "salt": salt},
        {"op": "decode", "format": "v4", "token": ours, "secret": SECRET, "salt": salt},
        {"op": "decode", "format": "v4", "token": ours, "secret": OLD_SECRET, "salt": salt},
    )
    theirs, theirs_big = results[0]["token"], results[1]["token"]
    assert _payload_of(authjs.decode_v4(theirs, secret=SECRET, salt=salt)) == PAYLOAD
    assert _payload_of(authjs.decode_v4(theirs_big, secret=SECRET, salt=salt)) == BIG
    assert results[2]["payload"] == authjs.decode_v4(ours, secret=SECRET, salt=salt)
    assert results[2]["payload"]["exp"] - results[2]["payload"]["iat"] == 600
    assert "error" in results[3]
    with pytest.raises(InvalidTokenError):
        authjs.decode_v4(theirs, secret=OLD_SECRET, salt=salt)
    assert _payload_of(authjs.decode_v4(theirs, secret=[OLD_SECRET, SECRET], salt=salt)) == PAYLOAD


# -- cookies ------------------------------------------------------------------------


def test_chunks_are_those_of_auth_core_s_session_store() -> None:
    token = authjs.encode(BIG, secret=SECRET, salt=PLAIN)
    short = authjs.encode(PAYLOAD, secret=SECRET, salt=PLAIN)
    previous = {f"{PLAIN}.{i}": "old" for i in range(6)}
    cases = [
        (token, {}),
        (token, previous),
        (token, {PLAIN: "old"}),
        (short, previous),
        ("x" * authjs.CHUNK_SIZE, {}),
        ("x" * (authjs.CHUNK_SIZE + 1), {}),
    ]
    theirs = _cookies(
        *({"op": "chunk", "name": PLAIN, "value": value, "cookies": old} for value, old in cases)
    )
    for (value, old), written in zip(cases, theirs, strict=True):
        ours = authjs.session_cookie_writes(PLAIN, value, present=old)
        assert sorted(ours.set) == sorted(
            (c["name"], c["value"]) for c in written if not c["cleared"]
        )
        assert ours.clear == sorted(c["name"] for c in written if c["cleared"])


def test_chunked_cookies_read_back_as_auth_core_reads_them() -> None:
    token = authjs.encode(BIG, secret=SECRET, salt=SECURE)
    jar = dict(authjs.session_cookie_writes(SECURE, token).set)
    jar["__Secure-authjs.csrf-token"] = "unrelated"
    reversed_jar = dict(reversed(list(jar.items())))
    theirs = _cookies(
        {"op": "read", "name": SECURE, "cookies": reversed_jar},
        {"op": "read", "name": PLAIN, "cookies": {PLAIN: "whole"}},
    )
    assert theirs[0] == authjs.read_session_cookie(reversed_jar, SECURE) == token
    assert theirs[1] == authjs.read_session_cookie({PLAIN: "whole"}, PLAIN) == "whole"
    (decoded,) = _jwt({"op": "decode", "token": theirs[0], "secret": SECRET, "salt": SECURE})
    assert _payload_of(decoded["payload"]) == BIG


def test_secrets_from_the_environment_in_auth_core_s_order() -> None:
    environments = [
        {"AUTH_SECRET": "base"},
        {"AUTH_SECRET": "base", "AUTH_SECRET_1": "one"},
        {
            "AUTH_SECRET": "base",
            "AUTH_SECRET_1": "one",
            "AUTH_SECRET_2": "two",
            "AUTH_SECRET_3": "3",
        },
        {"AUTH_SECRET_2": "two"},
    ]
    theirs = _cookies(*({"op": "env", "env": env} for env in environments))
    assert theirs == [authjs.secret_from_env(env) for env in environments]


# -- a real Auth.js app, end to end over HTTP -------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def _auth_js_app(config: dict[str, Any]) -> Iterator[str]:
    """``tests/js/authjs_server.mjs`` (Auth() on node:http) running; yields its base URL."""
    node_modules()
    process = subprocess.Popen(
        ["node", str(JS_DIR / "authjs_server.mjs")],
        cwd=JS_DIR,
        env={**os.environ, "AUTHJS_SERVER_CONFIG": json.dumps(config)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            pytest.fail(
                f"the Auth.js app did not start: {process.stderr.read() if process.stderr else ''}"
            )
        yield f"http://127.0.0.1:{json.loads(line)['port']}"
    finally:
        process.terminate()
        process.wait(timeout=10)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


@contextlib.contextmanager
def _serve(app: FastAPI) -> Iterator[str]:
    """The FastAPI app under uvicorn on a free port; yields its base URL."""
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the example app did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _set_cookies(response: httpx.Response) -> dict[str, str]:
    """The cookies a response sets, by name (kept by hand: __Secure- over plain HTTP too)."""
    jar = {}
    for header in response.headers.get_list("set-cookie"):
        name, _, value = header.split(";", 1)[0].partition("=")
        jar[name.strip()] = value.strip()
    return jar


def _cookie_header(jar: dict[str, str]) -> str:
    return "; ".join(f"{name}={value}" for name, value in jar.items() if value)


def _sign_in(base: str, username: str, password: str) -> dict[str, str]:
    """Sign in to the Auth.js app as a browser does; the cookies it holds afterwards."""
    with httpx.Client(base_url=base, timeout=30) as client:
        csrf = client.get("/auth/csrf")
        assert csrf.status_code == 200
        jar = _set_cookies(csrf)
        signed_in = client.post(
            "/auth/callback/credentials",
            data={
                "csrfToken": csrf.json()["csrfToken"],
                "username": username,
                "password": password,
            },
            headers={"Cookie": _cookie_header(jar)},
        )
        assert signed_in.status_code == 302, signed_in.text
        jar.update(_set_cookies(signed_in))
        return jar


@pytest.fixture
def store(tmp_path: Path) -> Iterator[auth_store.Adapter]:
    with auth_store.connect(f"sqlite:///{tmp_path}/auth.db") as adapter:
        yield adapter


@pytest.mark.parametrize(
    ("secure", "big_claim"),
    [(False, 0), (True, 0), (False, 9000)],
    ids=["plain cookie", "secure cookie", "chunked cookie"],
)
def test_an_auth_js_sign_in_is_a_session_for_the_fastapi_example(
    store: auth_store.Adapter, secure: bool, big_claim: int
) -> None:
    ann = store.create_user(User(email="ann@example.com", name="Ann"))
    assert ann.id is not None
    config = {
        "secret": [SECRET, OLD_SECRET],
        "useSecureCookies": secure,
        "bigClaim": big_claim,
        "users": [
            {"username": "ann", "password": "pw", "id": ann.id, "email": ann.email, "name": "Ann"},
            {"username": "ghost", "password": "pw", "id": "not-in-the-store", "email": "g@x.io"},
        ],
    }
    name = SECURE if secure else PLAIN
    with (
        _auth_js_app(config) as auth_js,
        _serve(create_app(store, secret=[SECRET, OLD_SECRET])) as api,
    ):
        jar = _sign_in(auth_js, "ann", "pw")
        session_cookies = {k: v for k, v in jar.items() if k.startswith(name) and v}
        if big_claim:
            assert sorted(session_cookies) == [f"{name}.{i}" for i in range(len(session_cookies))]
            assert len(session_cookies) >= 3
        else:
            assert list(session_cookies) == [name]
        with httpx.Client(base_url=api, timeout=30) as client:
            me = client.get("/api/me", headers={"Cookie": _cookie_header(jar)})
            assert me.status_code == 200, me.text
            assert me.json() == {
                "id": ann.id,
                "email": "ann@example.com",
                "name": "Ann",
                "image": None,
            }
            session = client.get("/api/session", headers={"Cookie": _cookie_header(jar)}).json()
            assert (session["user_id"], session["strategy"], session["transport"]) == (
                ann.id,
                "authjs-jwt",
                "cookie",
            )
            token = authjs.read_session_cookie(jar, name)
            assert token is not None
            bearer = client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
            assert bearer.status_code == 200
            assert bearer.json()["email"] == "ann@example.com"
            anonymous = client.get("/api/me")
            assert anonymous.status_code == 401
            assert anonymous.headers["www-authenticate"] == "Bearer"
            # A signed-in user the store does not know is refused.
            ghost = _sign_in(auth_js, "ghost", "pw")
            assert (
                client.get("/api/me", headers={"Cookie": _cookie_header(ghost)}).status_code == 401
            )
            # Deleting the user ends their stateless session here at once.
            store.delete_user(ann.id)
            assert client.get("/api/me", headers={"Cookie": _cookie_header(jar)}).status_code == 401


def test_a_token_made_here_is_a_session_for_the_auth_js_app() -> None:
    config = {"secret": SECRET, "users": []}
    with _auth_js_app(config) as auth_js, httpx.Client(base_url=auth_js, timeout=30) as client:
        for payload in (PAYLOAD, MEDIUM):
            token = authjs.encode(payload, secret=SECRET, salt=PLAIN)
            jar = dict(authjs.session_cookie_writes(PLAIN, token).set)
            assert len(jar) == (1 if payload is PAYLOAD else 3)
            response = client.get("/auth/session", headers={"Cookie": _cookie_header(jar)})
            assert response.status_code == 200
            session = response.json()
            assert session["user"] == {
                "name": PAYLOAD["name"],
                "email": PAYLOAD["email"],
                "image": PAYLOAD["picture"],
                "id": PAYLOAD["sub"],
            }
            # Auth.js slid the session: the cookie it sends back decodes here.
            renewed = authjs.read_session_cookie(_set_cookies(response), PLAIN)
            assert renewed is not None
            assert _payload_of(authjs.decode(renewed, secret=SECRET, salt=PLAIN)) == payload
        forged = authjs.encode(PAYLOAD, secret="another-secret", salt=PLAIN)
        response = client.get("/auth/session", headers={"Cookie": f"{PLAIN}={forged}"})
        assert response.json() is None


def test_an_oversized_cookie_is_a_401_not_an_error(store: auth_store.Adapter) -> None:
    from fastapi.testclient import TestClient

    ann = store.create_user(User(email="ann@example.com"))
    assert ann.id is not None
    token = authjs.encode({"sub": ann.id}, secret=SECRET, salt=PLAIN)
    with TestClient(create_app(store, secret=SECRET)) as client:
        assert client.get("/api/me", headers={"Cookie": f"{PLAIN}={token}"}).status_code == 200
        huge = token + "A" * (1 << 20)
        response = client.get("/api/me", headers={"Cookie": f"{PLAIN}={huge}"})
        assert response.status_code == 401
        chunks = dict(authjs.session_cookie_writes(PLAIN, huge).set)
        response = client.get("/api/me", headers={"Cookie": _cookie_header(chunks)})
        assert response.status_code == 401
        bearer = client.get("/api/me", headers={"Authorization": f"Bearer {huge}"})
        assert bearer.status_code == 401


# -- a database session of the real @auth/pg-adapter --------------------------------------


def test_a_database_session_of_auth_js_s_pg_adapter() -> None:
    with fresh_postgres_url() as postgres_url, auth_store.connect(postgres_url) as store:
        written = run_node(
            "authjs_pg_session.mjs",
            {
                "connectionString": conninfo(postgres_url),
                "schema": schema_of(postgres_url),
                "email": "ann@example.com",
                "name": "Ann",
            },
        )
        with _serve(create_app(store, secret=SECRET)) as api, httpx.Client(base_url=api) as client:
            cookie = {"Cookie": f"{SECURE}={written['sessionToken']}"}
            me = client.get("/api/me", headers=cookie)
            assert me.status_code == 200, me.text
            assert me.json()["id"] == written["userId"]
            assert me.json()["email"] == "ann@example.com"
            session = client.get("/api/session", headers=cookie).json()
            assert session["strategy"] == "authjs-database"
            bearer = {"Authorization": f"Bearer {written['sessionToken']}"}
            assert client.get("/api/me", headers=bearer).status_code == 200
            store.delete_session(written["sessionToken"])
            assert client.get("/api/me", headers=cookie).status_code == 401
        # Values Postgres refuses (NUL) or cannot encode name nobody; they are not errors.
        resolver = authjs.authjs_resolver(store=store, secret=SECRET)
        for odd in ("\x00", "a\x00b", "\udc80", "é" * 100):
            assert resolver.resolve(RequestCredentials(cookies={PLAIN: odd})) is None
            assert resolver.resolve(RequestCredentials(authorization=f"Bearer {odd}")) is None
