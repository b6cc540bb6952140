"""Backups of live stores and restoring them, as real processes."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from auth_store import connect
from auth_store.adapters.postgres import libpq_tool_target, parse_url, pg_backup_name
from auth_store.backup import BACKUP_NAME, backup, list_backups
from auth_store.cli import cli
from auth_store.crypto import Keyring
from auth_store.jsonl import dumps_record
from tests._migration_data import (
    AUTH_STORE,
    BACKENDS,
    PYTHON,
    StoreFactory,
    check_decrypts,
    populate,
    stores,
)

__all__ = ["stores"]

KEYRING = Keyring.generate()

# A writer process: creates users until it is stopped, logging each id only
# after create_user returned (an acknowledged write).
WRITER = """
import sys
import auth_store
from auth_store.models import User

url, log, prefix = sys.argv[1:4]
store = auth_store.connect(url)
with open(log, "a", encoding="utf-8") as out:
    i = 0
    while True:
        uid = f"{prefix}-{i}"
        store.create_user(User(id=uid, email=f"{uid}@example.com"))
        out.write(uid + "\\n")
        out.flush()
        i += 1
"""


def _acknowledged(logs: list[Path]) -> set[str]:
    acked: set[str] = set()
    for log in logs:
        text = log.read_text(encoding="utf-8") if log.exists() else ""
        lines = text.split("\n")
        acked.update(line for line in lines[:-1] if line)  # complete lines only
    return acked


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_backup_while_four_processes_write(
    stores: StoreFactory, backend: str, tmp_path: Path
) -> None:
    url = stores.new(backend)
    with connect(url) as store:
        plain = populate(store, KEYRING)
    logs = [tmp_path / f"writer{n}.log" for n in range(4)]
    # Four writers in tight loops of fsync'ed commits: SQLite's lock is not
    # fair, and on a busy disk one of them can wait past the default 5 s busy
    # timeout. What is tested here is the backup, so the writers wait longer.
    writer_url = f"{url}?busy_timeout=60000" if backend == "sqlite" else url
    writers = [
        subprocess.Popen([PYTHON, "-c", WRITER, writer_url, str(log), f"w{n}"])
        for n, log in enumerate(logs)
    ]
    dest = tmp_path / "backups"
    try:
        while min(len(_acknowledged([log])) for log in logs) < 10:
            assert all(w.poll() is None for w in writers), "a writer died"
            time.sleep(0.02)
        acked = _acknowledged(logs)
        done = subprocess.run(
            [AUTH_STORE, "--url", url, "--json", "backup", str(dest)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        time.sleep(0.2)  # the writers keep going after the backup
        assert all(w.poll() is None for w in writers), "a writer died"
    finally:
        for writer in writers:
            writer.kill()
            writer.wait()
    result = json.loads(done.stdout)
    native = {"sqlite": "sqlite-backup-api", "file": "file-snapshot", "postgres": "pg_dump"}
    assert result["method"] == native[backend]
    backup = Path(result["path"])
    assert backup.parent == dest
    assert BACKUP_NAME.match(backup.name)
    assert oct(backup.stat().st_mode & 0o777) == "0o600"
    assert len(acked) >= 40

    restored = stores.new(backend)
    done = subprocess.run(
        [AUTH_STORE, "--url", restored, "--json", "restore", str(backup)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    with connect(restored) as store:
        missing = [uid for uid in acked if store.get_user(uid) is None]
        assert missing == []
        check_decrypts(store, KEYRING, plain)
        assert store.counts()["credentials"] == 12
    after_backup = _acknowledged(logs) - acked
    assert after_backup, "no write happened during and after the backup"


def test_keep_removes_only_older_backups_of_the_same_store(
    stores: StoreFactory, tmp_path: Path
) -> None:
    url = stores.new("sqlite")
    with connect(url) as store:
        populate(store, KEYRING, users=2)
    dest = tmp_path / "bk"
    dest.mkdir()
    (dest / "notes.txt").write_text("not a backup")
    (dest / "auth-store-sqlite-other-20200101T000000000000Z.sqlite3").write_text("another store")
    runner = CliRunner()
    paths = []
    for _ in range(4):
        result = runner.invoke(cli, ["--url", url, "--json", "backup", str(dest), "--keep", "2"])
        assert result.exit_code == 0, result.output
        paths.append(Path(json.loads(result.stdout)["path"]))
    remaining = sorted(p.name for p in dest.iterdir())
    assert remaining == sorted(
        ["notes.txt", "auth-store-sqlite-other-20200101T000000000000Z.sqlite3"]
        + [p.name for p in paths[-2:]]
    )
    assert list_backups(dest, "sqlite", paths[0].name.split("-")[3]) == paths[-2:]
    result = runner.invoke(cli, ["--url", url, "backup", str(dest), "--keep", "-1"])
    assert result.exit_code == 2


@pytest.mark.parametrize("backend", BACKENDS)
def test_jsonl_backup_restores_into_every_backend(
    stores: StoreFactory, backend: str, tmp_path: Path
) -> None:
    url = stores.new("sqlite")
    with connect(url) as store:
        populate(store, KEYRING, users=3)
        expected = sorted(dumps_record(r) for r in store.export())
    runner = CliRunner()
    native = runner.invoke(cli, ["--url", url, "--json", "backup", str(tmp_path)])
    export = runner.invoke(
        cli, ["--url", url, "--json", "backup", str(tmp_path), "--format", "jsonl"]
    )
    for made in (native, export):
        assert made.exit_code == 0, made.output
        target = stores.new(backend)
        path = json.loads(made.stdout)["path"]
        result = runner.invoke(cli, ["--url", target, "--json", "restore", path])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["ok"] is True
        with connect(target) as store:
            assert sorted(dumps_record(r) for r in store.export()) == expected


def test_restore_refuses_a_store_that_is_not_empty(stores: StoreFactory, tmp_path: Path) -> None:
    url = stores.new("sqlite")
    with connect(url) as store:
        populate(store, KEYRING, users=2)
    runner = CliRunner()
    made = runner.invoke(cli, ["--url", url, "--json", "backup", str(tmp_path)])
    path = json.loads(made.stdout)["path"]
    other = stores.new("sqlite")
    with connect(other) as store:
        populate(store, Keyring.generate(), users=1)
        store.update_user("user-0000", name="someone else")
    result = runner.invoke(cli, ["--url", other, "restore", path])
    assert result.exit_code == 2
    assert "not empty" in result.output


def test_pg_dump_of_one_schema_restores_into_another_database(
    stores: StoreFactory, tmp_path: Path
) -> None:
    if "postgres" not in BACKENDS:
        pytest.fail("the Postgres backend is missing")
    url = stores.new("postgres") + "?schema=tenant_a"
    with connect(url) as store:
        populate(store, KEYRING, users=2)
        expected = sorted(dumps_record(r) for r in store.export())
    runner = CliRunner()
    made = runner.invoke(cli, ["--url", url, "--json", "backup", str(tmp_path)])
    assert made.exit_code == 0, made.output
    result = json.loads(made.stdout)
    assert result["method"] == "pg_dump"
    assert Path(result["path"]).name.startswith("auth-store-postgres-")
    target = stores.new("postgres") + "?schema=tenant_a"
    restored = runner.invoke(cli, ["--url", target, "--json", "restore", result["path"]])
    assert restored.exit_code == 0, restored.output
    assert json.loads(restored.stdout)["counts"]["credentials"] == 4
    with connect(target) as store:
        assert sorted(dumps_record(r) for r in store.export()) == expected
    refused = runner.invoke(cli, ["--url", target, "restore", result["path"]])
    assert refused.exit_code == 2  # not empty any more


def test_postgres_backup_without_pg_dump_is_an_export(stores: StoreFactory, tmp_path: Path) -> None:
    if "postgres" not in BACKENDS:
        pytest.fail("the Postgres backend is missing")
    url = stores.new("postgres")
    with connect(url) as store:
        populate(store, KEYRING, users=2)
    done = subprocess.run(
        [AUTH_STORE, "--url", url, "--json", "backup", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": str(tmp_path), "HOME": str(tmp_path)},  # no pg_dump here
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["method"] == "export"
    assert result["path"].endswith(".jsonl")
    target = stores.new("sqlite")
    restored = CliRunner().invoke(cli, ["--url", target, "--json", "restore", result["path"]])
    assert restored.exit_code == 0, restored.output
    assert json.loads(restored.stdout)["counts"]["users"] == 2


def _open_to_others(dest: Path) -> list[str]:
    """Files under ``dest`` that another user could open (no private directory on the way)."""
    exposed = []
    for path in dest.rglob("*"):
        if path.is_dir():
            continue
        guarded = path.stat().st_mode & 0o077 == 0 or any(
            parent.stat().st_mode & 0o077 == 0
            for parent in path.parents
            if parent != dest and dest in parent.parents
        )
        if not guarded:
            exposed.append(f"{path.relative_to(dest)} {oct(path.stat().st_mode & 0o777)}")
    return exposed


def test_a_backup_is_never_readable_by_others_even_while_it_is_written(
    stores: StoreFactory, tmp_path: Path
) -> None:
    url = stores.new("sqlite")
    with connect(url) as store:
        populate(store, KEYRING, users=2)
    dest = tmp_path / "bk"
    dest.mkdir()
    seen: list[list[str]] = []

    def progress(phase: str, done: int, total: int) -> None:
        seen.append(_open_to_others(dest))  # called while the backup file is being written

    old_umask = os.umask(0o022)  # what sqlite3 and pg_dump create files with
    try:
        with connect(url) as store:
            made = backup(store, dest, url=url, progress=progress)
            export = backup(store, dest, url=url, format="jsonl", progress=progress)
    finally:
        os.umask(old_umask)
    assert seen, "the progress callback never ran"
    assert all(exposed == [] for exposed in seen), seen
    assert made.method == "sqlite-backup-api"
    for path in (made.path, export.path):
        assert oct(path.stat().st_mode & 0o777) == "0o600"
    # Nothing is left behind but the two backups.
    assert sorted(p.name for p in dest.iterdir()) == sorted([made.path.name, export.path.name])


def test_stores_that_share_a_file_name_never_prune_each_others_backups(
    stores: StoreFactory, tmp_path: Path
) -> None:
    dest = tmp_path / "bk"
    made = []
    for where in ("app1", "app2"):
        (tmp_path / where).mkdir()
        url = f"sqlite:///{tmp_path}/{where}/auth.db"
        with connect(url) as store:
            populate(store, KEYRING, users=1)
            made.append(backup(store, dest, url=url, keep=1))
    assert made[1].removed == []
    assert sorted(p.name for p in dest.iterdir()) == sorted(m.path.name for m in made)
    first, second = (BACKUP_NAME.match(m.path.name) for m in made)
    assert first is not None
    assert second is not None
    assert first["name"] != second["name"]
    assert first["name"].startswith("auth.")
    assert second["name"].startswith("auth.")
    # The same store keeps its name, so its own older backups are still pruned.
    url = f"sqlite:///{tmp_path}/app1/auth.db"
    with connect(url) as store:
        again = backup(store, dest, url=url, keep=1)
    assert again.removed == [made[0].path]


def test_postgres_backup_names_and_credentials() -> None:
    def name(url: str) -> str:
        conninfo, options = parse_url(url)
        schema = options.get("schema")
        return pg_backup_name(conninfo, schema if isinstance(schema, str) else None)

    names = {
        name(url)
        for url in (
            "postgresql://app@db1.internal/app?schema=tenant_a",
            "postgresql://app@db1.internal/app?schema=tenant_b",
            "postgresql://app@db2.internal/app?schema=tenant_a",
        )
    }
    assert len(names) == 3  # two schemas, two hosts: never one backup name
    assert all(name.startswith("app.tenant_") for name in names)
    # The user and password do not make another store.
    assert name("postgresql://app:pw1@db1.internal/app") == name(
        "postgresql://other:pw2@db1.internal/app"
    )

    # pg_dump and pg_restore get the password in their environment, never in argv.
    for url in (
        "postgresql://app:s3cret%40pw@db.internal:5433/app?sslmode=require&schema=auth",
        "postgresql://app@db.internal:5433/app?password=s3cret%40pw&sslmode=require",
    ):
        target, env = libpq_tool_target(parse_url(url)[0])
        assert env == {"PGPASSWORD": "s3cret@pw"}
        assert "s3cret" not in target
        assert sorted(target.split()) == [
            "dbname=app",
            "host=db.internal",
            "port=5433",
            "sslmode=require",
            "user=app",
        ]
