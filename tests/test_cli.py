"""Every ``auth-store`` command through click's test runner, plus real processes and a tty."""

from __future__ import annotations

import importlib.util
import json
import os
import pty
import select
import sqlite3
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import click
import pytest
from click.testing import CliRunner, Result

from auth_store import clock, connect
from auth_store.adapters.sql import load_migrations
from auth_store.cli import cli
from auth_store.crypto import FieldCipher, Keyring
from auth_store.flow import AuthFlow
from auth_store.models import Account, Credential, Session, User
from auth_store.passwords import PasswordService
from auth_store.tokens import TokenService
from tests._migration_data import AUTH_STORE, PYTHON, ROOT, populate, sqlite_exec

KEYRING = Keyring.generate()
#: The schema version of a new SQLite store: every shipped migration.
SQLITE_SCHEMA = len(load_migrations("sqlite"))


@pytest.fixture
def url(tmp_path: Path) -> str:
    """An empty store (commands other than the creators need one to exist)."""
    url = f"sqlite:///{tmp_path}/auth.db"
    connect(url).close()
    return url


def run(*args: str, input: str | None = None, env: dict[str, str | None] | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=input, env=env)


def run_json(*args: str, **kwargs: Any) -> Any:
    result = run("--json", *args, **kwargs)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _paths(command: click.Command, prefix: list[str]) -> Iterator[list[str]]:
    yield prefix
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from _paths(sub, [*prefix, name])


# -- help, version, usage errors ------------------------------------------------


def test_help_everywhere() -> None:
    paths = list(_paths(cli, []))
    assert len(paths) > 25
    for path in paths:
        for flag in ("--help", "-h"):
            result = run(*path, flag)
            assert result.exit_code == 0, (path, result.output)
            assert result.stdout.startswith(f"Usage: auth-store {' '.join(path)}".rstrip())


def test_version_and_python_m() -> None:
    assert "auth-store, version" in run("--version").stdout
    done = subprocess.run(
        [PYTHON, "-m", "auth_store", "--help"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0
    assert "Usage: auth-store" in done.stdout
    assert "migrate" in done.stdout


def test_usage_errors_exit_2(url: str, tmp_path: Path) -> None:
    assert run("no-such-command").exit_code == 2
    assert run("--url", url, "users", "list", "--limit", "-3").exit_code == 2
    bad = run("--url", "nope://x", "stats")
    assert bad.exit_code == 2
    assert "unknown store URL scheme" in bad.output
    assert run("--url", url, "users", "create", "not-an-email").exit_code == 2
    assert run("--url", url, "migrate", "--from", url).exit_code == 2  # --to missing
    assert run("--url", url, "import", str(tmp_path / "missing.jsonl")).exit_code == 2


def test_default_url_from_environment(tmp_path: Path) -> None:
    env_url = f"sqlite:///{tmp_path}/env.db"
    connect(env_url).close()
    run("users", "create", "env@example.com", env={"AUTH_STORE_URL": env_url})
    with connect(env_url) as store:
        assert store.get_user_by_email("env@example.com") is not None


# -- users -------------------------------------------------------------------------


def test_users_lifecycle(url: str) -> None:
    created = run_json(
        "--url",
        url,
        "users",
        "create",
        "Ann@Example.com",
        "--name",
        "Ann",
        "--verified",
        "--extra",
        "role=admin",
        "--extra",
        "level=3",
        "--password-stdin",
        input="correct horse battery\n",
    )
    assert created["email"] == "ann@example.com"
    assert created["extra"] == {"role": "admin", "level": 3}
    assert created["password_set"] is True
    assert created["email_verified"] is not None
    uid = created["id"]
    with connect(url) as store:
        assert PasswordService(store).verify_password(uid, "correct horse battery")

    duplicate = run("--url", url, "users", "create", "ann@example.com")
    assert duplicate.exit_code == 1
    assert duplicate.stderr == "Error: a user with this e-mail exists\n"  # not "ConflictError"
    short = run("--url", url, "users", "create", "b@example.com", "--password-stdin", input="x\n")
    assert short.exit_code == 2
    with connect(url) as store:
        assert store.get_user_by_email("b@example.com") is None  # no half-created user

    run("--url", url, "users", "create", "bob@example.com", "--name", "Bob")
    listed = run_json("--url", url, "users", "list")
    assert sorted(u["email"] for u in listed) == ["ann@example.com", "bob@example.com"]
    assert [u["email"] for u in run_json("--url", url, "users", "list", "--search", "BOB")] == [
        "bob@example.com"
    ]
    assert len(run_json("--url", url, "users", "list", "--limit", "1")) == 1
    table = run("--url", url, "users", "list")
    assert "ann@example.com" in table.stdout
    assert uid in table.stdout  # ids are never cut short

    shown = run_json("--url", url, "users", "show", uid)
    assert shown["email"] == "ann@example.com"
    assert [c["type"] for c in shown["credentials"]] == ["password"]
    as_text = run("--url", url, "users", "show", "ann@example.com")
    assert as_text.exit_code == 0
    assert "credentials" in as_text.stdout
    with connect(url) as store:
        stored_hash = store.list_credentials(uid)[0].data["hash"]
    assert stored_hash not in as_text.stdout + json.dumps(shown)
    assert run("--url", url, "users", "show", "nobody@example.com").exit_code == 1
    assert run("--url", url, "users", "show", "../etc").exit_code == 2

    changed = run(
        "--url", url, "users", "set-password", uid, "--password-stdin", input="new pass 123\n"
    )
    assert changed.exit_code == 0, changed.output
    prompted = run(
        "--url", url, "users", "set-password", "bob@example.com", input="s3cret-pass\ns3cret-pass\n"
    )
    assert prompted.exit_code == 0, prompted.output
    assert "s3cret-pass" not in prompted.stdout
    bcrypt_hash = "$2b$12$7f5Oa7NSSHq6m2vbnIvDA.x.RLSUlZh6M82WySvDZb0ikk0aZuY/K"
    imported = run(
        "--url", url, "users", "set-password", "bob@example.com", "--hash-stdin", input=bcrypt_hash
    )
    assert imported.exit_code == 0, imported.output
    with connect(url) as store:
        passwords = PasswordService(store)
        assert passwords.verify_password(uid, "new pass 123")
        bob = store.get_user_by_email("bob@example.com")
        assert bob is not None
        assert passwords.has_password(str(bob.id))
        assert store.list_credentials(str(bob.id))[0].data["hash"] == bcrypt_hash
        store.create_session(
            Session(session_token="t1", user_id=uid, expires=clock.now() + timedelta(days=1))
        )
    bad_hash = run("--url", url, "users", "set-password", uid, "--hash-stdin", input="plain\n")
    assert bad_hash.exit_code == 2

    disabled = run_json("--url", url, "users", "disable", "ann@example.com")
    assert disabled["disabled"] is True
    assert disabled["sessions_revoked"] == 1
    with connect(url) as store:
        ann = store.get_user(uid)
        assert ann is not None
        assert ann.extra["disabled"] is True
        assert "disabled_at" in ann.extra
        assert ann.extra["role"] == "admin"
        assert store.list_sessions(uid) == []
    enabled = run_json("--url", url, "users", "enable", uid)
    assert enabled["disabled"] is False
    assert enabled["extra"] == {"role": "admin", "level": 3}

    refused = run("--url", url, "users", "delete", uid, input="n\n")
    assert refused.exit_code == 1
    assert run_json("--url", url, "users", "delete", uid, "--yes")["deleted"]["id"] == uid
    with connect(url) as store:
        assert store.get_user(uid) is None
        assert store.list_credentials(uid) == []


def _table_rows(text: str) -> dict[str, list[str]]:
    """The rows of a rich table by their first cell, each as its cells."""
    rows: dict[str, list[str]] = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip("│┃ ").split("│")]
        if len(cells) > 1:
            rows[cells[0]] = cells
    return rows


def test_users_list_says_yes_or_no_in_its_columns(url: str) -> None:
    run("--url", url, "users", "create", "on@example.com", "--verified")
    run("--url", url, "users", "create", "off@example.com")
    run("--url", url, "users", "disable", "off@example.com")
    listed = run("--url", url, "users", "list")
    assert listed.exit_code == 0
    rows = _table_rows(listed.stdout)
    header = [c.strip() for c in listed.stdout.splitlines()[2].strip("┃ ").split("┃")]
    assert header == ["email", "id", "name", "verified", "disabled"]
    on, off = rows["on@example.com"], rows["off@example.com"]
    assert (on[3], on[4]) == ("yes", "no")  # not disabled reads "no", not a blank
    assert (off[3], off[4]) == ("no", "yes")
    shown = run("--url", url, "users", "show", "off@example.com").stdout
    assert "disabled: yes, since " in shown
    assert "email_verified: no" in shown
    assert "None" not in shown  # words, not Python values
    assert "False" not in shown


# -- sessions ----------------------------------------------------------------------


def test_sessions_list_and_revoke(url: str) -> None:
    with connect(url) as store:
        user = store.create_user(User(email="s@example.com"))
        uid = str(user.id)
        for n in range(3):
            store.create_session(
                Session(
                    id=f"sid-{n}",
                    session_token=f"secret-token-{n}",
                    user_id=uid,
                    expires=clock.now() + timedelta(days=n - 1, hours=1),
                )
            )
    listed = run_json("--url", url, "sessions", "list", "s@example.com")
    assert [s["id"] for s in listed] == ["sid-0", "sid-1", "sid-2"]
    assert [s["expired"] for s in listed] == [True, False, False]
    text = run("--url", url, "sessions", "list", uid)
    assert "sid-1" in text.stdout
    assert "secret-token" not in text.stdout + json.dumps(listed)

    assert run_json("--url", url, "sessions", "revoke", uid, "sid-0")["revoked"] == 1
    missing = run("--url", url, "--json", "sessions", "revoke", uid, "sid-0", "sid-1")
    assert missing.exit_code == 1
    assert json.loads(missing.stdout)["not_found"] == ["sid-0"]
    assert run("--url", url, "sessions", "revoke", uid).exit_code == 2
    assert run("--url", url, "sessions", "revoke", uid, "sid-2", "--all").exit_code == 2
    assert run_json("--url", url, "sessions", "revoke", uid, "--all")["revoked"] == 1
    with connect(url) as store:
        assert store.list_sessions(uid) == []


# -- links ---------------------------------------------------------------------------


def test_links_issue_prints_a_link_the_app_accepts(url: str) -> None:
    run("--url", url, "users", "create", "link@example.com")
    env: dict[str, str | None] = {"AUTH_STORE_SECRET": "old-secret new-secret"}
    result = run(
        "--url",
        url,
        "links",
        "issue",
        "Link@Example.com",
        "--base-url",
        "https://app.test/",
        env=env,
    )
    assert result.exit_code == 0, result.output
    link = result.stdout.strip()
    parts = urlsplit(link)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://app.test/auth/magic-link"
    query = parse_qs(parts.query)
    with connect(url) as store:
        tokens = TokenService(store, ["old-secret", "new-secret"])
        assert tokens.consume(query["email"][0], query["token"][0]) is not None
        assert tokens.consume(query["email"][0], query["token"][0]) is None

    reset = run_json(
        "--url",
        url,
        "links",
        "issue",
        "nobody@example.com",
        "--base-url",
        "http://localhost:8000",
        "--purpose",
        "reset-password",
        "--max-age",
        "15",
        env=env,
    )
    assert reset["link"].startswith("http://localhost:8000/auth/reset-password?token=")
    assert reset["user_exists"] is False
    assert (
        run(
            "--url",
            url,
            "links",
            "issue",
            "a@b.c",
            "--base-url",
            "http://x",
            env={"AUTH_STORE_SECRET": None},
        ).exit_code
        == 2
    )
    assert (
        run("--url", url, "links", "issue", "a@b.c", "--base-url", "ftp://x", env=env).exit_code
        == 2
    )


def test_links_issue_and_the_example_script_find_the_secret_the_same_way(
    url: str, tmp_path: Path
) -> None:
    """Both use auth_store.signing.secret_keys: AUTH_STORE_SECRET, else the demo's file."""
    from examples.demo_support import build_demo

    data = tmp_path / "demo"
    script = ROOT / "examples" / "issue_magic_link.py"

    def both(env: dict[str, str | None]) -> tuple[Result, subprocess.CompletedProcess[str]]:
        cli_run = run(
            "--url", url, "links", "issue", "ann@example.com", "--base-url", "http://localhost",
            "--secret-file", str(data / "secret.txt"), env=env,
        )  # fmt: skip
        child_env = {k: v for k, v in {**os.environ, **env}.items() if v is not None}
        example = subprocess.run(
            [PYTHON, str(script), "ann@example.com", "--store", url, "--data-dir", str(data)],
            env=child_env,
            capture_output=True,
            text=True,
            check=False,
        )
        return cli_run, example

    # Neither finds a secret: both refuse, and neither makes one up.
    data.mkdir()
    (data / "secret.txt").write_text("")
    refused, example = both({"AUTH_STORE_SECRET": None})
    assert refused.exit_code == 2
    assert example.returncode == 1
    reason = f"AUTH_STORE_SECRET is not set and {data / 'secret.txt'} holds no key"
    assert refused.stderr == f"Error: {reason}\n"
    assert reason in example.stderr
    (data / "secret.txt").unlink()

    # The demo's first start keeps a secret in its data folder: both find it there.
    with connect(url) as store:
        flow = build_demo(
            store, flow_class=AuthFlow, base_url="http://localhost", data_dir=data
        ).flow
        made, example = both({"AUTH_STORE_SECRET": None})
        assert made.exit_code == 0, made.output
        assert example.returncode == 0, example.stderr
        for link in (made.stdout.strip(), example.stdout.strip()):
            query = {k: v[0] for k, v in parse_qs(urlsplit(link).query).items()}
            assert urlsplit(link).path == "/auth/magic-link"
            assert flow.tokens.consume(query["email"], query["token"]) is not None

    # AUTH_STORE_SECRET wins over the file, for both.
    env_secret = "the-environment-secret-0123456789abcdef"
    made, example = both({"AUTH_STORE_SECRET": env_secret})
    with connect(url) as store:
        tokens = TokenService(store, [env_secret])
        for link in (made.stdout.strip(), example.stdout.strip()):
            query = {k: v[0] for k, v in parse_qs(urlsplit(link).query).items()}
            assert tokens.consume(query["email"], query["token"]) is not None


# -- keys and re-encryption ----------------------------------------------------------


def _encrypted_credential(url: str, keyring: Keyring, value: str) -> str:
    cipher = FieldCipher(keyring)
    with connect(url) as store:
        user = store.create_user(User(email=f"{value}@example.com"))
        credential = Credential(id=f"c-{value}", user_id=str(user.id), type="api_key", data={})
        credential.data = {
            "key": cipher.encrypt(
                value, collection="credentials", record_id=f"c-{value}", field="key"
            )
        }
        store.create_credential(credential)
    return f"c-{value}"


def _decrypts_under(url: str, keyring: Keyring, credential_id: str) -> str:
    with connect(url) as store:
        credential = store.get_credential(credential_id)
        assert credential is not None
        envelope = credential.data["key"]
    assert FieldCipher.key_id_of(envelope) == keyring.primary_id
    return FieldCipher(keyring).decrypt_str(
        envelope, collection="credentials", record_id=credential_id, field="key"
    )


def test_keys_generate_list_rotate(url: str, tmp_path: Path) -> None:
    no_keys: dict[str, str | None] = {"AUTH_STORE_KEYS": None, "AUTH_STORE_KEY_FILE": None}
    entry = run("keys", "generate", "--id", "first", env=no_keys).stdout.strip()
    assert entry.startswith("first:")
    assert Keyring.parse(entry).primary_id == "first"
    as_json = run_json("keys", "generate", env=no_keys)
    assert as_json["entry"].startswith(as_json["id"] + ":")

    key_file = tmp_path / "keys.txt"
    key_file.write_text(entry + "\n")
    old = Keyring.from_file(key_file)
    credential_id = _encrypted_credential(url, old, "alpha")
    file_env: dict[str, str | None] = {
        "AUTH_STORE_KEYS": None,
        "AUTH_STORE_KEY_FILE": str(key_file),
    }
    assert run_json("keys", "list", env=file_env) == {"primary": "first", "key_ids": ["first"]}
    listed = run("keys", "list", env=file_env)
    assert entry.split(":")[1] not in listed.stdout

    rotated = run_json("--url", url, "keys", "rotate", "--id", "second", env=file_env)
    assert rotated["id"] == "second"
    assert rotated["reencrypt"]["reencrypted"] == 1
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    new = Keyring.from_file(key_file)
    assert new.key_ids == ("first", "second")
    assert _decrypts_under(url, new, credential_id) == "alpha"

    refused = run(
        "--url", url, "keys", "rotate", env={"AUTH_STORE_KEYS": entry, "AUTH_STORE_KEY_FILE": None}
    )
    assert refused.exit_code == 2
    assert "AUTH_STORE_KEYS" in refused.output
    assert run("--url", url, "keys", "rotate", env=no_keys).exit_code == 2
    assert run("--url", url, "keys", "generate", "--append", str(tmp_path / "k2")).exit_code == 0
    assert len(Keyring.from_file(tmp_path / "k2")) == 1


def test_reencrypt(url: str) -> None:
    first, second, unrelated = (Keyring.generate_key(k) for k in ("k1", "k2", "x"))
    credential_id = _encrypted_credential(url, Keyring.parse(first), "beta")
    failing = run("--url", url, "--json", "reencrypt", env={"AUTH_STORE_KEYS": unrelated})
    assert failing.exit_code == 1
    assert json.loads(failing.stdout)["failed"] == 1

    keys = f"{first},{second}"
    counts = run_json("--url", url, "reencrypt", env={"AUTH_STORE_KEYS": keys})
    assert counts["reencrypted"] == 1
    assert run_json("--url", url, "reencrypt", env={"AUTH_STORE_KEYS": keys})["current"] == 1
    assert _decrypts_under(url, Keyring.parse(keys), credential_id) == "beta"
    no_keys: dict[str, str | None] = {"AUTH_STORE_KEYS": None, "AUTH_STORE_KEY_FILE": None}
    assert run("--url", url, "reencrypt", env=no_keys).exit_code == 2


def test_reencrypt_moves_oauth_tokens_in_accounts(url: str) -> None:
    first, second = (Keyring.generate_key(k) for k in ("k1", "k2"))
    cipher = FieldCipher(Keyring.parse(first))
    with connect(url) as store:
        user = store.create_user(User(email="oauth@example.com"))
        account = Account(
            id="acc-1",
            user_id=str(user.id),
            type="oauth",
            provider="github",
            provider_account_id="583231",
        )
        account.access_token = cipher.encrypt(
            "gho_secret", collection="accounts", record_id="acc-1", field="access_token"
        )
        store.link_account(account)
    keys = f"{first},{second}"
    counts = run_json("--url", url, "reencrypt", env={"AUTH_STORE_KEYS": keys})
    assert (counts["accounts"], counts["reencrypted"], counts["failed"]) == (1, 1, 0)
    shown = run("--url", url, "reencrypt", env={"AUTH_STORE_KEYS": keys})
    assert "1 account(s) scanned" in shown.output
    assert "gho_secret" not in shown.output
    with connect(url) as store:
        moved = store.get_account("github", "583231")
    assert moved is not None
    assert moved.access_token is not None
    assert FieldCipher.key_id_of(moved.access_token) == "k2"
    only_new = FieldCipher(Keyring.parse(second))
    assert (
        only_new.decrypt_str(
            moved.access_token, collection="accounts", record_id="acc-1", field="access_token"
        )
        == "gho_secret"
    )


# -- stats, health, purge, schema, check ---------------------------------------------


def test_read_commands_work_while_a_writer_holds_the_lock(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/busy.db"
    with connect(url) as store:
        populate(store, KEYRING, users=2)
    # Another process in the middle of a long write transaction: opening the
    # store must not need the write lock when its schema is up to date.
    writer = sqlite3.connect(tmp_path / "busy.db", isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("UPDATE users SET name = 'busy' WHERE id = 'user-0000'")
        # Had opening needed the write lock, it would fail after the 200 ms busy timeout.
        stats = run_json("--url", f"{url}?busy_timeout=200", "stats")
        assert stats["counts"]["users"] == 2
        assert stats["schema_version"] == SQLITE_SCHEMA
        writer.execute("ROLLBACK")
    finally:
        writer.close()


def test_stats_of_a_file_store_report_its_open_time_and_memory(tmp_path: Path) -> None:
    url = f"file://{tmp_path / 'files'}"
    with connect(url) as store:
        populate(store, KEYRING, users=3)
    stats = run_json("--url", url, "stats")
    assert stats["counts"]["users"] == 3
    resources = stats["resources"]
    assert resources["open_ms"] > 0
    assert resources["rss_mib"] > 0
    assert resources["rss_added_mib"] >= 0
    assert resources["index_log_bytes"] > 0
    text = run("--url", url, "stats").stdout
    assert "open ms:" in text
    assert "rss added mib:" in text
    sqlite_url = f"sqlite:///{tmp_path / 'x.db'}"
    connect(sqlite_url).close()
    assert "resources" not in run_json("--url", sqlite_url, "stats")


def test_stats_health_purge_schema(url: str, tmp_path: Path) -> None:
    with connect(url) as store:
        populate(store, KEYRING, users=3)
    stats = run_json("--url", url, "stats")
    assert stats["counts"]["users"] == 3
    assert stats["total"] == 3 * 6 + 3
    assert stats["schema_version"] == SQLITE_SCHEMA
    assert "users" in run("--url", url, "stats").stdout

    health = run_json("--url", url, "health")
    assert health["reachable"] is True
    assert health["ok"] is True
    assert health["backend"] == "sqlite"
    assert health["round_trip_ms"] >= 0
    assert "round trip" in run("--url", url, "health").stdout
    down = run("--url", f"sqlite:///{tmp_path}/no/such/dir/x.db", "--json", "health")
    assert down.exit_code == 1
    assert json.loads(down.stdout)["reachable"] is False

    purged = run_json("--url", url, "purge-expired")["purged"]
    assert purged == {"sessions": 3, "verification_tokens": 3}
    assert run_json("--url", url, "purge-expired")["purged"] == {
        "sessions": 0,
        "verification_tokens": 0,
    }

    fresh = f"sqlite:///{tmp_path}/fresh.db"
    connect(f"{fresh}?migrate=false").close()  # a store whose schema is not there yet
    status = run_json("--url", fresh, "schema", "status")
    assert status["current"] == 0
    assert status["pending"] == ["0001_initial", "0002_session_details"]
    assert "pending: 0001_initial" in run("--url", fresh, "schema", "status").stdout
    upgraded = run_json("--url", fresh, "schema", "upgrade")
    assert upgraded["applied"] == [1, 2]
    assert run_json("--url", fresh, "schema", "status")["pending"] == []
    assert "already up to date" in run("--url", fresh, "schema", "upgrade").stdout
    files = f"file://{tmp_path}/files"
    assert run("--url", files, "schema", "status").exit_code == 2  # no store there
    made = run("--url", files, "schema", "upgrade")  # makes one, and says so
    assert made.exit_code == 0
    assert made.stderr == "note: no store was at the URL: created a new file store\n"
    assert run_json("--url", files, "schema", "status") == {"backend": "file", "versioned": False}
    assert run("--url", files, "schema", "upgrade").stderr == ""


def test_source_with_pending_schema_is_refused(tmp_path: Path) -> None:
    fresh = f"sqlite:///{tmp_path}/old.db"
    connect(f"{fresh}?migrate=false").close()  # a store with every migration pending
    result = run("migrate", "--from", fresh, "--to", f"sqlite:///{tmp_path}/new.db")
    assert result.exit_code == 2
    assert "schema upgrade" in result.output


def test_check_command(url: str) -> None:
    with connect(url) as store:
        populate(store, KEYRING, users=3)
    clean = run_json("--url", url, "check")
    assert clean["ok"] is True
    assert clean["expired"]["sessions"] == 3
    sqlite_exec(url, "DELETE FROM users WHERE id = 'user-0002'")
    damaged = run("--url", url, "check")
    assert damaged.exit_code == 1
    assert "user-0002" in damaged.stdout
    repaired = run_json("--url", url, "check", "--repair")
    assert repaired["ok"] is True
    assert any("user-0002" in line for line in repaired["repaired"])
    assert run_json("--url", url, "check")["expired"] == {"sessions": 0, "verification_tokens": 0}


# -- export and import through pipes ---------------------------------------------------


def test_export_to_stdout_and_import_from_stdin(url: str, tmp_path: Path) -> None:
    with connect(url) as store:
        populate(store, KEYRING, users=2)
    exported = run("--url", url, "export")
    assert exported.exit_code == 0
    lines = exported.stdout.splitlines()
    assert json.loads(lines[0])["format"] == "auth-store"
    assert json.loads(lines[-1])["end"] is True
    other = f"sqlite:///{tmp_path}/other.db"
    imported = run_json("--url", other, "import", "-", input=exported.stdout)
    assert imported["ok"] is True
    assert imported["copied"]["users"] == 2
    again = run("--url", other, "export").stdout.splitlines()
    assert again[1:] == lines[1:]


# -- real processes and a terminal ---------------------------------------------------


def test_migrate_and_backup_as_real_processes(url: str, tmp_path: Path) -> None:
    with connect(url) as store:
        populate(store, KEYRING, users=3)
    target = f"file://{tmp_path}/copy"
    migrated = subprocess.run(
        [AUTH_STORE, "--json", "migrate", "--from", url, "--to", target],
        capture_output=True,
        text=True,
        check=False,
    )
    assert migrated.returncode == 0, migrated.stderr
    assert json.loads(migrated.stdout)["verification"]["ok"] is True
    backed = subprocess.run(
        [AUTH_STORE, "--url", target, "backup", str(tmp_path / "bk")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert backed.returncode == 0, backed.stderr
    assert list((tmp_path / "bk").glob("auth-store-file-copy.*-*.tar.gz"))
    failed = subprocess.run(
        [AUTH_STORE, "--url", "nope://", "stats"], capture_output=True, text=True, check=False
    )
    assert failed.returncode == 2


def test_progress_bars_on_a_terminal_only(url: str, tmp_path: Path) -> None:
    with connect(url) as store:
        store.import_records([User(id=f"u{i}", email=f"u{i}@example.com") for i in range(600)])
    master, slave = pty.openpty()
    process = subprocess.Popen(
        [AUTH_STORE, "migrate", "--from", url, "--to", f"sqlite:///{tmp_path}/t.db"],
        stdout=subprocess.PIPE,
        stderr=slave,
        env={**os.environ, "COLUMNS": "120", "TERM": "xterm"},
    )
    os.close(slave)
    seen = b""
    while True:  # until the command ends (pytest-timeout guards against a hang)
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        elif process.poll() is not None:
            break
    os.close(master)
    stdout, _ = process.communicate()
    assert process.returncode == 0
    terminal = seen.decode("utf-8", "replace")
    assert "copy" in terminal
    assert "verify source" in terminal
    assert "600/600" in terminal
    assert b"verification passed" in stdout
    piped = subprocess.run(
        [AUTH_STORE, "migrate", "--from", url, "--to", f"sqlite:///{tmp_path}/t2.db"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert piped.returncode == 0
    assert piped.stderr == ""  # no progress output when stderr is not a terminal


# -- the generated reference ----------------------------------------------------------


def test_cli_reference_is_current() -> None:
    spec = importlib.util.spec_from_file_location(
        "gen_cli_reference", ROOT / "docs" / "gen_cli_reference.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    page = module.render()
    assert "## auth-store users create" in page
    assert "## auth-store schema upgrade" in page
    current = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert current == page, "docs/cli.md is stale: run python docs/gen_cli_reference.py"


def test_migrate_refuses_the_same_store(url: str) -> None:
    run("--url", url, "users", "create", "x@example.com")
    same = url + "?durability=normal"  # another spelling of the same file
    result = run("migrate", "--from", url, "--to", same)
    assert result.exit_code == 2
    assert "same store" in result.output
