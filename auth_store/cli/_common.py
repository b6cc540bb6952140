"""What every command shares: the store URL, output (rich or JSON), progress, exit codes."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NoReturn

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from auth_store.adapter import Adapter
from auth_store.connect import DEFAULT_URL, connect
from auth_store.disabled import is_disabled
from auth_store.errors import (
    AuthStoreError,
    ConfigurationError,
    NoStoreError,
    ValidationError,
)
from auth_store.migration import ProgressCallback, TargetNotEmptyError
from auth_store.models import User

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class CommandFailed(click.ClickException):
    """The command ran but failed (exit 1): a check, a verification, a missing record."""

    exit_code = EXIT_FAILED


class BadUsage(click.ClickException):
    """The command was asked for something it cannot do (exit 2): bad URL, bad input."""

    exit_code = EXIT_USAGE


#: What a path the user gave can be wrong with: a usage error (exit 2), not a failure.
_BAD_PATH = (
    FileNotFoundError,
    FileExistsError,
    IsADirectoryError,
    NotADirectoryError,
    PermissionError,
)


def describe(exc: AuthStoreError | OSError) -> str:
    """The problem, in one line, for a person: never the exception's class name."""
    if isinstance(exc, OSError):
        reason = exc.strerror or str(exc)
        reason = reason[:1].lower() + reason[1:]
        paths = [os.fsdecode(p) for p in (exc.filename, exc.filename2) if p is not None]
        return f"{reason}: {' -> '.join(paths)}" if paths else reason
    return " ".join(str(exc).split()) or exc.code.value.replace("_", " ")


def as_click_error(exc: AuthStoreError | OSError) -> click.ClickException:
    """Map an error to its one-line message and the exit code the CLI documents.

    Bad input (a URL that names no store, a bad option, a path that cannot
    be used, a target that is not empty) exits 2; anything else that went
    wrong exits 1.
    """
    if isinstance(exc, NoStoreError):
        return BadUsage(f"{describe(exc)} (`auth-store schema upgrade` creates an empty store)")
    usage = (ConfigurationError, ValidationError, TargetNotEmptyError, *_BAD_PATH)
    if isinstance(exc, usage):
        return BadUsage(describe(exc))
    return CommandFailed(describe(exc))


class PathParam(click.Path):
    """``click.Path`` whose refusals are one line ("Error: ...", exit 2), not a usage screen."""

    def fail(
        self, message: str, param: click.Parameter | None = None, ctx: click.Context | None = None
    ) -> NoReturn:
        if param is None:
            raise BadUsage(message)
        name = param.opts[0] if isinstance(param, click.Option) else param.human_readable_name
        raise BadUsage(f"{name}: {message}")


@dataclass
class State:
    """The global options, shared by every command through the click context."""

    url: str | None = None
    json: bool = False
    stores: list[Adapter] = field(default_factory=list)

    @property
    def resolved_url(self) -> str:
        """The store URL in effect: --url, else AUTH_STORE_URL, else the default."""
        return self.url or os.environ.get("AUTH_STORE_URL") or DEFAULT_URL

    @property
    def console(self) -> Console:
        """Where human-readable results go (stdout).

        Piped output gets a wide console so that tables never cut ids short.
        """
        return Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)

    def open(
        self,
        url: str | None = None,
        opener: Callable[[str], Adapter] | None = None,
        *,
        create: bool = False,
    ) -> Adapter:
        """Open the store at ``url`` (``--url`` by default); it is closed when the command ends.

        The store must exist (``NoStoreError``: "no store at ...") unless
        ``create``: only the commands that fill a new store (import, restore,
        migrate --to, schema upgrade) may create one, so a mistyped URL never
        becomes a new, empty store.
        """
        target = url if url is not None else self.resolved_url
        if opener is None:
            store = connect(target, create=create)
        else:
            try:
                store = opener(target)
            except NoStoreError as exc:  # a store to read: creating one would not help
                raise BadUsage(describe(exc)) from None
        self.stores.append(store)
        return store

    def close(self) -> None:
        """Close every store this command opened."""
        while self.stores:
            self.stores.pop().close()


pass_state = click.make_pass_decorator(State)


def emit(state: State, data: Any, render: Callable[[Console], None]) -> None:
    """Print ``data`` as JSON with ``--json``, else call ``render`` with a console."""
    if state.json:
        click.echo(json.dumps(data, indent=2, sort_keys=True, default=_json_default))
    else:
        render(state.console)


def _json_default(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def fail(message: str) -> NoReturn:
    """Stop with exit code 1."""
    raise CommandFailed(message)


def progress_enabled(state: State) -> bool:
    """Progress bars only on an interactive terminal and never with ``--json``."""
    return not state.json and sys.stderr.isatty()


@contextmanager
def progress_bar(state: State) -> Iterator[ProgressCallback | None]:
    """A rich progress display fed by ``(phase, done, total)`` calls, or ``None``."""
    if not progress_enabled(state):
        yield None
        return
    columns = (
        TextColumn("{task.description:<14}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=False) as progress:
        tasks: dict[str, TaskID] = {}

        def update(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = progress.add_task(phase, total=total or None)
            progress.update(tasks[phase], completed=done, total=total or None)

        yield update


def find_user(store: Adapter, who: str) -> User:
    """A user by e-mail (when ``who`` contains ``@``) or by id; exit 1 when missing."""
    try:
        user = store.get_user_by_email(who) if "@" in who else store.get_user(who)
    except ValidationError as exc:
        raise BadUsage(str(exc)) from None
    if user is None:
        raise CommandFailed(f"no user {who!r}")
    return user


def counts_table(title: str, columns: list[str], rows: Iterable[Sequence[Any]]) -> Table:
    """A simple rich table."""
    table = Table(title=title, title_justify="left")
    for i, column in enumerate(columns):
        table.add_column(column, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*(str(cell) for cell in row))
    return table


def user_dict(user: User) -> dict[str, Any]:
    """A user for output (the model has no secret fields)."""
    return {
        "id": user.id,
        "email": user.email,
        "email_verified": user.email_verified.isoformat() if user.email_verified else None,
        "name": user.name,
        "image": user.image,
        "extra": user.extra,
        "disabled": is_disabled(user),
    }


__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "BadUsage",
    "CommandFailed",
    "PathParam",
    "State",
    "as_click_error",
    "counts_table",
    "describe",
    "emit",
    "fail",
    "find_user",
    "pass_state",
    "progress_bar",
    "progress_enabled",
    "user_dict",
]
