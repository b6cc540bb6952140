"""Backups of live stores and restoring them, as real processes."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from auth_store import connect
from auth_store.backup import BACKUP_NAME, list_backups
from auth_store.cli import cli
from auth_store.crypto import Keyring
from auth_store.exchange import dumps_record
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
    writers = [
        subprocess.Popen([PYTHON, "-c", WRITER, url, str(log), f"w{n}"])
        for n, log in enumerate(logs)
    ]
    dest = tmp_path / "backups"
    try:
        deadline = time.monotonic() + 60
        while min(len(_acknowledged([log])) for log in logs) < 10:
            assert all(w.poll() is None for w in writers), "a writer died"
            assert time.monotonic() < deadline, "the writers are too slow"
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
