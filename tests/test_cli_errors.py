"""Every ``auth-store`` command against a URL with no store, bad URLs and bad paths.

Each answers with one line on stderr and a non-zero exit, never a traceback
(the CLI's one error boundary); the commands that work on an existing store
say "no store at ..." and create nothing; messages name the problem, not the
exception's class. The table of cases is checked against the command tree,
so a new command cannot go untested.
"""

from __future__ import annotations

import re
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Literal

import click
import pytest
from click.testing import CliRunner, Result

from auth_store import clock, connect
from auth_store.cli import cli
from auth_store.crypto import Keyring
from auth_store.models import Session, User
from tests._migration_data import AUTH_STORE
from tests.pg import admin_connection, require_postgres

KEYS = Keyring.generate_key("k1")
SECRET = "a-secret-key-of-the-web-app-0123456789abcdef"
EMAIL = "ann@example.com"

Kind = Literal["existing", "creates", "none"]


@dataclass(frozen=True)
class Case:
    """A command and arguments that succeed on a good store.

    ``{URL}`` in ``args`` is where the store URL under test goes (``--url``
    when absent); ``{good}`` is a store holding ann, ``{tmp}`` a private
    folder, ``{export}`` an export of the good store.
    """

    args: tuple[str, ...]
    kind: Kind = "existing"
    input: str | None = None
    env: dict[str, str | None] = field(default_factory=dict)

    @property
    def command(self) -> str:
        words = [a for a in self.args if not a.startswith(("-", "{"))]
        return " ".join(words[:2] if words[0] in GROUPS else words[:1])


GROUPS = {name for name, c in cli.commands.items() if isinstance(c, click.Group)}

CASES = {
    "users create": Case(("users", "create", "new@example.com")),
    "users list": Case(("users", "list")),
    "users show": Case(("users", "show", EMAIL)),
    "users delete": Case(("users", "delete", EMAIL, "--yes")),
    "users set-password": Case(
        ("users", "set-password", EMAIL, "--password-stdin"), input="a long new password\n"
    ),
    "users disable": Case(("users", "disable", EMAIL)),
    "users enable": Case(("users", "enable", EMAIL)),
    "sessions list": Case(("sessions", "list", EMAIL)),
    "sessions revoke": Case(("sessions", "revoke", EMAIL, "--all")),
    "passkeys list": Case(("passkeys", "list", EMAIL)),
    "passkeys delete": Case(("passkeys", "delete", EMAIL, "--all", "--yes")),
    "links issue": Case(("links", "issue", EMAIL, "--base-url", "http://localhost:8000")),
    "keys rotate": Case(
        ("keys", "rotate", "--key-file", "{tmp}/keys.txt"), env={"AUTH_STORE_KEYS": None}
    ),
    "reencrypt": Case(("reencrypt",)),
    "export": Case(("export", "{tmp}/out.jsonl")),
    "backup": Case(("backup", "{tmp}/backups")),
    "check": Case(("check",)),
    "stats": Case(("stats",)),
    "health": Case(("health",)),
    "purge-expired": Case(("purge-expired",)),
    "schema status": Case(("schema", "status")),
    "verify --from": Case(("verify", "--from", "{URL}", "--to", "{good}")),
    "verify --to": Case(("verify", "--from", "{good}", "--to", "{URL}")),
    "migrate --from": Case(("migrate", "--from", "{URL}", "--to", "sqlite:///{tmp}/copy.db")),
    # The commands that fill a new store: they may create one.
    "migrate --to": Case(("migrate", "--from", "{good}", "--to", "{URL}"), kind="creates"),
    "import": Case(("import", "{export}"), kind="creates"),
    "restore": Case(("restore", "{export}"), kind="creates"),
    "schema upgrade": Case(("schema", "upgrade"), kind="creates"),
    # No store at all.
    "keys generate": Case(("keys", "generate"), kind="none"),
    "keys list": Case(("keys", "list"), kind="none"),
    "authjs mint": Case(("authjs", "mint", "--sub", "u1"), kind="none"),
    "authjs decode": Case(("authjs", "decode"), kind="none", input="not-a-token"),
}
EXISTING = [name for name, case in CASES.items() if case.kind == "existing"]
OPENS_A_STORE = [name for name, case in CASES.items() if case.kind != "none"]


def _leaves(command: click.Command, prefix: str = "") -> Iterator[str]:
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from _leaves(sub, f"{prefix} {name}".strip())
    else:
        yield prefix


@dataclass
class World:
    """A good store holding ann (with a session), an export of it, and a private folder."""

    tmp: Path
    good: str
    export: Path

    def args(self, case: Case, url: str) -> list[str]:
        values = {"{URL}": url, "{good}": self.good, "{export}": str(self.export)}
        args = [values.get(a, a.replace("{tmp}", str(self.tmp))) for a in case.args]
        return args if "{URL}" in case.args else ["--url", url, *args]

    def run(self, case: Case, url: str) -> Result:
        env = {"AUTH_STORE_SECRET": SECRET, "AUTH_STORE_KEYS": KEYS, "AUTH_STORE_KEY_FILE": None}
        env.update({"AUTH_SECRET": SECRET, **case.env})
        return CliRunner().invoke(cli, self.args(case, url), input=case.input, env=env)


@pytest.fixture
def world(tmp_path: Path) -> World:
    good = f"sqlite:///{tmp_path}/good.db"
    with connect(good) as store:
        ann = store.create_user(User(email=EMAIL))
        store.create_session(
            Session(
                session_token=uuid.uuid4().hex,
                user_id=str(ann.id),
                expires=clock.now() + timedelta(days=1),
            )
        )
    work = tmp_path / "work"
    work.mkdir()
    export = tmp_path / "export.jsonl"
    assert CliRunner().invoke(cli, ["--url", good, "export", str(export)]).exit_code == 0
    return World(tmp=work, good=good, export=export)


_CLASS_NAME = re.compile(r"\b[A-Z][A-Za-z]*(Error|Exception)\b")


def assert_one_clear_line(result: Result, exit_code: int | None = None) -> str:
    """The answer to a bad input: no traceback, one line on stderr, a non-zero exit."""
    assert isinstance(result.exception, SystemExit), result.exception  # not an uncaught error
    assert result.exit_code != 0
    if exit_code is not None:
        assert result.exit_code == exit_code, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    message = lines[0].removeprefix("Error: ")
    assert not _CLASS_NAME.search(message), message  # the problem, not the class
    assert result.stdout == ""
    return message


# -- the table covers every command ----------------------------------------------


def test_every_command_has_a_case() -> None:
    assert {case.command for case in CASES.values()} == set(_leaves(cli))


@pytest.mark.parametrize("name", list(CASES))
def test_each_case_succeeds_on_a_good_store(world: World, name: str) -> None:
    """The control: the arguments are right, so a refusal below is the URL's or path's doing."""
    case = CASES[name]
    url = world.good if case.kind == "existing" else f"sqlite:///{world.tmp}/new.db"
    result = world.run(case, url)
    if name == "authjs decode":
        assert result.exit_code == 1  # the input is not a token: refused, as it should be
        return
    assert result.exit_code == 0, result.output


# -- no store at the URL (item 15) ------------------------------------------------------


@dataclass(frozen=True)
class Missing:
    """A URL naming no store, and how to tell whether something was created there."""

    url: str
    where: str


def _missing_sqlite(tmp: Path) -> Iterator[Missing]:
    path = tmp / "typo.db"
    yield Missing(f"sqlite:///{path}", str(path))
    assert not path.exists()


def _missing_file_store(tmp: Path) -> Iterator[Missing]:
    path = tmp / "typo"
    yield Missing(f"file://{path}", str(path))
    assert not path.exists()


def _missing_postgres(tmp: Path) -> Iterator[Missing]:
    base = require_postgres()
    schema = f"typo_{uuid.uuid4().hex[:12]}"
    url = f"{base}{'&' if '?' in base else '?'}schema={schema}"
    yield Missing(url, f"(schema {schema})")
    with admin_connection(base) as conn:
        found = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,))
        assert found.fetchone() is None  # not even the schema was created


MISSING = {"sqlite": _missing_sqlite, "file": _missing_file_store, "postgres": _missing_postgres}


@pytest.mark.parametrize("backend", list(MISSING))
@pytest.mark.parametrize("name", EXISTING)
def test_a_command_on_an_existing_store_says_no_store_and_creates_nothing(
    world: World, name: str, backend: str
) -> None:
    case = CASES[name]
    missing = MISSING[backend](world.tmp)
    target = next(missing)
    result = world.run(case, target.url)
    # health reports an unreachable store (exit 1); the others a bad URL (exit 2)
    message = assert_one_clear_line(result, exit_code=1 if name == "health" else 2)
    assert message.startswith("no store at ")
    assert target.where in message
    hint = "(`auth-store schema upgrade` creates an empty store)"
    if name == "health" or name.startswith(("verify", "migrate --from")):
        # a store only read: an empty one would not help
        assert "schema upgrade" not in message
    else:
        assert message.endswith(hint)
    next(missing, None)  # checks that nothing was created


@pytest.mark.parametrize("name", [n for n, c in CASES.items() if c.kind == "creates"])
def test_the_commands_that_fill_a_store_create_it(world: World, name: str) -> None:
    path = world.tmp / "made" / "auth"
    path.parent.mkdir()
    result = world.run(CASES[name], f"file://{path}")
    assert result.exit_code == 0, result.output
    with connect(f"file://{path}", create=False) as store:
        assert store.counts()["users"] == (0 if name == "schema upgrade" else 1)


def test_health_of_a_mistyped_url_as_a_real_process(tmp_path: Path) -> None:
    typo = tmp_path / "typo"
    done = subprocess.run(
        [AUTH_STORE, "--url", f"file://{typo}", "health"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr == f"Error: no store at {typo}: no such directory\n"
    assert done.stdout == ""
    assert not typo.exists()  # it used to be created, and reported "ok"


# -- bad URLs (item 14) ----------------------------------------------------------------

#: A bad URL, the exit code (``None``: depends on the command), what the message says.
BAD_URLS: dict[str, tuple[str, int | None, str]] = {
    "unknown scheme": ("nope://x", 2, "unknown store URL scheme"),
    "unparsable": ("postgresql://[::1", 2, "cannot be parsed"),
    "unknown option": ("sqlite:///{tmp}/x.db?bogus=1", 2, "unknown store URL option"),
    "nobody listening": (
        "postgresql://postgres@127.0.0.1:1/x?connect_timeout=2",
        1,
        "cannot connect to Postgres",
    ),
    "a folder that is a file": ("sqlite:///{tmp}/a-file/auth.db", None, "{tmp}/a-file/auth.db"),
}


@pytest.mark.parametrize("bad", list(BAD_URLS))
@pytest.mark.parametrize("name", OPENS_A_STORE)
def test_a_bad_url_is_one_clear_line(world: World, name: str, bad: str) -> None:
    (world.tmp / "a-file").write_text("not a folder\n")
    url, exit_code, expected = BAD_URLS[bad]
    tmp = str(world.tmp)
    if name == "health" and exit_code is not None:
        exit_code = 1  # health: a store it cannot open is unreachable
    message = assert_one_clear_line(
        world.run(CASES[name], url.replace("{tmp}", tmp)), exit_code=exit_code
    )
    assert expected.replace("{tmp}", tmp) in message


# -- bad paths (item 14) ---------------------------------------------------------------


@dataclass(frozen=True)
class BadPath:
    args: tuple[str, ...]
    expected: str
    env: dict[str, str | None] = field(default_factory=dict)


BAD_PATHS = {
    "export into a missing folder": BadPath(
        ("export", "{tmp}/missing/dir/out.jsonl"), "no such file or directory: {tmp}/missing/dir"
    ),
    "export under a file": BadPath(
        ("export", "{tmp}/a-file/out.jsonl"), "not a directory: {tmp}/a-file"
    ),
    "export onto a folder": BadPath(("export", "{tmp}"), "is a directory"),
    "import a missing file": BadPath(("import", "{tmp}/nope.jsonl"), "no such file"),
    "import a folder": BadPath(("import", "{tmp}"), "is a directory"),
    "import what is no export": BadPath(("import", "{tmp}/a-file"), "not valid JSON"),
    "backup under a file": BadPath(("backup", "{tmp}/a-file/backups"), "not a directory"),
    "backup onto a file": BadPath(("backup", "{tmp}/a-file"), "is a file"),
    "restore a missing file": BadPath(("restore", "{tmp}/nope.sqlite3"), "does not exist"),
    "restore what is no backup": BadPath(("restore", "{tmp}/a-file"), "not an auth-store backup"),
    "keys generate into a missing folder": BadPath(
        ("keys", "generate", "--append", "{tmp}/missing/keys.txt"),
        "no such file or directory: {tmp}/missing",
    ),
    "keys generate onto a folder": BadPath(
        ("keys", "generate", "--append", "{tmp}"), "--append: File"
    ),
    "keys rotate into a missing folder": BadPath(
        ("keys", "rotate", "--key-file", "{tmp}/missing/keys.txt"),
        "no such file or directory: {tmp}/missing",
        env={"AUTH_STORE_KEYS": None},
    ),
    "keys list from a missing key file": BadPath(
        ("keys", "list"),
        "cannot read key file {tmp}/nope.txt: no such file or directory",
        env={"AUTH_STORE_KEYS": None, "AUTH_STORE_KEY_FILE": "{tmp}/nope.txt"},
    ),
    "reencrypt with a missing key file": BadPath(
        ("reencrypt",),
        "cannot read key file {tmp}/nope.txt",
        env={"AUTH_STORE_KEYS": None, "AUTH_STORE_KEY_FILE": "{tmp}/nope.txt"},
    ),
    "links issue with a missing secret file": BadPath(
        ("links", "issue", EMAIL, "--base-url", "http://x", "--secret-file", "{tmp}/nope.txt"),
        "does not exist",
        env={"AUTH_STORE_SECRET": None},
    ),
}


@pytest.mark.parametrize("bad", list(BAD_PATHS))
def test_a_bad_path_is_one_clear_line(world: World, bad: str) -> None:
    (world.tmp / "a-file").write_text("not a folder\n")
    before = sorted(p.name for p in world.tmp.iterdir())
    spec = BAD_PATHS[bad]
    tmp = str(world.tmp)
    case = Case(
        tuple(a.replace("{tmp}", tmp) for a in spec.args),
        env={k: v.replace("{tmp}", tmp) if v else v for k, v in spec.env.items()},
    )
    message = assert_one_clear_line(world.run(case, world.good), exit_code=2)
    assert spec.expected.replace("{tmp}", tmp) in message
    assert sorted(p.name for p in world.tmp.iterdir()) == before  # nothing left behind


def test_export_into_a_missing_folder_as_a_real_process(world: World) -> None:
    out = world.tmp / "missing" / "dir" / "out.jsonl"
    done = subprocess.run(
        [AUTH_STORE, "--url", world.good, "export", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr == f"Error: no such file or directory: {out.parent}\n"  # not 40 lines
    assert "Traceback" not in done.stdout + done.stderr


# -- messages name the problem (item 16) ------------------------------------------------


def test_store_errors_name_the_problem_not_the_class(world: World) -> None:
    taken = Case(("users", "create", EMAIL))
    assert assert_one_clear_line(world.run(taken, world.good), exit_code=1) == (
        "a user with this e-mail exists"
    )
    (world.tmp / "not.db").write_text("not a database\n")
    broken = f"sqlite:///{world.tmp}/not.db"
    assert assert_one_clear_line(world.run(CASES["stats"], broken), exit_code=1) == (
        "sqlite error: file is not a database"
    )
    missing = Case(("users", "show", "nobody@example.com"))
    assert assert_one_clear_line(world.run(missing, world.good), exit_code=1) == (
        "no user 'nobody@example.com'"
    )
