"""The ``auth-store`` command line (also ``python -m auth_store``).

Global options: ``--url`` (default ``AUTH_STORE_URL``, then
``sqlite:///./auth_store.db``) and ``--json`` (machine-readable output).
Every error is one line on stderr (never a traceback). Exit codes: 0 ok,
1 a check or verification failed (or the operation did), 2 a usage error
(bad option, a URL that names no store, a path that cannot be used, invalid
input, a target that is not empty). Only the commands that fill a new store
(import, restore, migrate --to, schema upgrade) create one; every other
command needs a store at the URL. Progress bars appear on long work when
stderr is a terminal and ``--json`` is off.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from auth_store import __version__
from auth_store.errors import AuthStoreError

from . import _authjs, _data, _keys, _links, _ops, _passkeys, _sessions, _users
from ._common import State, as_click_error

__all__ = ["cli", "main"]


class _Group(click.Group):
    """The root group: the CLI's one error boundary.

    Every auth-store error and every error of the operating system (a path
    that does not exist, a folder that cannot be written) becomes one line
    on stderr and the documented exit code, never a traceback.
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (AuthStoreError, OSError) as exc:
            raise as_click_error(exc) from exc


@click.group(
    "auth-store",
    cls=_Group,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--url",
    envvar="AUTH_STORE_URL",
    metavar="URL",
    help="The store: sqlite:///path.db, file:///dir, postgresql://..., memory:// "
    "[default: $AUTH_STORE_URL, then sqlite:///./auth_store.db]",
)
@click.option("--json", "as_json", is_flag=True, help="Print results as JSON.")
@click.version_option(__version__, prog_name="auth-store")
@click.pass_context
def cli(ctx: click.Context, url: str | None, as_json: bool) -> None:
    """auth-store: manage an authentication store and move it between backends.

    Commands work on the store at --url and refuse to create one: a mistyped
    URL is answered "no store at ...". Only the commands that fill a new
    store create it: import, restore, migrate (its --to), schema upgrade.

    Errors are one line on stderr. Exit codes: 0 ok, 1 a check or
    verification failed, 2 usage error (a bad option, URL or path; no store).
    """
    state = State(url=url, json=as_json)
    ctx.obj = state
    ctx.call_on_close(state.close)


for _command in (
    *_users.COMMANDS,
    *_sessions.COMMANDS,
    *_passkeys.COMMANDS,
    *_links.COMMANDS,
    *_keys.COMMANDS,
    *_data.COMMANDS,
    *_ops.COMMANDS,
    *_authjs.COMMANDS,
):
    cli.add_command(_command)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the command line (the ``auth-store`` console script)."""
    cli.main(args=list(argv) if argv is not None else None, prog_name="auth-store")
