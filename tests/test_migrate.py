"""Migration between backends: copy, verification, resumption, export/import, mirror, checks."""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import sqlite3
import subprocess
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from auth_store import connect
from auth_store.checks import check_store
from auth_store.cli import cli
from auth_store.crypto import Keyring
from auth_store.errors import ValidationError
from auth_store.jsonl import JsonlSource, dumps_record, read_jsonl, write_jsonl
from auth_store.migration import (
    migrate,
    open_source,
    store_path,
    verify,
)
from auth_store.mirror import Divergence, MirrorAdapter
from auth_store.models import Credential, Session, User, VerificationToken
from tests._migration_data import (
    BACKENDS,
    DIRECTIONS,
    PYTHON,
    T0,
    PostgresDatabases,
    StoreFactory,
    check_decrypts,
    checksum,
    populate,
    sqlite_exec,
    stores,
)

__all__ = ["stores"]  # the fixture, re-exported for pytest

KEYRING = Keyring.generate()


def _lines(url: str) -> list[str]:
    with connect(url) as store:
        return [dumps_record(r) for r in store.export()]


def _run(*args: str) -> Any:
    result = CliRunner().invoke(cli, ["--json", *args], catch_exceptions=False)
    return result


# -- every direction ---------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "target"), DIRECTIONS, ids=[f"{a}-to-{b}" for a, b in DIRECTIONS]
)
def test_migrate_between_backends(stores: StoreFactory, source: str, target: str) -> None:
    src, dst = stores.new(source), stores.new(target)
    with connect(src) as store:
        plain = populate(store, KEYRING)
        expected = sorted(dumps_record(r) for r in store.export())
    before = checksum(src)

    result = _run("migrate", "--from", src, "--to", dst, "--batch-size", "7")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert report["verification"]["problems"] == []
    assert report["copied"]["credentials"] == 12
    assert report["verification"]["counts"]["users"] == {"source": 6, "target": 6, "expected": 6}

    assert checksum(src) == before, "the source changed"
    assert sorted(_lines(dst)) == expected
    with connect(dst) as store:
        check_decrypts(store, KEYRING, plain)
        user = store.get_user_by_email("PERSON.1@example.org")
        assert user is not None
        assert user.id == "user-0001"
        pair = store.get_session_and_user(store.list_sessions("user-0003")[0].session_token)
        assert pair is not None
        assert pair[1].id == "user-0003"


@pytest.mark.parametrize("backend", BACKENDS)
def test_export_import_round_trip_is_exact(
    stores: StoreFactory, backend: str, tmp_path: Path
) -> None:
    src, dst = stores.new(backend), stores.new(backend)
    with connect(src) as store:
        populate(store, KEYRING)
    out = tmp_path / "export.jsonl"
    assert _run("--url", src, "export", str(out)).exit_code == 0
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    header = json.loads(out.read_text().splitlines()[0])
    assert header["format"] == "auth-store"
    assert header["version"] == 1
    result = _run("--url", dst, "import", str(out))
    assert result.exit_code == 0, result.output
    again = tmp_path / "again.jsonl"
    assert _run("--url", dst, "export", str(again)).exit_code == 0
    first, second = out.read_text().splitlines(), again.read_text().splitlines()
    assert sorted(first[1:]) == sorted(second[1:])  # every record line, and the end line
    assert len(first) == 6 * 6 + 3 + 2


# -- resuming, refusing, merging ---------------------------------------------


def test_rerun_skips_what_is_there(stores: StoreFactory) -> None:
    src, dst = stores.new("sqlite"), stores.new("sqlite")
    with connect(src) as store:
        populate(store, KEYRING)
    with open_source(src) as source, connect(dst) as target:
        # Simulate an interruption: only the users and some accounts arrived.
        partial = [r for r in source.export() if isinstance(r, User)]
        target.import_records(partial)
        result = migrate(source, target, batch_size=4)
        assert result.ok
        assert result.resumed
        assert result.skipped["users"] == 6
        assert result.copied["users"] == 0
        assert result.copied["sessions"] == 6
        assert verify(source, target).ok


def test_foreign_target_is_refused_unless_merge(stores: StoreFactory) -> None:
    src, dst = stores.new("sqlite"), stores.new("sqlite")
    with connect(src) as store:
        populate(store, KEYRING)
    with connect(dst) as store:
        store.create_user(User(id="someone-else", email="else@example.net"))
    before = checksum(dst)
    result = _run("migrate", "--from", src, "--to", dst)
    assert result.exit_code == 2
    assert "not empty" in result.output
    assert "--merge" in result.output
    assert checksum(dst) == before

    result = _run("migrate", "--from", src, "--to", dst, "--merge")
    assert result.exit_code == 0, result.output
    counts = json.loads(result.stdout)["verification"]["counts"]
    assert counts["users"] == {"source": 6, "target": 7, "expected": 7}


def test_merge_conflict_is_reported_and_left_alone(stores: StoreFactory) -> None:
    src, dst = stores.new("sqlite"), stores.new("sqlite")
    with connect(src) as store:
        populate(store, KEYRING)
    with connect(dst) as store:
        store.create_user(User(id="user-0002", email="changed@example.net"))
    result = _run("migrate", "--from", src, "--to", dst, "--merge")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    conflicts = [p for p in report["problems"] if p["kind"] == "conflict"]
    assert any("user user-0002" in p["message"] for p in conflicts)
    with connect(dst) as store:
        kept = store.get_user("user-0002")
        assert kept is not None
        assert kept.email == "changed@example.net"


def test_missing_source_is_a_usage_error(tmp_path: Path) -> None:
    result = _run("migrate", "--from", f"sqlite:///{tmp_path}/nope.db", "--to", "memory://")
    assert result.exit_code == 2
    assert result.output == f"Error: no store at {tmp_path}/nope.db: no such file\n"
    assert not (tmp_path / "nope.db").exists()


# -- a migration killed halfway ------------------------------------------------


def _target_users(url: str) -> int:
    path = store_path(url)
    assert path is not None
    if url.startswith("file:"):
        users = path / "users"
        return sum(1 for p in users.glob("*.json")) if users.is_dir() else 0
    if not path.exists():
        return 0
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1)
        try:
            return int(conn.execute("SELECT count(*) FROM users").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


@pytest.mark.slow
def test_killed_migration_leaves_source_intact_and_rerun_completes(
    stores: StoreFactory,
) -> None:
    total = 1500
    src = stores.new("sqlite")
    # durability=normal only skips fsyncs: a SIGKILL loses nothing the OS was given.
    dst = stores.new("file" if "file" in BACKENDS else "sqlite") + "?durability=normal"
    with connect(src) as store:
        store.import_records(
            [User(id=f"u{i}", email=f"u{i}@example.com") for i in range(total)]
            + [
                Session(id=f"s{i}", session_token=f"t{i}", user_id=f"u{i}", expires=T0)
                for i in range(total)
            ]
        )
    before = checksum(src)
    command = [PYTHON, "-m", "auth_store", "--json", "migrate", "--from", src, "--to", dst]
    process = subprocess.Popen(
        [*command, "--batch-size", "20"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        while _target_users(dst) < 100:
            assert process.poll() is None, "the migration ended before it could be killed"
            time.sleep(0.005)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    assert process.returncode == -signal.SIGKILL
    assert 0 < _target_users(dst) < total, "the kill came too late to interrupt anything"
    assert checksum(src) == before

    with open_source(src) as source, connect(dst) as target:
        assert not verify(source, target, sample=0).ok  # really incomplete

    rerun = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert rerun.returncode == 0, rerun.stderr
    result = json.loads(rerun.stdout)
    assert result["resumed"] is True
    assert result["ok"] is True
    assert result["skipped"]["users"] >= 100
    assert result["skipped"]["users"] + result["copied"]["users"] == total
    assert checksum(src) == before


def test_a_copy_that_fails_part_way_says_so_and_a_rerun_resumes(stores: StoreFactory) -> None:
    src, dst = stores.new("file"), stores.new("sqlite")
    with connect(src) as store:
        populate(store, KEYRING)
    before = checksum(src)
    root = store_path(src)
    assert root is not None
    # A session record that stopped parsing: the source fails after the users
    # (exported first) have been written to the target in batches of one.
    damaged = root / "sessions" / "sess-3.json"
    good = damaged.read_bytes()
    damaged.write_bytes(good[:20])

    result = _run("migrate", "--from", src, "--to", dst, "--batch-size", "1")
    assert result.exit_code == 1
    assert "StorageError" not in result.output  # the problem, not the class
    assert "sess-3.json" in result.output
    assert "stopped part-way" in result.output
    assert "Run the same command again to resume" in result.output
    assert _target_users(dst) > 0  # the target really holds part of the copy

    damaged.write_bytes(good)
    assert checksum(src) == before
    rerun = _run("migrate", "--from", src, "--to", dst)
    assert rerun.exit_code == 0, rerun.output
    report = json.loads(rerun.stdout)
    assert report["resumed"] is True
    assert report["ok"] is True
    assert report["skipped"]["users"] == 6


# -- planted damage fails verification -----------------------------------------


@pytest.fixture
def migrated(stores: StoreFactory) -> tuple[str, str]:
    src, dst = stores.new("sqlite"), stores.new("sqlite")
    with connect(src) as store:
        populate(store, KEYRING)
    assert _run("migrate", "--from", src, "--to", dst).exit_code == 0
    return src, dst


def _problems(result: Any) -> list[dict[str, str]]:
    assert result.exit_code == 1, result.output
    problems: list[dict[str, str]] = json.loads(result.stdout)["problems"]
    return problems


def test_planted_orphan_fails_verification(migrated: tuple[str, str]) -> None:
    src, dst = migrated
    sqlite_exec(dst, "UPDATE sessions SET \"userId\" = 'ghost-user' WHERE id = 'sess-2'")
    problems = _problems(_run("verify", "--from", src, "--to", dst))
    orphans = [p for p in problems if p["kind"] == "orphan"]
    assert len(orphans) == 1
    assert "session sess-2" in orphans[0]["message"]
    assert "ghost-user" in orphans[0]["message"]
    check = _run("--url", dst, "check")
    assert any(p["kind"] == "orphan" for p in _problems(check))


def test_planted_duplicate_fails_verification(migrated: tuple[str, str]) -> None:
    src, dst = migrated
    # SQLite enforces uniqueness, so the duplicate is planted in a copy whose
    # unique index is gone: a target that lost a constraint is exactly what
    # verification must catch.
    sqlite_exec(dst, "CREATE TABLE u2 AS SELECT * FROM users")
    sqlite_exec(dst, "DROP TABLE users")
    sqlite_exec(dst, "ALTER TABLE u2 RENAME TO users")
    sqlite_exec(
        dst,
        'INSERT INTO users (id, name, email, "emailVerified", image, extra)'
        " SELECT 'user-dup', name, email, \"emailVerified\", image, extra FROM users"
        " WHERE id = 'user-0004'",
    )
    problems = _problems(_run("verify", "--from", src, "--to", dst))
    duplicates = [p for p in problems if p["kind"] == "duplicate"]
    assert duplicates, problems
    assert any("user-dup" in p["message"] and "e-mail" in p["message"] for p in duplicates)


def test_planted_count_mismatch_fails_verification(migrated: tuple[str, str]) -> None:
    src, dst = migrated
    sqlite_exec(dst, "DELETE FROM authenticators WHERE \"credentialID\" = 'cred-id-3'")
    problems = _problems(_run("verify", "--from", src, "--to", dst))
    mismatches = [p for p in problems if p["kind"] == "count_mismatch"]
    assert [p["collection"] for p in mismatches] == ["authenticators"]
    assert "5 authenticators, expected 6" in mismatches[0]["message"]
    assert any("cred-id-3" in p["message"] for p in problems if p["kind"] == "missing")


def test_changed_field_is_named(migrated: tuple[str, str]) -> None:
    src, dst = migrated
    sqlite_exec(dst, "UPDATE credentials SET version = 9 WHERE id = 'apikey-1'")
    problems = _problems(_run("verify", "--from", src, "--to", dst, "--sample", "1000"))
    assert any(p["kind"] == "different" and "apikey-1" in p["message"] for p in problems)
    lookups = [p for p in problems if p["kind"] == "lookup"]
    assert not lookups  # records found different are not looked up again


def test_changed_session_detail_is_named(migrated: tuple[str, str]) -> None:
    src, dst = migrated
    sqlite_exec(dst, "UPDATE sessions SET \"ipAddress\" = '192.0.2.99' WHERE id = 'sess-1'")
    problems = _problems(_run("verify", "--from", src, "--to", dst, "--sample", "1000"))
    assert any(p["kind"] == "different" and "sess-1" in p["message"] for p in problems)


def test_verification_never_prints_secrets(migrated: tuple[str, str]) -> None:
    src, dst = migrated
    with connect(src) as store:
        tokens = [s.session_token for s in store.list_sessions("user-0001")]
    sqlite_exec(dst, "DELETE FROM sessions WHERE \"userId\" = 'user-0001'")
    result = _run("verify", "--from", src, "--to", dst)
    assert result.exit_code == 1
    assert "sess-1" in result.output
    assert not any(token in result.output for token in tokens)


# -- the export format -----------------------------------------------------------


def _export_text(records: list[Any]) -> str:
    stream = io.StringIO()
    write_jsonl(records, stream)
    return stream.getvalue()


def test_truncated_or_foreign_exports_are_refused(tmp_path: Path) -> None:
    text = _export_text([User(id="a", email="a@example.com")])
    assert [r.id for r in read_jsonl(io.StringIO(text)) if isinstance(r, User)] == ["a"]
    cut = tmp_path / "cut.jsonl"
    cut.write_text("\n".join(text.splitlines()[:-1]) + "\n")
    with pytest.raises(ValidationError, match="truncated"):
        JsonlSource(cut)
    future = tmp_path / "future.jsonl"
    future.write_text(text.replace('"version": 1', '"version": 99'))
    with pytest.raises(ValidationError, match="version 99"):
        JsonlSource(future)
    result = _run("--url", "memory://", "import", str(cut))
    assert result.exit_code == 2
    assert "truncated" in result.output


def test_an_export_from_before_the_session_details_imports(
    stores: StoreFactory, tmp_path: Path
) -> None:
    src = stores.new("sqlite")
    with connect(src) as store:
        populate(store, KEYRING)
    out = tmp_path / "export.jsonl"
    assert _run("--url", src, "export", str(out)).exit_code == 0
    # The file as the previous release wrote it: sessions without the four details.
    details = ("created_at", "updated_at", "ip_address", "user_agent")
    lines = []
    for line in out.read_text().splitlines():
        entry = json.loads(line)
        if entry.get("collection") == "sessions":
            entry["record"] = {k: v for k, v in entry["record"].items() if k not in details}
        lines.append(json.dumps(entry, sort_keys=True))
    old = tmp_path / "old.jsonl"
    old.write_text("\n".join(lines) + "\n")
    for backend in BACKENDS:
        dst = stores.new(backend)
        result = _run("--url", dst, "import", str(old))
        assert result.exit_code == 0, result.output
        with connect(src) as source, connect(dst) as target:
            for session in source.list_sessions("user-0001"):
                found = target.get_session_and_user(session.session_token)
                assert found is not None
                assert found[0] == replace(
                    session, created_at=None, updated_at=None, ip_address=None, user_agent=None
                )


# -- the mirror adapter ------------------------------------------------------------


def test_mirror_writes_both_and_reads_primary(stores: StoreFactory) -> None:
    a, b = stores.new("sqlite"), connect("memory://")
    with connect(a) as primary:
        mirror = MirrorAdapter(primary, b)
        populate(mirror, KEYRING)
        cred = mirror.get_credential("apikey-0")
        assert cred is not None
        updated = mirror.update_credential("apikey-0", {"x": 1}, expected_version=cred.version)
        assert updated is not None
        assert mirror.update_credential("apikey-0", {"x": 2}, expected_version=cred.version) is None
        token = hashlib.sha256(b"vt0").hexdigest()
        assert mirror.use_verification_token("p0@example.com", token) is not None
        assert b.use_verification_token("p0@example.com", token) is None
        mirror.purge_expired(T0)
        mirror.delete_user("user-0005")
        account = mirror.update_account("github", "1001", access_token="gho_new", extra={"n": 2})
        assert account is not None
        assert b.get_account("github", "1001") == account
        seen = T0 + timedelta(hours=1)
        session = mirror.update_session(
            mirror.list_sessions("user-0001")[0].session_token, updated_at=seen, ip_address=None
        )
        assert session is not None
        assert b.get_session_and_user(session.session_token) == (
            session,
            mirror.get_user("user-0001"),
        )
        report = mirror.compare()
        assert report.ok, report.problems
        assert list(mirror.divergences) == []
        assert b.get_credential("apikey-0") == updated  # version and updated_at identical


def test_mirror_reports_divergence() -> None:
    primary, secondary = connect("memory://"), connect("memory://")
    seen: list[Divergence] = []
    mirror = MirrorAdapter(primary, secondary, compare_reads=True, on_divergence=seen.append)
    user = mirror.create_user(User(email="ann@example.com"))
    assert secondary.get_user(str(user.id)) == user
    secondary.update_user(str(user.id), name="Drifted")
    assert mirror.get_user(str(user.id)) == user  # the primary's answer
    assert len(seen) == 1
    assert seen[0].operation == "get_user"
    assert f"user {user.id}" in str(seen[0])

    secondary.delete_user(str(user.id))  # the secondary lost the user: its writes now fail
    mirror.create_session(
        Session(session_token="tok", user_id=str(user.id), expires=T0 + timedelta(days=1))
    )
    assert primary.get_session_and_user("tok") is not None
    assert "secondary failed" in str(seen[-1])
    assert "tok" not in " ".join(str(d) for d in seen)
    assert not mirror.compare().ok
    strict = MirrorAdapter(primary, secondary, strict=True)
    with pytest.raises(Exception, match="no user"):
        strict.create_session(Session(session_token="tok2", user_id=str(user.id), expires=T0))


# -- check and repair on any backend ------------------------------------------------


def test_check_repair_removes_orphans_and_expired(stores: StoreFactory) -> None:
    url = stores.new("sqlite")
    with connect(url) as store:
        populate(store, KEYRING)
    sqlite_exec(url, "DELETE FROM users WHERE id = 'user-0001'")  # FKs off: leaves orphans
    with connect(url) as store:
        report = check_store(store, now=T0)
        orphans = [p for p in report.problems if p.kind == "orphan"]
        assert len(orphans) == 5  # account, session, authenticator, two credentials
        assert report.expired == {"sessions": 3, "verification_tokens": 1}
        repaired = check_store(store, repair=True, now=T0)
        assert repaired.ok, repaired.problems
        assert any("user-0001" in str(action) for action in repaired.repaired)
        assert store.get_user("user-0001") is None  # the placeholder is gone too
        assert store.counts()["sessions"] == 6 - 1 - 3  # the orphan and the expired removed
        assert store.list_credentials("user-0002")  # others untouched
    result = _run("--url", url, "check")
    assert result.exit_code == 0, result.output


def test_check_on_memory_store_via_api() -> None:
    store = connect("memory://")
    user = store.create_user(User(email="a@example.com"))
    store.create_credential(Credential(user_id=str(user.id), type="t", data={}))
    store.create_verification_token(
        VerificationToken(identifier="x", token="y", expires=T0 - timedelta(days=1))
    )
    report = check_store(store, now=T0)
    assert report.ok
    assert report.expired["verification_tokens"] == 1
    assert check_store(store, repair=True, now=T0).counts["verification_tokens"] == 0


# -- from Auth.js with Prisma: the SQL in docs/migration.md, run with psql --------------

PRISMA_SCHEMA = """
CREATE TABLE "User" (
    "id" TEXT NOT NULL PRIMARY KEY, "name" TEXT, "email" TEXT NOT NULL,
    "emailVerified" TIMESTAMP(3), "image" TEXT, "password" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP);
CREATE UNIQUE INDEX "User_email_key" ON "User"("email");
CREATE TABLE "Account" (
    "userId" TEXT NOT NULL REFERENCES "User"("id") ON DELETE CASCADE,
    "type" TEXT NOT NULL, "provider" TEXT NOT NULL, "providerAccountId" TEXT NOT NULL,
    "refresh_token" TEXT, "access_token" TEXT, "expires_at" INTEGER, "token_type" TEXT,
    "scope" TEXT, "id_token" TEXT, "session_state" TEXT,
    PRIMARY KEY ("provider", "providerAccountId"));
CREATE TABLE "Session" (
    "sessionToken" TEXT NOT NULL UNIQUE,
    "userId" TEXT NOT NULL REFERENCES "User"("id") ON DELETE CASCADE,
    "expires" TIMESTAMP(3) NOT NULL);
CREATE TABLE "VerificationToken" (
    "identifier" TEXT NOT NULL, "token" TEXT NOT NULL, "expires" TIMESTAMP(3) NOT NULL,
    PRIMARY KEY ("identifier", "token"));
CREATE TABLE "Authenticator" (
    "credentialID" TEXT NOT NULL UNIQUE,
    "userId" TEXT NOT NULL REFERENCES "User"("id") ON DELETE CASCADE,
    "providerAccountId" TEXT NOT NULL, "credentialPublicKey" TEXT NOT NULL,
    "counter" INTEGER NOT NULL, "credentialDeviceType" TEXT NOT NULL,
    "credentialBackedUp" BOOLEAN NOT NULL, "transports" TEXT,
    PRIMARY KEY ("userId", "credentialID"));
INSERT INTO "User" (id, name, email, "emailVerified", password) VALUES
    ('clx1ada', 'Ada', 'Ada@Example.COM', '2025-01-02 03:04:05.678', NULL),
    ('clx2bob', NULL, 'bob@example.com', NULL, NULL);
INSERT INTO "Account" VALUES ('clx1ada', 'oauth', 'github', '4242', NULL, 'gho_x', 1900000000,
    'bearer', 'read:user', NULL, NULL);
INSERT INTO "Session" VALUES ('plain-session-token', 'clx1ada', '2030-01-01 00:00:00.5');
INSERT INTO "VerificationToken" VALUES ('bob@example.com', 'abc123hashed', '2030-01-01 00:00:00');
INSERT INTO "Authenticator" VALUES ('cred-1', 'clx2bob', 'pa', 'pk', 7, 'singleDevice', true,
    'usb');
"""


def _prisma_sql() -> str:
    page = (Path(__file__).resolve().parent.parent / "docs" / "migration.md").read_text()
    blocks = page.split("```sql\n")[1:]
    found = [b.split("```")[0] for b in blocks if "auth-store: Prisma export" in b]
    assert len(found) == 1
    return found[0]


def test_prisma_export_sql_from_the_guide(tmp_path: Path) -> None:
    import bcrypt
    import psycopg

    databases = PostgresDatabases()
    try:
        url = databases.new()
        hashed = bcrypt.hashpw(b"prisma pass", bcrypt.gensalt(4)).decode()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(PRISMA_SCHEMA)
            conn.execute("UPDATE \"User\" SET password = %s WHERE id = 'clx1ada'", [hashed])
        script = tmp_path / "prisma-export.sql"
        script.write_text(_prisma_sql())
        exports = []
        for n in range(2):
            out = tmp_path / f"auth{n}.jsonl"
            subprocess.run(
                [
                    "psql",
                    url,
                    "-X",
                    "-q",
                    "-A",
                    "-t",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-f",
                    str(script),
                    "-o",
                    str(out),
                ],
                check=True,
                timeout=60,
            )
            exports.append(out)
    finally:
        databases.drop_all()

    target = f"sqlite:///{tmp_path}/auth.db"
    result = _run("--url", target, "import", str(exports[0]))
    assert result.exit_code == 0, result.output
    counts = json.loads(result.stdout)["copied"]
    assert counts == {
        "users": 2,
        "accounts": 1,
        "sessions": 1,
        "verification_tokens": 1,
        "authenticators": 1,
        "credentials": 1,
    }
    again = _run("--url", target, "import", str(exports[1]))  # a later export: same records
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["resumed"] is True

    from auth_store.passwords import PasswordService

    with connect(target) as store:
        ada = store.get_user_by_email("ada@example.com")
        assert ada is not None
        assert ada.id == "clx1ada"
        assert ada.email_verified is not None
        assert ada.email_verified.isoformat() == "2025-01-02T03:04:05.678000+00:00"
        assert store.get_user_by_account("github", "4242") == ada
        pair = store.get_session_and_user("plain-session-token")
        assert pair is not None
        assert pair[0].expires.isoformat() == "2030-01-01T00:00:00.500000+00:00"
        assert store.get_authenticator("cred-1") is not None
        assert PasswordService(store).verify_password("clx1ada", "prisma pass")
        assert not PasswordService(store).verify_password("clx2bob", "prisma pass")


# -- from a database an Auth.js app created with @auth/pg-adapter ---------------------

AUTHJS_ROWS = """
INSERT INTO users (name, email, "emailVerified", image)
    VALUES ('Ada', 'ada@example.com', '2025-05-06 07:08:09.123456+02', NULL),
           (NULL, 'bob@example.com', NULL, 'https://img.test/b.png');
INSERT INTO accounts ("userId", type, provider, "providerAccountId", access_token, expires_at,
    token_type, scope)
    VALUES (1, 'oidc', 'google', 'g-123', 'ya29.x', 1900000000, 'Bearer', 'openid email');
INSERT INTO sessions ("userId", expires, "sessionToken")
    VALUES (1, '2030-01-01 00:00:00+00', 'authjs-session-token');
INSERT INTO verification_token (identifier, expires, token)
    VALUES ('bob@example.com', '2030-01-01 00:00:00+00', 'hashed-token');
"""


def test_from_an_authjs_pg_adapter_database(tmp_path: Path) -> None:
    import psycopg

    schema = Path(__file__).parent / "fixtures" / "authjs_pg" / "schema.sql"
    databases = PostgresDatabases()
    try:
        url = databases.new()
        subprocess.run(["psql", url, "-X", "-q", "-f", str(schema)], check=True, timeout=60)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(AUTHJS_ROWS)
        target = f"sqlite:///{tmp_path}/auth.db"
        before = checksum(url)
        refused = _run("migrate", "--from", url, "--to", target)
        assert refused.exit_code == 2
        assert "schema upgrade" in refused.output
        assert checksum(url) == before  # refusing changed nothing

        assert _run("--url", url, "schema", "upgrade").exit_code == 0
        upgraded = checksum(url)
        result = _run("migrate", "--from", url, "--to", target)
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["copied"]["users"] == 2
        assert checksum(url) == upgraded
    finally:
        databases.drop_all()
    with connect(target) as store:
        ada = store.get_user_by_email("ada@example.com")
        assert ada is not None
        assert ada.email_verified is not None
        assert ada.email_verified.isoformat() == "2025-05-06T05:08:09.123456+00:00"
        assert store.get_user_by_account("google", "g-123") == ada
        pair = store.get_session_and_user("authjs-session-token")
        assert pair is not None
        assert pair[1] == ada
        assert store.counts()["verification_tokens"] == 1


def test_hand_edited_file_store_fails_verification_and_check(stores: StoreFactory) -> None:
    src, dst = stores.new("sqlite"), stores.new("file")
    with connect(src) as store:
        populate(store, KEYRING)
    assert _run("migrate", "--from", src, "--to", dst).exit_code == 0
    root = store_path(dst)
    assert root is not None
    # A duplicate: a user copied under another id, keeping the e-mail.
    user = json.loads((root / "users" / "user-0004.json").read_text())
    (root / "users" / "user-dup.json").write_text(json.dumps({**user, "id": "user-dup"}))
    # An orphan: a session pointed at a user that does not exist.
    session_file = root / "sessions" / "sess-2.json"
    session = json.loads(session_file.read_text())
    session_file.write_text(json.dumps({**session, "user_id": "ghost-user"}))

    problems = _problems(_run("verify", "--from", src, "--to", dst))
    kinds = {p["kind"] for p in problems}
    assert {"duplicate", "orphan", "backend"} <= kinds
    assert any(
        p["kind"] == "duplicate" and "user-dup" in p["message"] and "e-mail" in p["message"]
        for p in problems
    )
    assert any(p["kind"] == "orphan" and "sess-2" in p["message"] for p in problems)

    checked = _problems(_run("--url", dst, "check"))
    assert any(p["kind"] == "backend" and p["collection"] == "users" for p in checked)
    repaired = _run("--url", dst, "check", "--repair")
    left = _problems(repaired)  # the duplicate needs a person: still exit 1
    assert all(p["kind"] != "orphan" for p in left)
    assert any("user-dup" in p["message"] for p in left)
    assert any("sess-2" in line for line in json.loads(repaired.stdout)["repaired"])
