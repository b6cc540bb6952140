"""``auth-store passkeys``: list a user's passkeys, remove them (a lost or stolen device).

Passkeys are named by their id as browsers write it (base64url, shown by
``passkeys list`` and ``users show``); the stored base64 form works too.
Removing one deletes its Auth.js authenticator and account rows and its
metadata, so it signs in nowhere, here or in an Auth.js app on the same
database. Nothing here needs the ``passkeys`` extra.
"""

from __future__ import annotations

from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from auth_store.errors import ValidationError
from auth_store.passkey_store import Passkey, PasskeyStore

from ._common import BadUsage, State, emit, fail, find_user, pass_state


def passkey_dict(passkey: Passkey) -> dict[str, Any]:
    """A passkey for output (nothing in it is secret)."""
    return {
        "id": passkey.id,
        "credential_id": passkey.credential_id,
        "name": passkey.name,
        "created_at": passkey.created_at.isoformat() if passkey.created_at else None,
        "last_used_at": passkey.last_used_at.isoformat() if passkey.last_used_at else None,
        "device_type": passkey.device_type,
        "backed_up": passkey.backed_up,
        "transports": list(passkey.transports),
        "counter": passkey.counter,
        "counter_regressions": passkey.counter_regressions,
    }


def passkeys_table(title: str, passkeys: list[dict[str, Any]]) -> Table:
    """The passkeys of ``passkey_dict`` as a rich table."""
    table = Table(title=title, title_justify="left")
    for column in ("name", "id", "created", "last used", "device", "backed up"):
        table.add_column(column)
    for p in passkeys:
        warning = f" ({p['counter_regressions']} counter regressions!)"
        cells = (
            p["name"] + (warning if p["counter_regressions"] else ""),
            p["id"],
            _minute(p["created_at"]) or "unknown",
            _minute(p["last_used_at"]) or "never",
            "synced" if p["device_type"] == "multiDevice" else "single device",
            "yes" if p["backed_up"] else "no",
        )
        table.add_row(*(Text(cell) for cell in cells))  # names are the users': no markup
    return table


def _minute(iso: str | None) -> str | None:
    return None if iso is None else f"{iso[:16].replace('T', ' ')} UTC"


@click.group("passkeys")
def passkeys_group() -> None:
    """List and remove passkeys."""


@passkeys_group.command("list")
@click.argument("user")
@pass_state
def list_command(state: State, user: str) -> None:
    """List the passkeys of USER (an id or an e-mail)."""
    store = state.open()
    found = find_user(store, user)
    data = [passkey_dict(p) for p in PasskeyStore(store).list(str(found.id))]
    emit(
        state,
        data,
        lambda console: console.print(
            passkeys_table(f"{len(data)} passkey(s) of {found.email}", data)
        ),
    )


@passkeys_group.command("delete")
@click.argument("user")
@click.argument("passkey_ids", nargs=-1)
@click.option("--all", "delete_all", is_flag=True, help="Remove every passkey of USER.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_state
def delete_command(
    state: State, user: str, passkey_ids: tuple[str, ...], delete_all: bool, yes: bool
) -> None:
    """Remove passkeys of USER: the given PASSKEY_IDS, or all of them with --all.

    For a lost or stolen device; the user signs in another way (a magic
    link, a password) and registers a new passkey. Exit 1 when a given id is
    not one of USER's passkeys.
    """
    if delete_all == bool(passkey_ids):
        raise BadUsage("give passkey ids or --all (not both)")
    store = state.open()
    found = find_user(store, user)
    uid = str(found.id)
    passkeys = PasskeyStore(store)
    chosen = [p.id for p in passkeys.list(uid)] if delete_all else list(passkey_ids)
    if chosen and not yes:
        click.confirm(f"Remove {len(chosen)} passkey(s) of {found.email}?", abort=True)
    done: list[dict[str, Any]] = []
    missing: list[str] = []
    for passkey_id in chosen:
        try:
            deleted = passkeys.delete(uid, passkey_id)
        except ValidationError:
            deleted = None
        if deleted is None:
            missing.append(passkey_id)
        else:
            done.append(passkey_dict(deleted))

    def render(console: Console) -> None:
        console.print(f"removed {len(done)} passkey(s) of {found.email}", markup=False)
        if missing:
            console.print(f"not found: {', '.join(missing)}", markup=False)

    emit(state, {"deleted": done, "not_found": missing}, render)
    if missing:
        fail(f"no such passkey(s) of {found.email}: {', '.join(missing)}")


COMMANDS = [passkeys_group]
