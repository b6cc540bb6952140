"""``auth-store links issue``: print a sign-in (or verification, or reset) link.

The token is hashed with the same secret the web app uses, so the app
accepts the link: by default the keys in ``AUTH_STORE_SECRET`` (what
``AuthFlow`` uses unless it is given a ``token_secret``), else those in
``--secret-file``; for an app that passes Auth.js's ``AUTH_SECRET`` as
``token_secret``, use ``--secret-env AUTH_SECRET``. The secret is found by
``auth_store.signing.secret_keys``, as ``examples/issue_magic_link.py`` finds it.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import click
from rich.console import Console

from auth_store.flow import FlowPaths
from auth_store.signing import SECRET_ENV, secret_keys

from ._common import BadUsage, PathParam, State, emit, pass_state

#: The page each purpose's link opens: the sign-in flow's own (``FlowPaths``).
_DEFAULT_PATHS = {
    "sign-in": FlowPaths.magic_link,
    "verify-email": FlowPaths.verify_email,
    "reset-password": FlowPaths.reset_password,
}


@click.group("links")
def links_group() -> None:
    """Issue magic links (the token-issuing script)."""


@links_group.command("issue")
@click.argument("email")
@click.option(
    "--base-url",
    required=True,
    metavar="URL",
    help="The web app's address, e.g. https://app.example.",
)
@click.option(
    "--purpose",
    type=click.Choice(sorted(_DEFAULT_PATHS)),
    default="sign-in",
    show_default=True,
    help="What the link may be used for.",
)
@click.option(
    "--path",
    metavar="PATH",
    help="The page the link opens, relative to --base-url [default: the flow's page for "
    "the purpose, e.g. /auth/magic-link].",
)
@click.option(
    "--max-age",
    type=click.IntRange(min=1),
    metavar="MINUTES",
    help="Lifetime in minutes [default: 24 h for sign-in and verify-email, 1 h for reset].",
)
@click.option(
    "--secret-env",
    default=SECRET_ENV,
    show_default=True,
    metavar="NAME",
    help="The environment variable holding the token secret(s), oldest first.",
)
@click.option(
    "--secret-file",
    type=PathParam(exists=True, dir_okay=False, path_type=Path),
    metavar="FILE",
    help="A file holding the secret(s), read when the variable is not set "
    "(the demo apps keep theirs in .auth-store-demo/secret.txt).",
)
@pass_state
def issue_command(
    state: State,
    email: str,
    base_url: str,
    purpose: str,
    path: str | None,
    max_age: int | None,
    secret_env: str,
    secret_file: Path | None,
) -> None:
    """Store a single-use token for EMAIL and print the link that spends it.

    The token is hashed with the web app's secret, found as the app finds
    it: the variable --secret-env names, else --secret-file.
    """
    from auth_store.tokens import TokenPurpose, TokenService

    secrets_ = secret_keys(secret_env, file=secret_file)
    if not base_url.startswith(("http://", "https://")):
        raise BadUsage("--base-url must start with http:// or https://")
    store = state.open()
    service = TokenService(store, secrets_)
    issued = service.issue(
        email,
        TokenPurpose(purpose),
        max_age=None if max_age is None else timedelta(minutes=max_age),
    )
    link = issued.link(base_url.rstrip("/") + (path or _DEFAULT_PATHS[purpose]))
    data = {
        "email": issued.email,
        "purpose": purpose,
        "expires": issued.expires.isoformat(),
        "link": link,
        "user_exists": store.get_user_by_email(issued.email) is not None,
    }

    def render(console: Console) -> None:
        click.echo(link)
        if not data["user_exists"]:
            click.echo(f"note: no user with e-mail {issued.email} yet", err=True)

    emit(state, data, render)


COMMANDS = [links_group]
