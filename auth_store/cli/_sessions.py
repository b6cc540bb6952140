"""``auth-store sessions``: list and revoke a user's sessions.

Sessions are named by their id; session tokens are secrets and are never
printed or taken on the command line.
"""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from auth_store import clock

from ._common import BadUsage, State, emit, fail, find_user, pass_state


@click.group("sessions")
def sessions_group() -> None:
    """List and revoke sessions."""


@sessions_group.command("list")
@click.argument("user")
@pass_state
def list_command(state: State, user: str) -> None:
    """List the sessions of USER (an id or an e-mail), expired ones included."""
    store = state.open()
    found = find_user(store, user)
    now = clock.now()
    sessions = store.list_sessions(str(found.id))
    data = [
        {
            "id": s.id,
            "user_id": s.user_id,
            "expires": s.expires.isoformat(),
            "expired": s.expires < now,
        }
        for s in sessions
    ]

    def render(console: Console) -> None:
        table = Table(title=f"{len(data)} session(s) of {found.email}", title_justify="left")
        for column in ("id", "expires", "state"):
            table.add_column(column)
        for row in data:
            table.add_row(
                str(row["id"]), str(row["expires"]), "expired" if row["expired"] else "active"
            )
        console.print(table)

    emit(state, data, render)


@sessions_group.command("revoke")
@click.argument("user")
@click.argument("session_ids", nargs=-1)
@click.option("--all", "revoke_all", is_flag=True, help="Revoke every session of USER.")
@pass_state
def revoke_command(state: State, user: str, session_ids: tuple[str, ...], revoke_all: bool) -> None:
    """Revoke sessions of USER: the given SESSION_IDS, or all of them with --all.

    Exit 1 when a given session id is not one of USER's sessions.
    """
    if revoke_all == bool(session_ids):
        raise BadUsage("give session ids or --all (not both)")
    store = state.open()
    found = find_user(store, user)
    uid = str(found.id)
    if revoke_all:
        revoked = store.delete_sessions(uid)
        emit(
            state,
            {"revoked": revoked},
            lambda console: console.print(f"revoked {revoked} session(s) of {found.email}"),
        )
        return
    by_id = {s.id: s for s in store.list_sessions(uid)}
    done, missing = [], []
    for session_id in session_ids:
        session = by_id.get(session_id)
        if session is None or store.delete_session(session.session_token) is None:
            missing.append(session_id)
        else:
            done.append(session_id)
    emit(
        state,
        {"revoked": len(done), "ids": done, "not_found": missing},
        lambda console: console.print(
            f"revoked {len(done)} session(s) of {found.email}"
            + (f"; not found: {', '.join(missing)}" if missing else "")
        ),
    )
    if missing:
        fail(f"no such session(s) of {found.email}: {', '.join(missing)}")


COMMANDS = [sessions_group]
