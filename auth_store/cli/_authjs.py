"""``auth-store authjs``: mint and decode a Next.js app's Auth.js session tokens.

The secret is read from the environment as Auth.js reads it: ``AUTH_SECRET``,
with ``AUTH_SECRET_1`` to ``AUTH_SECRET_3`` while rotating (the highest
number is the newest and encrypts); ``NEXTAUTH_SECRET`` for next-auth 4. It is
never taken on the command line nor printed. A token is a credential: ``mint``
prints it because that is what it is for; ``decode`` reads it from standard
input, never from an argument that would land in shell history.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import click
from rich.console import Console

from auth_store import authjs
from auth_store.authjs import InvalidTokenError

from ._common import BadUsage, State, emit, fail, pass_state

FC = TypeVar("FC", bound=Callable[..., Any])

#: The most read from standard input: a Cookie header with a session at the size limit.
_MAX_INPUT = 4 * authjs.MAX_TOKEN_SIZE


def _names(cookie_name: str | None, secure: bool | None, v4: bool) -> list[str]:
    if cookie_name:
        return [cookie_name]
    if secure is None:
        return [authjs.session_cookie_name(secure=s, v4=v4) for s in (True, False)]
    return [authjs.session_cookie_name(secure=secure, v4=v4)]


def _when(seconds: Any) -> str | None:
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        return None
    if not math.isfinite(seconds):
        return None
    try:
        return datetime.fromtimestamp(seconds, UTC).isoformat()
    except (OverflowError, OSError, ValueError):
        return None


def _name_option(default: str) -> Callable[[FC], FC]:
    return click.option(
        "--cookie-name",
        metavar="NAME",
        help=f"The session cookie's name; for v5 tokens also the key's salt [default: {default}].",
    )


_V4 = click.option(
    "--v4",
    is_flag=True,
    help="next-auth 4's format and cookie names (secret from NEXTAUTH_SECRET, else AUTH_SECRET).",
)


@click.group("authjs")
def authjs_group() -> None:
    """Mint and decode Auth.js (NextAuth) session tokens (secret from AUTH_SECRET).

    The secret is the Next.js app's, read as Auth.js reads it: AUTH_SECRET, and
    while rotating AUTH_SECRET_1 to AUTH_SECRET_3 (the highest number is the
    newest: it encrypts, every one decrypts). With --v4: NEXTAUTH_SECRET, else
    AUTH_SECRET. The secret is never printed.
    """


@authjs_group.command("mint")
@click.option("--sub", required=True, metavar="ID", help="The user id (the token's sub claim).")
@click.option(
    "--claims",
    "claims_json",
    metavar="JSON",
    help='More claims, as a JSON object: \'{"name": "Ann", "email": "ann@example.com"}\'.',
)
@click.option(
    "--max-age",
    type=click.IntRange(min=1),
    default=authjs.DEFAULT_MAX_AGE,
    show_default=True,
    metavar="SECONDS",
    help="Seconds until the token expires.",
)
@click.option(
    "--secure",
    is_flag=True,
    help="For an HTTPS app: the __Secure- cookie name (and salt).",
)
@_name_option("authjs.session-token, or __Secure-authjs.session-token with --secure")
@_V4
@click.option(
    "--cookie",
    "as_cookie",
    is_flag=True,
    help="Print a Cookie header value (name=token, in chunks when long) instead of the token.",
)
@pass_state
def mint_command(
    state: State,
    sub: str,
    claims_json: str | None,
    max_age: int,
    secure: bool,
    cookie_name: str | None,
    v4: bool,
    as_cookie: bool,
) -> None:
    """Print a new session token for the user SUB, as the Next.js app would issue it.

    Use it in scripts and tests (curl -H "Cookie: $(auth-store authjs mint --sub ID --cookie)"),
    or to reproduce a user's session in support work. The token is a credential.
    """
    claims: Any = {}
    if claims_json:
        try:
            claims = json.loads(claims_json)
        except json.JSONDecodeError as exc:
            raise BadUsage(f"--claims is not JSON: {exc.msg}") from None
        if not isinstance(claims, dict):
            raise BadUsage("--claims must be a JSON object")
    if not sub:
        raise BadUsage("--sub must not be empty")
    name = _names(cookie_name, secure, v4)[0]
    secret = authjs.secret_from_env(v4=v4)
    payload = {**claims, "sub": sub}
    if v4:
        token = authjs.encode_v4(payload, secret=secret, max_age=max_age)
    else:
        token = authjs.encode(payload, secret=secret, salt=name, max_age=max_age)
    writes = authjs.session_cookie_writes(
        name, token, chunk_size=authjs.V4_CHUNK_SIZE if v4 else authjs.CHUNK_SIZE
    )
    header = "; ".join(f"{cookie}={value}" for cookie, value in writes.set)
    if state.json:
        data = {"token": token, "cookie_name": name, "cookie": header, "max_age": max_age}
        emit(state, data, lambda console: None)
        return
    click.echo(header if as_cookie else token)


def _parse_cookie_header(text: str) -> dict[str, str]:
    cookies: dict[str, str] = {}
    for part in text.split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name:
            cookies[name.strip()] = value.strip().strip('"')
    return cookies


@authjs_group.command("decode")
@click.option(
    "--secure/--plain",
    default=None,
    help="Which cookie name (and salt) the token is for [default: try both].",
)
@_name_option("try __Secure-authjs.session-token and authjs.session-token")
@_V4
@pass_state
def decode_command(state: State, secure: bool | None, cookie_name: str | None, v4: bool) -> None:
    """Decode a session token read from standard input, and check it.

    The input is a token, or a Cookie header value (as copied from a browser's
    developer tools), whose session cookie, chunked or not, is read. Prints
    the claims and when the token expires. Exit 1 when the token is refused
    (expired, tampered, or made with another secret or cookie name).
    """
    text = sys.stdin.read(_MAX_INPUT).strip()
    if text.lower().startswith("cookie:"):
        text = text[len("cookie:") :].strip()
    names = _names(cookie_name, secure, v4)
    candidates: list[tuple[str, str]] = []
    if "=" in text:  # a Cookie header: a token has no "="
        cookies = _parse_cookie_header(text)
        for name in names:
            value = authjs.read_session_cookie(cookies, name)
            if value:
                candidates.append((name, value))
        if not candidates:
            fail(f"no {' or '.join(names)} cookie in the input")
    elif text:
        candidates = [(name, text) for name in names]
    else:
        raise BadUsage("give the token (or a Cookie header) on standard input")
    secret = authjs.secret_from_env(v4=v4)
    errors: list[InvalidTokenError] = []
    for name, token in candidates:
        try:
            if v4:
                claims = authjs.decode_v4(token, secret=secret)
            else:
                claims = authjs.decode(token, secret=secret, salt=name)
        except InvalidTokenError as exc:
            errors.append(exc)
            continue
        _print_claims(state, name, claims)
        return
    # The most telling refusal: a token that decrypted but expired beats "wrong salt".
    error = next((e for e in errors if e.reason != "unknown_secret"), errors[0])
    fail(f"refused ({error.reason}): {error}")


def _print_claims(state: State, name: str, claims: dict[str, Any]) -> None:
    data = {
        "cookie_name": name,
        "claims": claims,
        "issued_at": _when(claims.get("iat")),
        "expires": _when(claims.get("exp")),
    }

    def render(console: Console) -> None:
        console.print_json(json.dumps(claims, ensure_ascii=False))
        console.print(f"valid until {data['expires']} (cookie {name})", markup=False)

    emit(state, data, render)


COMMANDS = [authjs_group]
