"""``auth-store users``: create, list, show, delete, set-password, disable, enable.

A disabled user is one whose ``User.extra`` holds ``"disabled": true`` (with
``"disabled_at"``, an ISO 8601 UTC time); disabling also revokes every
session of the user, so they are signed out everywhere at once. Sign-in code
refuses such a user through ``auth_store.disabled.is_disabled``, the one rule
these commands use too. ``enable`` removes both keys.
"""

from __future__ import annotations

import itertools
import json
import sys
from collections.abc import Generator, Iterator
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from auth_store import clock
from auth_store.adapter import Adapter
from auth_store.disabled import disabled_extra, enabled_extra, is_disabled
from auth_store.models import User
from auth_store.passkey_store import PasskeyStore

from ._common import (
    BadUsage,
    State,
    emit,
    find_user,
    pass_state,
    user_dict,
)
from ._passkeys import passkey_dict, passkeys_table


def iter_users(store: Adapter) -> Iterator[User]:
    """Every user of a store (``export()`` yields users first, so this stops early)."""
    records = store.export()
    try:
        for record in records:
            if not isinstance(record, User):
                return
            yield record
    finally:
        if isinstance(records, Generator):
            records.close()  # release the backend's read snapshot now, not at garbage collection


def _read_password(from_stdin: bool, prompt: bool) -> str | None:
    if from_stdin:
        line = sys.stdin.readline()
        password = line.rstrip("\r\n")
        if not password:
            raise BadUsage("no password on stdin")
        return password
    if prompt:
        value: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        return value
    return None


def set_password(store: Adapter, user: User, password: str) -> None:
    """Hash and store ``password`` for ``user`` through ``auth_store.passwords``."""
    from auth_store.passwords import PasswordService

    PasswordService(store).set_password(str(user.id), password)


def _parse_extra(pairs: tuple[str, ...]) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise BadUsage(f"--extra takes KEY=VALUE, got {pair!r}")
        try:
            extra[key] = json.loads(raw)
        except json.JSONDecodeError:
            extra[key] = raw
    return extra


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"


def _disabled_since(user: User) -> str:
    if not is_disabled(user):
        return "no"
    since = user.extra.get("disabled_at")
    return f"yes, since {since}" if since else "yes"


@click.group("users")
def users_group() -> None:
    """Manage users."""


_PASSWORD_STDIN = click.option(
    "--password-stdin", is_flag=True, help="Read the password from the first line of stdin."
)


@users_group.command("create")
@click.argument("email")
@click.option("--name", help="Display name.")
@click.option("--image", help="Avatar URL.")
@click.option("--verified", is_flag=True, help="Mark the e-mail address as verified now.")
@click.option(
    "--extra",
    multiple=True,
    metavar="KEY=VALUE",
    help="A custom field (VALUE parsed as JSON when it is JSON); repeatable.",
)
@_PASSWORD_STDIN
@click.option("--prompt-password", is_flag=True, help="Ask for a password (hidden, twice).")
@pass_state
def create_command(
    state: State,
    email: str,
    name: str | None,
    image: str | None,
    verified: bool,
    extra: tuple[str, ...],
    password_stdin: bool,
    prompt_password: bool,
) -> None:
    """Create a user with EMAIL (optionally with a password)."""
    password = _read_password(password_stdin, prompt_password)
    store = state.open()
    user = store.create_user(
        User(
            email=email,
            name=name,
            image=image,
            email_verified=clock.now() if verified else None,
            extra=_parse_extra(extra),
        )
    )
    if password is not None:
        try:
            set_password(store, user, password)
        except BaseException:
            store.delete_user(str(user.id))  # no half-created user without its password
            raise
    data = {**user_dict(user), "password_set": password is not None}
    emit(state, data, lambda console: console.print(f"created user {user.id} <{user.email}>"))


@users_group.command("list")
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    default=100,
    show_default=True,
    help="At most this many users (0: all).",
)
@click.option("--search", metavar="TEXT", help="Only users whose e-mail or name contains TEXT.")
@pass_state
def list_command(state: State, limit: int, search: str | None) -> None:
    """List users: e-mail, id, name, whether the e-mail is verified, whether disabled.

    The last two columns read yes or no.
    """
    store = state.open()
    users: Iterator[User] = iter_users(store)
    if search:
        needle = search.lower()
        users = (u for u in users if needle in u.email or needle in (u.name or "").lower())
    chosen = list(itertools.islice(users, limit or None))

    def render(console: Console) -> None:
        table = Table(title=f"{len(chosen)} user(s)", title_justify="left")
        for column in ("email", "id", "name", "verified", "disabled"):
            table.add_column(column)
        for user in chosen:
            table.add_row(
                user.email,
                str(user.id),
                user.name or "",
                _yes_no(user.email_verified is not None),
                _yes_no(is_disabled(user)),
            )
        console.print(table)

    emit(state, [user_dict(u) for u in chosen], render)


@users_group.command("show")
@click.argument("user")
@pass_state
def show_command(state: State, user: str) -> None:
    """Show USER (an id or an e-mail) with its sessions, passkeys and credentials.

    Credentials are shown by type and version only, never their data.
    """
    store = state.open()
    found = find_user(store, user)
    uid = str(found.id)
    now = clock.now()
    sessions = store.list_sessions(uid)
    data = {
        **user_dict(found),
        "sessions": [
            {"id": s.id, "expires": s.expires.isoformat(), "expired": s.expires < now}
            for s in sessions
        ],
        "authenticators": [
            {
                "credential_id": a.credential_id,
                "counter": a.counter,
                "device_type": a.credential_device_type,
                "backed_up": a.credential_backed_up,
            }
            for a in store.list_authenticators_by_user_id(uid)
        ],
        "passkeys": [passkey_dict(p) for p in PasskeyStore(store).list(uid)],
        "credentials": [
            {
                "id": c.id,
                "type": c.type,
                "version": c.version,
                "updated_at": c.updated_at.isoformat() if c.updated_at else None,
            }
            for c in store.list_credentials(uid)
        ],
    }

    def render(console: Console) -> None:
        shown = {
            **data,
            "name": found.name or "-",
            "image": found.image or "-",
            "email_verified": data["email_verified"] or "no",
            "disabled": _disabled_since(found),
        }
        for key in ("id", "email", "name", "image", "email_verified", "disabled"):
            console.print(f"{key:>15}: {shown[key]}", markup=False)
        if found.extra:
            console.print(f"{'extra':>15}: {json.dumps(found.extra, sort_keys=True)}", markup=False)
        active = sum(1 for s in data["sessions"] if not s["expired"])
        console.print(f"{'sessions':>15}: {len(sessions)} ({active} active)")
        console.print(f"{'passkeys':>15}: {len(data['passkeys'])}")
        if data["passkeys"]:
            console.print(passkeys_table("passkeys", data["passkeys"]))
        kinds = ", ".join(f"{c['type']} v{c['version']}" for c in data["credentials"])
        console.print(f"{'credentials':>15}: {kinds or 'none'}", markup=False)

    emit(state, data, render)


@users_group.command("delete")
@click.argument("user")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_state
def delete_command(state: State, user: str, yes: bool) -> None:
    """Delete USER with its accounts, sessions, authenticators and credentials."""
    store = state.open()
    found = find_user(store, user)
    if not yes:
        click.confirm(f"Delete user {found.id} <{found.email}> and everything it owns?", abort=True)
    store.delete_user(str(found.id))
    emit(
        state,
        {"deleted": user_dict(found)},
        lambda console: console.print(f"deleted user {found.id} <{found.email}>"),
    )


@users_group.command("set-password")
@click.argument("user")
@_PASSWORD_STDIN
@click.option(
    "--hash-stdin",
    is_flag=True,
    help="Read an existing argon2 or bcrypt ($2a$/$2b$/$2y$) hash from stdin instead, e.g. "
    "from an Auth.js/Prisma app; it is upgraded to argon2id at the next sign-in.",
)
@pass_state
def set_password_command(state: State, user: str, password_stdin: bool, hash_stdin: bool) -> None:
    """Set the password of USER (asked for twice, hidden, unless read from stdin)."""
    if password_stdin and hash_stdin:
        raise BadUsage("give --password-stdin or --hash-stdin, not both")
    store = state.open()
    found = find_user(store, user)
    if hash_stdin:
        from auth_store.passwords import PasswordService

        hashed = sys.stdin.readline().strip()
        if not hashed:
            raise BadUsage("no hash on stdin")
        PasswordService(store).import_hash(str(found.id), hashed)
    else:
        password = _read_password(password_stdin, prompt=True)
        assert password is not None
        set_password(store, found, password)
    emit(
        state,
        {"id": found.id, "password_set": True, "imported_hash": hash_stdin},
        lambda console: console.print(f"password set for {found.email}"),
    )


@users_group.command("disable")
@click.argument("user")
@pass_state
def disable_command(state: State, user: str) -> None:
    """Disable USER: mark it disabled (extra.disabled) and revoke all its sessions."""
    store = state.open()
    found = find_user(store, user)
    updated = store.update_user(str(found.id), extra=disabled_extra(found))
    revoked = store.delete_sessions(str(found.id))
    emit(
        state,
        {**user_dict(updated), "sessions_revoked": revoked},
        lambda console: console.print(f"disabled {updated.email}; revoked {revoked} session(s)"),
    )


@users_group.command("enable")
@click.argument("user")
@pass_state
def enable_command(state: State, user: str) -> None:
    """Enable a disabled USER again."""
    store = state.open()
    found = find_user(store, user)
    updated = store.update_user(str(found.id), extra=enabled_extra(found))
    emit(state, user_dict(updated), lambda console: console.print(f"enabled {updated.email}"))


COMMANDS = [users_group]
