"""``auth-store keys`` (generate, list, rotate) and ``auth-store reencrypt``.

Keys are read as the rest of auth-store reads them: ``AUTH_STORE_KEYS``, else
the key file named by ``AUTH_STORE_KEY_FILE`` (entries ``<id>:<base64 key>``,
oldest first; the newest encrypts). Key material is printed only by
``keys generate``, which exists to print it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console

from auth_store.output_file import atomic_output, check_output

if TYPE_CHECKING:
    from auth_store.adapter import Adapter
    from auth_store.crypto import Keyring

from ._common import BadUsage, PathParam, State, emit, fail, pass_state, progress_bar


def _append_key(path: Path, entry: str) -> None:
    """Add a key entry at the end of a key file (it becomes the primary), atomically, 0600.

    The file is replaced as a whole, so a symbolic link is refused rather
    than swapped for a copy that its target would never see.
    """
    from auth_store.crypto import Keyring

    check_output(path, overwrite=True)
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    text = old + ("" if not old or old.endswith("\n") else "\n") + entry + "\n"
    Keyring.parse(text)  # refuse to write a file the store could not read
    with atomic_output(path, overwrite=True) as stream:
        stream.write(text)


@click.group("keys")
def keys_group() -> None:
    """Generate, list and rotate the encryption keys."""


@keys_group.command("generate")
@click.option("--id", "key_id", metavar="ID", help="The key id [default: date and random suffix].")
@click.option(
    "--append",
    type=PathParam(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Append the key to this key file (created 0600) instead of printing it.",
)
@pass_state
def generate_command(state: State, key_id: str | None, append: Path | None) -> None:
    """Make a new random AES-256 key entry <id>:<base64 key>.

    Printed to stdout (for AUTH_STORE_KEYS) unless --append names a key
    file. The newest key in the list encrypts; keep old keys until
    `auth-store reencrypt` has moved every value to the new one.
    """
    from auth_store.crypto import Keyring

    entry = Keyring.generate_key(key_id)
    new_id = entry.split(":", 1)[0]
    if append is None:
        if state.json:
            emit(state, {"id": new_id, "entry": entry}, lambda console: None)
        else:
            click.echo(entry)
        return
    _append_key(append, entry)
    emit(
        state,
        {"id": new_id, "file": str(append)},
        lambda console: console.print(f"added key {new_id} to {append} (now the primary)"),
    )


@keys_group.command("list")
@pass_state
def list_command(state: State) -> None:
    """Show the key ids of the configured keyring (never the keys) and the primary."""
    from auth_store.crypto import Keyring

    keyring = Keyring.from_env()
    data = {"primary": keyring.primary_id, "key_ids": list(keyring.key_ids)}

    def render(console: Console) -> None:
        for key_id in keyring.key_ids:
            console.print(key_id + ("  (primary)" if key_id == keyring.primary_id else ""))

    emit(state, data, render)


def _reencrypt(state: State, store: Adapter, keyring: Keyring) -> dict[str, int]:
    from auth_store.crypto import reencrypt

    counts = store.counts()
    total = counts.get("credentials", 0) + counts.get("accounts", 0)
    with progress_bar(state) as progress:
        done = 0

        def tick(n: int) -> None:
            nonlocal done
            done += n
            if progress is not None:
                progress("reencrypt", done, max(total, done))

        return reencrypt(store, keyring, progress=tick)


def _render_reencrypt(console: Console, counts: dict[str, int]) -> None:
    console.print(
        f"{counts['reencrypted']} value(s) re-encrypted, {counts['current']} already under the "
        f"primary key, {counts['failed']} could not be decrypted "
        f"({counts['credentials']} credential(s) and {counts['accounts']} account(s) scanned)"
    )
    if counts.get("pinned"):
        console.print(
            f"{counts['pinned']} credential(s) hold keyed hashes made with an older key "
            "(e.g. backup codes): keep that key until they are regenerated"
        )


@keys_group.command("rotate")
@click.option(
    "--key-file",
    type=PathParam(dir_okay=False, path_type=Path),
    envvar="AUTH_STORE_KEY_FILE",
    metavar="FILE",
    help="The key file to add the new key to [default: $AUTH_STORE_KEY_FILE].",
)
@click.option("--id", "key_id", metavar="ID", help="The new key's id.")
@click.option("--no-reencrypt", is_flag=True, help="Only add the key; re-encrypt later.")
@pass_state
def rotate_command(
    state: State, key_file: Path | None, key_id: str | None, no_reencrypt: bool
) -> None:
    """Add a new primary key to the key file, then re-encrypt every value under it.

    Old keys stay in the file so anything not yet re-encrypted still
    decrypts; remove them by hand once reencrypt reports nothing left.
    Exit 1 when some values could not be decrypted.
    """
    from auth_store.crypto import KEYS_ENV, Keyring

    if os.environ.get(KEYS_ENV, "").strip():
        raise BadUsage(
            f"keys come from {KEYS_ENV}, which this command cannot change: run "
            "`auth-store keys generate`, add the entry at the end of "
            f"{KEYS_ENV}, then `auth-store reencrypt`"
        )
    if key_file is None:
        raise BadUsage("no key file: pass --key-file or set AUTH_STORE_KEY_FILE")
    if key_file.exists():
        Keyring.from_file(key_file)  # refuse a broken file before changing it
    store = None if no_reencrypt else state.open()  # refuse a URL with no store, too
    entry = Keyring.generate_key(key_id)
    _append_key(key_file, entry)
    new_id = entry.split(":", 1)[0]
    counts = None if store is None else _reencrypt(state, store, Keyring.from_file(key_file))

    def render(console: Console) -> None:
        console.print(f"added key {new_id} to {key_file} (now the primary)")
        if counts is not None:
            _render_reencrypt(console, counts)

    emit(state, {"id": new_id, "file": str(key_file), "reencrypt": counts}, render)
    if counts is not None and counts["failed"]:
        fail(f"{counts['failed']} value(s) could not be decrypted with the keyring")


@click.command("reencrypt")
@pass_state
def reencrypt_command(state: State) -> None:
    """Move every encrypted value in the store to the primary key.

    That is the secrets in credentials (TOTP secrets, API keys) and the OAuth
    tokens in accounts. Resumable: values already under the primary key are
    left alone. Exit 1 when some values could not be decrypted (their key is
    not configured). Once a run reports 0 failed and 0 pinned, the old keys
    can be removed.
    """
    from auth_store.crypto import Keyring

    keyring = Keyring.from_env()
    counts = _reencrypt(state, state.open(), keyring)
    emit(state, counts, lambda console: _render_reencrypt(console, counts))
    if counts["failed"]:
        fail(f"{counts['failed']} value(s) could not be decrypted with the keyring")


COMMANDS = [keys_group, reencrypt_command]
