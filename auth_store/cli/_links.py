"""``auth-store links issue``: print a sign-in (or verification, or reset) link.

The token is hashed with the same secret the web app uses, so the app
accepts the link: by default the keys in ``AUTH_STORE_SECRET`` (what
``AuthFlow`` uses unless it is given a ``token_secret``); for an app that
passes Auth.js's ``AUTH_SECRET`` as ``token_secret``, use
``--secret-env AUTH_SECRET``.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta

import click
from rich.console import Console

from ._common import BadUsage, State, emit, pass_state

_DEFAULT_PATHS = {
    "sign-in": "/auth/magic-link",
    "verify-email": "/auth/verify-email",
    "reset-password": "/auth/reset-password",
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
    default="AUTH_STORE_SECRET",
    show_default=True,
    metavar="NAME",
    help="The environment variable holding the token secret(s), oldest first.",
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
) -> None:
    """Store a single-use token for EMAIL and print the link that spends it."""
    from auth_store.tokens import TokenPurpose, TokenService

    secrets_ = [s for s in re.split(r"[,\s]+", os.environ.get(secret_env, "")) if s]
    if not secrets_:
        raise BadUsage(f"{secret_env} is not set: it must hold the web app's token secret")
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
