"""The file store: the conformance suite on real directories, then what only files have."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import random
import re
import shutil
import signal
import stat
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest

import auth_store
from auth_store import (
    Account,
    Authenticator,
    ConfigurationError,
    ConflictError,
    Credential,
    Session,
    StorageError,
    User,
    ValidationError,
    VerificationToken,
)
from auth_store.adapter import Adapter
from auth_store.adapters.file import FileAdapter, _durability
from auth_store.records import to_dict
from auth_store.testing import AdapterConformance, RawStorage
from auth_store.testing.raw import FileRaw, file_root
from tests.file_writer import PROVIDER, State, apply_op, snapshot

WRITER = Path(__file__).with_name("file_writer.py")


class TestFileStore(AdapterConformance):
    def new_url(self, tmp_path: Path) -> str:
        return f"file://{tmp_path}"

    def raw(self, adapter: Adapter, url: str) -> RawStorage:
        return FileRaw(file_root(url))


# -- helpers ----------------------------------------------------------------------


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def store(root: Path) -> Iterator[FileAdapter]:
    with FileAdapter(root, durability="normal") as opened:
        yield opened


def _later(days: int = 7) -> datetime:
    return (datetime.now(UTC) + timedelta(days=days)).replace(microsecond=654321)


def _user(store: Adapter, email: str = "ada@example.com", **fields: Any) -> User:
    return store.create_user(User(email=email, **fields))


def _uid(user: User) -> str:
    assert user.id is not None
    return user.id


def _session(store: Adapter, user: User, token: str = "sess-token-1") -> Session:
    return store.create_session(Session(session_token=token, user_id=_uid(user), expires=_later()))


def _lines(path: Path) -> list[Any]:
    """Every line of an index file, parsed (the header first)."""
    text = path.read_text("utf-8")
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def _log(root: Path, collection: str) -> Path:
    """The index log of a collection."""
    return root / collection / "indices" / "log.jsonl"


def _count_syncs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every fsync and fdatasync from now on."""
    calls: list[str] = []
    real_fsync, real_fdatasync = os.fsync, os.fdatasync

    def fsync(fd: int) -> None:
        calls.append("fsync")
        real_fsync(fd)

    def fdatasync(fd: int) -> None:
        calls.append("fdatasync")
        real_fdatasync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "fdatasync", fdatasync)
    return calls


def _kinds(store: FileAdapter) -> set[str]:
    return {p.kind for p in store.check().problems}


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


# -- URLs and opening ----------------------------------------------------------------


class TestURLs:
    def test_absolute_url(self, tmp_path: Path) -> None:
        with auth_store.connect(f"file://{tmp_path}/abs") as opened:
            assert isinstance(opened, FileAdapter)
            assert opened.root == tmp_path / "abs"
            assert opened.durability == "full"
        assert (tmp_path / "abs" / "_meta.json").is_file()

    def test_relative_url_and_options(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.chdir(tmp_path)
        with auth_store.connect("file:rel/dir?durability=normal") as opened:
            assert isinstance(opened, FileAdapter)
            assert opened.root == tmp_path / "rel" / "dir"
            assert opened.durability == "normal"
            assert opened.health()["durability"] == "normal"

    def test_percent_escapes_are_decoded(self, tmp_path: Path) -> None:
        with auth_store.connect(f"file://{tmp_path}/with%20space") as opened:
            _user(opened)
        assert (tmp_path / "with space" / "users").is_dir()

    @pytest.mark.parametrize(
        "url",
        [
            "file:",
            "file://somehost/dir",
            "file:dir?durability=fast",
            "file:dir?nope=1",
        ],
    )
    def test_bad_urls_are_configuration_errors(
        self, url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.chdir(tmp_path)
        with pytest.raises(ConfigurationError):
            auth_store.connect(url)
        assert not (tmp_path / "dir").exists()

    def test_a_directory_that_is_not_a_store_is_refused(self, root: Path) -> None:
        root.mkdir()
        (root / "notes.txt").write_text("mine")
        with pytest.raises(ConfigurationError, match="not a file store"):
            FileAdapter(root)
        assert sorted(p.name for p in root.iterdir()) == [".lock", "notes.txt"]

    def test_a_newer_format_is_refused(self, root: Path) -> None:
        FileAdapter(root).close()
        (root / "_meta.json").write_text('{"format": "auth-store-file", "version": 99}')
        with pytest.raises(ConfigurationError, match="version 99"):
            FileAdapter(root)

    def test_close_is_idempotent_and_a_closed_store_refuses_work(self, root: Path) -> None:
        opened = FileAdapter(root)
        user = _user(opened)
        opened.close()
        opened.close()
        with pytest.raises(StorageError, match="closed"):
            opened.get_user(_uid(user))
        with pytest.raises(StorageError, match="closed"):
            _user(opened, "other@example.com")

    def test_health_and_counts(self, store: FileAdapter) -> None:
        user = _user(store)
        _session(store, user)
        health = store.health()
        assert health["backend"] == "file"
        assert health["ok"] is True
        assert health["root"] == str(store.root)
        assert health["counts"] == store.counts()
        assert store.counts()["users"] == 1
        assert store.counts()["sessions"] == 1


# -- layout ------------------------------------------------------------------------


class TestLayout:
    def test_records_are_one_readable_json_file_each(self, store: FileAdapter, root: Path) -> None:
        user = _user(store, name="Ada", extra={"role": "admin"})
        assert json.loads((root / "_meta.json").read_text()) == {
            "format": "auth-store-file",
            "version": 2,
        }
        text = (root / "users" / f"{user.id}.json").read_text("utf-8")
        assert json.loads(text) == to_dict(user)
        assert '\n  "email": "ada@example.com",\n' in text  # indented, one field a line
        lines = _lines(_log(root, "users"))
        assert lines[0]["log"] == "users"
        assert lines[1:] == [["+", "email", "ada@example.com", user.id]]

    def test_record_bytes_are_those_of_json_dumps(self) -> None:
        # encode_record writes records without the pure-Python indenting encoder; its
        # bytes must stay those of json.dumps, whatever a record (or its extra) holds.
        from auth_store.adapters.file._layout import encode_record

        rng = random.Random(17)
        scalars = [None, True, False, 0, -7, 2**70, 1.5, "", 'a"b\\', "é\u2028\n\t\x00"]

        def value(depth: int) -> Any:
            roll = rng.random()
            if depth > 3 or roll < 0.5:
                return rng.choice(scalars)
            if roll < 0.7:
                return [value(depth + 1) for _ in range(rng.randrange(4))]
            if roll < 0.8:
                return tuple(value(depth + 1) for _ in range(rng.randrange(3)))
            keys = ["a", "é", "z\n", "", "B"]
            return {rng.choice(keys) + str(i): value(depth + 1) for i in range(rng.randrange(4))}

        records: list[Any] = [{}, {"nan": float("nan")}, {"lone": "\ud800"}, {1: "int key"}]
        records += [{f"f{i}": value(0) for i in range(rng.randrange(7))} for _ in range(500)]
        for record in records:
            try:
                text = json.dumps(
                    record, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False
                )
                expected: Any = (text + "\n").encode("utf-8")
            except (ValueError, TypeError) as exc:
                expected = type(exc)
            try:
                written: Any = encode_record(record)
            except (ValueError, TypeError) as exc:
                written = type(exc)
            assert written == expected, record

    def test_index_lines_and_intents_are_those_of_json_dumps(self) -> None:
        # Both are written by hand; other versions of auth-store read them with json.
        from auth_store.adapters.file._index import _line
        from auth_store.adapters.file._store import _intent

        odd = ['["github","1"]', 'a"b\\c', "é\u2028\n\t\x00", "", "ada@example.com"]
        for key in odd:
            entry = ("+", "provider_account", key, "stem-1")
            expected = json.dumps(entry, ensure_ascii=False, separators=(",", ":")) + "\n"
            assert _line(entry) == expected.encode("utf-8")
            keys = [("provider_account", key), ("user_id", key)]
            intent = json.dumps({"c": "accounts", "s": "stem-1", "k": keys}) + "\n"
            assert _intent("accounts", "stem-1", keys) == intent.encode("utf-8")
        assert _intent("users", "u", []) == b'{"c": "users", "s": "u", "k": []}\n'

    def test_every_collection_has_its_files_and_indices(
        self, store: FileAdapter, root: Path
    ) -> None:
        user = _user(store)
        uid = _uid(user)
        account = store.link_account(
            Account(user_id=uid, type="oauth", provider="github", provider_account_id="gh/1")
        )
        session = _session(store, user)
        credential = store.create_credential(Credential(user_id=uid, type="password", data={}))
        store.create_authenticator(_authenticator(uid, "cred/../id"))
        store.create_verification_token(
            VerificationToken(identifier="ada@example.com", token="vt-secret", expires=_later())
        )
        assert (root / "accounts" / f"{account.id}.json").is_file()
        assert (root / "sessions" / f"{session.id}.json").is_file()
        assert (root / "credentials" / f"{credential.id}.json").is_file()
        digest = hashlib.sha256(b"cred/../id").hexdigest()
        assert (root / "authenticators" / f"{digest}.json").is_file()
        assert len(list((root / "verification_tokens").glob("*.json"))) == 1
        indices = sorted(str(p.relative_to(root)) for p in root.glob("*/indices/*.jsonl"))
        assert indices == [
            f"{c}/indices/log.jsonl"
            for c in (
                "accounts",
                "authenticators",
                "credentials",
                "sessions",
                "users",
                "verification_tokens",
            )
        ]
        fields = {
            c: sorted({line[1] for line in _lines(_log(root, c))[1:]})
            for c in ("accounts", "sessions", "verification_tokens", "authenticators")
        }
        assert fields == {
            "accounts": ["provider_account", "user_id"],
            "sessions": ["expires", "session_token", "user_id"],
            "verification_tokens": ["expires"],
            "authenticators": ["user_id"],
        }

    def test_secrets_never_become_file_names_or_index_keys(
        self, store: FileAdapter, root: Path
    ) -> None:
        user = _user(store)
        session = _session(store, user, token="SESSION-SECRET/../x")
        store.create_verification_token(
            VerificationToken(identifier="a@example.com", token="VT-SECRET", expires=_later())
        )
        for path in root.rglob("*"):
            assert "SECRET" not in str(path.relative_to(root))
        holders = [p.relative_to(root) for p in _files(root) if b"SESSION-SECRET" in p.read_bytes()]
        assert holders == [Path("sessions") / f"{session.id}.json"]
        assert [p.parent.name for p in _files(root) if b"VT-SECRET" in p.read_bytes()] == [
            "verification_tokens"
        ]

    def test_files_are_private_to_their_owner(self, store: FileAdapter, root: Path) -> None:
        _session(store, _user(store))
        for path in [root, *root.rglob("*")]:
            assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path

    def test_unsafe_keys_stay_inside_the_root(self, store: FileAdapter, tmp_path: Path) -> None:
        before = sorted(p.name for p in tmp_path.iterdir())
        user = _user(store)
        made = store.create_authenticator(_authenticator(_uid(user), "../../escape"))
        assert store.get_authenticator("../../escape") == made
        vt = VerificationToken(identifier="../a", token="/etc/passwd", expires=_later())
        store.create_verification_token(vt)
        assert store.use_verification_token("../a", "/etc/passwd") == vt
        assert sorted(p.name for p in tmp_path.iterdir()) == before

    @pytest.mark.parametrize("bad", ["../x", "a/b", "/abs", "..", ".", "a\x00b"])
    def test_ids_with_path_separators_are_validation_errors(
        self, store: FileAdapter, tmp_path: Path, bad: str
    ) -> None:
        before = _files(tmp_path)
        with pytest.raises(ValidationError):
            store.create_user(User(id=bad, email="x@example.com"))
        with pytest.raises(ValidationError):
            store.get_user(bad)
        with pytest.raises(ValidationError):
            store.get_credential(bad)
        assert _files(tmp_path) == before


def _authenticator(user_id: str, credential_id: str) -> Authenticator:
    return Authenticator(
        credential_id=credential_id,
        user_id=user_id,
        provider_account_id="webauthn-1",
        credential_public_key="pQECAyYg",
        counter=0,
        credential_device_type="singleDevice",
        credential_backed_up=False,
    )


# -- several processes and the index cache ---------------------------------------------


class TestSharing:
    def test_a_second_store_sees_committed_writes_at_once(self, root: Path) -> None:
        with FileAdapter(root) as writer, FileAdapter(root) as reader:
            assert reader.get_user_by_email("ada@example.com") is None  # loads the indices
            user = _user(writer)
            uid = _uid(user)
            session = _session(writer, user)
            account = writer.link_account(
                Account(user_id=uid, type="oidc", provider="google", provider_account_id="g1")
            )
            authenticator = writer.create_authenticator(_authenticator(uid, "c1"))
            assert reader.get_user_by_email("ADA@example.com") == user
            assert reader.get_session_and_user(session.session_token) == (session, user)
            assert reader.get_account("google", "g1") == account
            assert reader.get_user_by_account("google", "g1") == user
            assert reader.get_authenticator("c1") == authenticator
            assert reader.list_sessions(uid) == [session]
            moved = writer.update_user(uid, email="ada@new.example.com")
            assert reader.get_user_by_email("ada@example.com") is None
            assert reader.get_user_by_email("ada@new.example.com") == moved
            with pytest.raises(ConflictError):
                reader.create_user(User(email="ada@new.example.com"))
            writer.delete_user(uid)
            assert reader.get_session_and_user(session.session_token) is None
            assert reader.get_account("google", "g1") is None
            assert reader.list_authenticators_by_user_id(uid) == []

    def test_a_view_held_from_before_changes_answers_with_the_records(self, root: Path) -> None:
        # The reader's lookups hit first through the index view it already holds; each
        # answer must still be the record that has the key now, never a former holder.
        with FileAdapter(root) as writer, FileAdapter(root) as reader:
            ada = _user(writer)
            bob = _user(writer, "bob@example.com")
            session = _session(writer, ada, "moving-token")
            assert reader.get_user_by_email("ada@example.com") == ada
            assert reader.get_session_and_user("moving-token") == (session, ada)
            moved = writer.update_user(_uid(ada), email="ada@new.example.com")
            carol = _user(writer, "ada@example.com")
            writer.delete_session("moving-token")
            again = _session(writer, bob, "moving-token")
            assert reader.get_user_by_email("ada@example.com") == carol
            assert reader.get_user_by_email("ada@new.example.com") == moved
            assert reader.get_session_and_user("moving-token") == (again, bob)
            writer.delete_user(_uid(carol))
            assert reader.get_user_by_email("ada@example.com") is None
            writer.delete_session("moving-token")
            assert reader.get_session_and_user("moving-token") is None

    def test_another_process_sees_committed_writes(self, root: Path) -> None:
        with FileAdapter(root) as parent:
            assert parent.get_user_by_email("child@example.com") is None
            code = (
                "import sys, auth_store\n"
                "from datetime import datetime, UTC, timedelta\n"
                "s = auth_store.connect(sys.argv[1])\n"
                "u = s.create_user(auth_store.User(email='child@example.com'))\n"
                "s.create_session(auth_store.Session(session_token='child-token', user_id=u.id,"
                " expires=datetime.now(UTC) + timedelta(days=1)))\n"
                "print(u.id)\n"
            )
            done = subprocess.run(
                [sys.executable, "-c", code, f"file://{root}"],
                capture_output=True,
                text=True,
                check=True,
                timeout=60,
            )
            found = parent.get_user_by_email("child@example.com")
            assert found is not None
            assert found.id == done.stdout.strip()
            pair = parent.get_session_and_user("child-token")
            assert pair is not None
            assert pair[1] == found

    def test_compaction_keeps_every_reader_right(self, root: Path) -> None:
        with FileAdapter(root, durability="normal", compact_min_dead=8) as writer:
            reader = FileAdapter(root)
            user = _user(writer)
            kept = _session(writer, user, token="kept")
            assert reader.get_session_and_user("kept") == (kept, user)  # caches the index
            index = _log(root, "sessions")
            generation = _lines(index)[0]["generation"]
            for n in range(60):
                _session(writer, user, token=f"t{n}")
                writer.delete_session(f"t{n}")
            lines = _lines(index)
            assert lines[0]["generation"] != generation  # rewritten at least once
            assert len(lines) < 100  # 360 changes, compacted
            assert reader.get_session_and_user("kept") == (kept, user)
            assert all(reader.get_session_and_user(f"t{n}") is None for n in range(60))
            last = _session(writer, user, token="last")
            assert reader.get_session_and_user("last") == (last, user)
            assert reader.list_sessions(_uid(user)) == sorted(
                [kept, last], key=lambda s: (s.expires, s.id or "")
            )
            reader.close()
            assert writer.check().ok

    def test_an_index_rewritten_in_place_is_reread(self, store: FileAdapter, root: Path) -> None:
        # Same inode, longer file: only the header's generation tells the cache is wrong.
        first = _user(store, "first@example.com")
        assert store.get_user_by_email("first@example.com") == first
        second = User(id="hand-made", email="second@example.com")
        (root / "users" / "hand-made.json").write_text(json.dumps(to_dict(second)))
        index = _log(root, "users")
        lines = [
            {"log": "users", "generation": "rewritten-by-hand"},
            ["+", "email", "second@example.com", "hand-made"],
            ["+", "email", "first@example.com", first.id],
        ]
        with index.open("r+", encoding="utf-8") as rewrite:
            rewrite.truncate(0)
            rewrite.write("".join(json.dumps(line) + "\n" for line in lines))
        assert store.get_user_by_email("second@example.com") == second
        assert store.get_user_by_email("first@example.com") == first

    def test_a_forked_child_takes_the_lock_for_itself(self, root: Path) -> None:
        opened = FileAdapter(root, durability="normal")
        _user(opened, "before@example.com")
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child reports through its exit status
            status = 1
            try:
                for n in range(40):
                    _user(opened, f"child{n}@example.com")
                status = 0
            finally:
                os._exit(status)
        for n in range(40):
            _user(opened, f"parent{n}@example.com")
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert opened.counts()["users"] == 81
        assert opened.check().ok
        opened.close()


# -- durability ----------------------------------------------------------------------


class TestDurability:
    def test_full_durability_fsyncs_the_record_and_its_directory(
        self, root: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        calls = _count_syncs(monkeypatch)
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        with FileAdapter(root, durability="full") as full:
            calls.clear()
            _user(full)
            # The first write marks the index lines as not yet fsynced (the marker
            # file and the root directory), then fsyncs the record and its directory.
            assert calls == ["fsync"] * 4
            assert (root / "_unsynced").read_text().strip() == boot
            calls.clear()
            _user(full, "b@example.com")
            assert calls == ["fsync", "fsync"]
            calls.clear()
        # Closing fsyncs the logs and removes the marker: a stopped app leaves none.
        assert "fdatasync" in calls
        assert not (root / "_unsynced").exists()
        with FileAdapter(root, durability="normal") as normal:
            calls.clear()
            user = _user(normal, "c@example.com")
            normal.update_user(_uid(user), name="B")
            normal.delete_user(_uid(user))
            assert calls == []

    def test_without_a_boot_id_every_index_line_is_fsynced(
        self, root: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(_durability, "boot_id", lambda: None)
        calls = _count_syncs(monkeypatch)
        with FileAdapter(root, durability="full") as full:
            calls.clear()
            _user(full)
            assert sorted(calls) == ["fdatasync", "fsync", "fsync"]
        assert not (root / "_unsynced").exists()

    def test_after_a_machine_crash_the_indices_are_rebuilt_from_the_records(
        self, root: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        with FileAdapter(root) as opened:
            user = _user(opened)
            session = _session(opened, user)
        # What a power cut can leave: records fsynced, index lines lost, and the
        # marker of a boot that is over.
        for collection in ("users", "sessions"):
            log = _log(root, collection)
            log.write_text(log.read_text().splitlines()[0] + "\n")
        (root / "_unsynced").write_text("an-earlier-boot\n")
        with caplog.at_level("WARNING"), FileAdapter(root) as reopened:
            assert reopened.get_user_by_email("ada@example.com") == user
            assert reopened.get_session_and_user(session.session_token) == (session, user)
            assert reopened.check().ok
        assert "rebuilding the indices" in caplog.text
        assert not (root / "_unsynced").exists()

    def test_a_failed_fsync_is_raised_once_and_not_retried(
        self, root: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        with FileAdapter(root, durability="full") as opened:
            calls = 0

            def failing_fsync(fd: int) -> None:
                nonlocal calls
                calls += 1
                raise OSError(errno.EIO, "Input/output error")

            monkeypatch.setattr(os, "fsync", failing_fsync)
            with pytest.raises(StorageError, match="fsync") as raised:
                _user(opened)
            assert isinstance(raised.value.__cause__, OSError)
            assert calls == 1
            monkeypatch.undo()
            # Nothing half-written: no record, no temp file, and the index line
            # the write had added is reconciled away by the next holder of the lock.
            assert opened.get_user_by_email("ada@example.com") is None
            assert not list((root / "users").glob(".*"))
            assert opened.check().ok
            assert _user(opened).email == "ada@example.com"

    def test_a_failed_index_fsync_stops_the_write(
        self, root: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(_durability, "boot_id", lambda: None)  # fsync every index line
        with FileAdapter(root, durability="full") as opened:

            def failing(fd: int) -> None:
                raise OSError(errno.EIO, "Input/output error")

            monkeypatch.setattr(os, "fdatasync", failing)
            with pytest.raises(StorageError, match="fsync"):
                _user(opened)
            monkeypatch.setattr(os, "fdatasync", os.fsync)
            assert opened.counts()["users"] == 0
            assert opened.check().ok


# -- recovery and damage -------------------------------------------------------------


class TestRecovery:
    def test_a_torn_last_index_line_is_cut_on_open(self, root: Path) -> None:
        with FileAdapter(root) as opened:
            user = _user(opened)
        index = _log(root, "users")
        with index.open("a", encoding="utf-8") as torn:
            torn.write('["+","email","torn@exa')
        with FileAdapter(root) as reopened:
            assert index.read_text().endswith("\n")
            assert len(_lines(index)) == 2
            assert reopened.get_user_by_email("ada@example.com") == user
            assert reopened.check().ok
            _user(reopened, "next@example.com")
            assert [line[2] for line in _lines(index)[1:]] == [
                "ada@example.com",
                "next@example.com",
            ]

    def test_a_torn_line_is_cut_before_the_next_append(
        self, store: FileAdapter, root: Path
    ) -> None:
        _user(store)
        index = _log(root, "users")
        with index.open("a", encoding="utf-8") as torn:
            torn.write('["+","email","torn@exa')
        assert store.check().problems[0].kind == "torn-index-line"
        _user(store, "next@example.com")
        assert len(_lines(index)) == 3
        assert store.check().ok

    def test_opening_removes_temp_files_without_listing_record_directories(
        self, root: Path
    ) -> None:
        with FileAdapter(root) as opened:
            user = _user(opened)
        swept = [
            root / "users" / "indices" / ".log.jsonl.tmp",
            root / "users" / "indices" / "table-0123456789abcdef.bin",  # an older generation's
            root / "._meta.json.tmp",
        ]
        # A record's temp file exists only under a write intent, which names it; one
        # without (put here by hand) is for check and repair: opening lists no record
        # directory.
        by_hand = root / "sessions" / ".abc.json.tmp"
        for stray in [*swept, by_hand]:
            stray.write_text('{"half": ')
        with FileAdapter(root) as reopened:
            assert not any(s.exists() for s in swept)
            assert by_hand.exists()
            assert reopened.get_user(_uid(user)) == user
            assert [(p.kind, p.path) for p in reopened.check().problems] == [
                ("stray-temp-file", str(by_hand))
            ]
            assert reopened.repair().ok
            assert not by_hand.exists()

    def test_check_reports_a_stray_temp_file_and_repair_removes_it(
        self, store: FileAdapter, root: Path
    ) -> None:
        stray = root / "credentials" / ".x.json.tmp"
        stray.write_text("{")
        report = store.check()
        assert [(p.kind, p.path) for p in report.problems] == [("stray-temp-file", str(stray))]
        fixed = store.repair()
        assert fixed.ok
        assert [p.kind for p in fixed.repaired] == ["stray-temp-file"]
        assert not stray.exists()

    @pytest.mark.parametrize(
        "damage",
        ["truncated", "invalid-json-by-hand", "not-an-object", "unknown-field", "naive-date"],
    )
    def test_a_damaged_record_is_a_storage_error_naming_it(
        self, store: FileAdapter, root: Path, damage: str
    ) -> None:
        broken = _user(store, "broken@example.com", name="Broken")
        fine = _user(store, "fine@example.com")
        path = root / "users" / f"{broken.id}.json"
        original = path.read_text("utf-8")
        if damage == "truncated":
            path.write_text(original[: len(original) // 2])
        elif damage == "invalid-json-by-hand":
            path.write_text(original.replace('"name": "Broken"', '"name": Broken'))
        elif damage == "not-an-object":
            path.write_text("[]")
        elif damage == "unknown-field":
            path.write_text(json.dumps({**json.loads(original), "nickname": "b"}))
        else:
            path.write_text(json.dumps({**json.loads(original), "email_verified": "2024-01-01"}))
        for call in (
            lambda: store.get_user(_uid(broken)),
            lambda: store.get_user_by_email("broken@example.com"),
            lambda: store.update_user(_uid(broken), name="x"),
            lambda: list(store.export()),
        ):
            with pytest.raises(StorageError, match=re.escape(str(path))):
                call()
        # The rest of the store keeps working.
        assert store.get_user(_uid(fine)) == fine
        assert store.get_user_by_email("fine@example.com") == fine
        other = _user(store, "other@example.com")
        assert store.get_user(_uid(other)) == other
        report = store.check()
        assert [(p.kind, p.path) for p in report.problems] == [("unreadable-record", str(path))]
        assert report.problems[0].collection == "users"
        assert report.to_dict()["problems"][0]["repairable"] is False
        repaired = store.repair()
        assert not repaired.ok
        assert [p.path for p in repaired.problems] == [str(path)]
        assert not repaired.problems[0].repairable
        # Fixed by hand, the record is found again (its index entries were kept).
        path.write_text(original)
        assert store.get_user_by_email("broken@example.com") == broken
        assert store.check().ok

    def test_a_symlinked_record_is_never_followed(
        self, store: FileAdapter, root: Path, tmp_path: Path
    ) -> None:
        user = _user(store)
        outside = tmp_path / "outside.json"
        outside.write_text(json.dumps(to_dict(User(id="evil", email="evil@example.com"))))
        (root / "users" / "evil.json").symlink_to(outside)
        with pytest.raises(StorageError, match=re.escape("evil.json")):
            store.get_user("evil")
        assert store.get_user(_uid(user)) == user
        problems = store.check().problems
        assert [(p.kind, Path(p.path).name) for p in problems] == [
            ("unexpected-entry", "evil.json")
        ]
        assert "symlink" in problems[0].message

    @pytest.mark.parametrize("target", ["users", "sessions", "users/indices"])
    def test_a_directory_symlinked_outside_the_root_is_refused(
        self, root: Path, tmp_path: Path, target: str
    ) -> None:
        FileAdapter(root).close()
        outside = tmp_path / "outside"
        outside.mkdir()
        moved = root / target
        shutil.rmtree(moved)
        moved.symlink_to(outside, target_is_directory=True)
        with pytest.raises(ConfigurationError, match="symlink"):
            FileAdapter(root)
        assert list(outside.iterdir()) == []

    def test_missing_indices_are_rebuilt_from_records_on_open(self, root: Path) -> None:
        with FileAdapter(root) as opened:
            user = _user(opened)
            session = _session(opened, user)
        for index in (root / "sessions" / "indices").iterdir():
            index.unlink()
        _log(root, "users").unlink()
        with FileAdapter(root) as reopened:
            assert reopened.get_user_by_email("ada@example.com") == user
            assert reopened.get_session_and_user(session.session_token) == (session, user)
            assert reopened.list_sessions(_uid(user)) == [session]
            assert reopened.check().ok

    def test_a_stale_index_line_never_returns_a_wrong_record(
        self, store: FileAdapter, root: Path
    ) -> None:
        ada = _user(store)
        bob = _user(store, "bob@example.com")
        with _log(root, "users").open("a", encoding="utf-8") as edit:
            edit.write(json.dumps(["+", "email", "ada@example.com", bob.id]) + "\n")
        with FileAdapter(root) as fresh:  # its view ends with the stale line
            assert fresh.get_user_by_email("ada@example.com") is None  # never bob
        # A view from before the edit may still name ada, whose file has the key.
        assert store.get_user_by_email("ada@example.com") in (None, ada)
        assert store.get_user_by_email("bob@example.com") == bob
        assert _kinds(store) == {"stale-index-entry", "missing-index-entry"}
        report = store.repair()
        assert report.ok
        assert {p.kind for p in report.repaired} == {"stale-index-entry", "missing-index-entry"}
        assert store.get_user_by_email("ada@example.com") == ada

    def test_an_interrupted_write_is_reconciled_without_logging_secrets(
        self, root: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        # What a writer killed between its index line and its record leaves behind.
        with FileAdapter(root) as opened:
            user = _user(opened)
        key = hashlib.sha256(b"TOKEN-NEVER-LOGGED").hexdigest()
        with _log(root, "sessions").open("a") as index:
            index.write(json.dumps(["+", "session_token", key, "ghost"]) + "\n")
            index.write(json.dumps(["+", "user_id", user.id, "ghost"]) + "\n")
        intent = {
            "c": "sessions",
            "s": "ghost",
            "k": [["session_token", key], ["user_id", user.id]],
        }
        (root / ".lock").write_text(json.dumps(intent) + "\n")
        (root / "sessions" / ".ghost.json.tmp").write_text('{"session_tok')
        with caplog.at_level("WARNING"), FileAdapter(root) as reopened:
            assert reopened.check().ok
            assert reopened.get_session_and_user("TOKEN-NEVER-LOGGED") is None
            assert reopened.list_sessions(_uid(user)) == []
        assert "reconciling" in caplog.text
        assert "TOKEN-NEVER-LOGGED" not in caplog.text
        assert key not in caplog.text
        assert (root / ".lock").read_bytes() == b""

    def test_a_torn_intent_rebuilds_every_index(self, root: Path) -> None:
        with FileAdapter(root) as opened:
            user = _user(opened)
        with _log(root, "users").open("a") as index:
            index.write(json.dumps(["+", "email", "ghost@example.com", "ghost"]) + "\n")
        (root / ".lock").write_text('{"c": "users", "s": "gho')
        with FileAdapter(root) as reopened:
            assert reopened.check().ok
            assert reopened.get_user_by_email("ada@example.com") == user

    def test_check_finds_orphans_duplicates_and_hand_edits(
        self, store: FileAdapter, root: Path
    ) -> None:
        gone = _user(store, "gone@example.com")
        orphan = _session(store, gone, token="orphan-token")
        (root / "users" / f"{gone.id}.json").unlink()
        first = _user(store, "twin@example.com")
        twin = User(id="twin-2", email="twin@example.com")
        (root / "users" / "twin-2.json").write_text(json.dumps(to_dict(twin)))
        shouty = _user(store, "shouty@example.com")
        shouty_path = root / "users" / f"{shouty.id}.json"
        shouty_path.write_text(shouty_path.read_text().replace("shouty@", "SHOUTY@"))
        misnamed = root / "users" / "not-its-id.json"
        misnamed.write_text(json.dumps(to_dict(User(id="other-id", email="m@example.com"))))
        (root / "users" / "README").write_text("hello")
        report = store.check()
        found = {(p.kind, Path(p.path).name) for p in report.problems}
        assert found >= {
            ("orphan-record", f"{orphan.id}.json"),
            ("duplicate-key", f"{first.id}.json"),
            ("duplicate-key", "twin-2.json"),
            ("noncanonical-record", f"{shouty.id}.json"),
            ("misnamed-record", "not-its-id.json"),
            ("unexpected-entry", "README"),
            ("missing-index-entry", "log.jsonl"),
        }
        json.dumps(report.to_dict())
        repaired = store.repair()
        left = {(p.kind, Path(p.path).name) for p in repaired.problems}
        assert left == {
            ("duplicate-key", f"{first.id}.json"),
            ("duplicate-key", "twin-2.json"),
            ("misnamed-record", "not-its-id.json"),
            ("unexpected-entry", "README"),
        }
        assert not (root / "sessions" / f"{orphan.id}.json").exists()
        assert store.get_user_by_email("shouty@example.com") == shouty
        assert json.loads(shouty_path.read_text())["email"] == "shouty@example.com"


# -- scale: tables, the expiry index, counts -------------------------------------------


class TestScale:
    def test_opening_lists_no_record_directory(
        self, root: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        with FileAdapter(root) as first:
            _session(first, _user(first))
        listed: list[object] = []
        real_scandir, real_listdir = os.scandir, os.listdir

        def scandir(path: Any = ".") -> Any:
            listed.append(path)
            return real_scandir(path)

        def listdir(path: Any = ".") -> list[str]:
            listed.append(path)
            return real_listdir(path)

        monkeypatch.setattr(os, "scandir", scandir)
        monkeypatch.setattr(os, "listdir", listdir)
        with FileAdapter(root) as opened:
            assert opened.get_user_by_email("ada@example.com") is not None
            assert opened.counts()["sessions"] == 1
            record_dirs = {c.fd for c in opened._store.collections.values()}
            assert listed  # the root and the index directories are listed...
            assert not record_dirs & set(listed)  # ... never a record directory

    def test_tables_and_their_tails_agree_with_the_records(self, root: Path) -> None:
        # 3 x 300 users and sessions: the logs get tables (a checkpoint every few
        # hundred lines), and the changes after the last one stay in memory.
        writer = FileAdapter(root, durability="normal", compact_min_dead=100_000)
        early = FileAdapter(root)  # holds an older table while the writer goes on
        assert early.get_user_by_email("nobody@example.com") is None
        users = [_user(writer, f"u{n}@example.com") for n in range(300)]
        sessions = [_session(writer, u, token=f"tok-{n}") for n, u in enumerate(users)]
        assert writer._store.collections["users"].index.has_table()
        for n in range(0, 300, 3):
            writer.update_user(_uid(users[n]), email=f"moved{n}@example.com")
        for n in range(1, 300, 3):
            writer.delete_user(_uid(users[n]))
        for n in range(2, 300, 6):
            writer.delete_session(f"tok-{n}")
        late = FileAdapter(root)
        for reader in (writer, early, late):
            for n, user in enumerate(users):
                gone = n % 3 == 1
                moved = reader.get_user_by_email(f"moved{n}@example.com")
                original = reader.get_user_by_email(f"u{n}@example.com")
                if gone:
                    assert (moved, original) == (None, None)
                elif n % 3 == 0:
                    assert original is None
                    assert moved is not None
                    assert moved.id == user.id
                else:
                    assert original == user
                pair = reader.get_session_and_user(f"tok-{n}")
                expect_session = not gone and n % 6 != 2
                assert (pair is not None) == expect_session
                listed = reader.list_sessions(_uid(user))
                assert listed == ([sessions[n]] if expect_session else [])
            assert reader.counts()["users"] == 200
            assert reader.counts()["sessions"] == 150
            # A reader keeps in memory only the lines past the newest table.
            assert reader._store.collections["users"].index.tail_lines() <= 2 * 256
        assert late.check().ok
        for opened in (writer, early, late):
            opened.close()

    def test_purge_reads_only_the_records_that_expire(
        self, store: FileAdapter, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        user = _user(store)
        now = datetime.now(UTC)
        for n in range(300):
            expires = now + (timedelta(days=1) if n % 10 else -timedelta(minutes=n + 1))
            store.create_session(
                Session(session_token=f"t{n}", user_id=_uid(user), expires=expires)
            )
        store.create_verification_token(
            VerificationToken(identifier="a@example.com", token="old", expires=now - timedelta(1))
        )
        store.create_verification_token(
            VerificationToken(identifier="a@example.com", token="new", expires=now + timedelta(1))
        )
        from auth_store.adapters.file._layout import Collection

        reads: list[str] = []
        real_read = Collection.read

        def read(self: Collection, stem: str) -> dict[str, Any] | None:
            reads.append(self.name)
            return real_read(self, stem)

        monkeypatch.setattr(Collection, "read", read)
        assert store.purge_expired(now) == {"sessions": 30, "verification_tokens": 1}
        assert sorted(reads) == ["sessions"] * 30 + ["verification_tokens"]
        reads.clear()
        assert store.purge_expired(now) == {"sessions": 0, "verification_tokens": 0}
        assert reads == []
        monkeypatch.undo()
        assert store.counts()["sessions"] == 270
        assert len(store.list_sessions(_uid(user))) == 270
        assert store.check().ok

    def test_health_and_counts_answer_while_a_writer_holds_the_lock(self, root: Path) -> None:
        import threading

        with FileAdapter(root) as opened, FileAdapter(root) as other:
            _session(opened, _user(opened))
            holding, release = threading.Event(), threading.Event()

            def hold() -> None:
                with other._store.write():
                    holding.set()
                    release.wait(30)

            holder = threading.Thread(target=hold)
            holder.start()
            try:
                assert holding.wait(30)
                answers: list[dict[str, Any]] = []
                asker = threading.Thread(target=lambda: answers.append(opened.health()))
                asker.start()
                asker.join(10)
                assert answers, "health() waited for the writer's lock"
                assert answers[0]["counts"]["sessions"] == 1
            finally:
                release.set()
                holder.join()

    def test_a_format_1_store_is_upgraded_when_opened(self, root: Path) -> None:
        user = User(id="u1", email="ada@example.com")
        session = Session(
            id="s1", session_token="tok", user_id="u1", expires=_later().astimezone(UTC)
        )
        (root / "users" / "indices").mkdir(parents=True)
        (root / "sessions" / "indices").mkdir(parents=True)
        (root / "_meta.json").write_text('{"format": "auth-store-file", "version": 1}')
        (root / "users" / "u1.json").write_text(json.dumps(to_dict(user)))
        (root / "sessions" / "s1.json").write_text(json.dumps(to_dict(session)))
        old_index = root / "users" / "indices" / "email.jsonl"
        old_index.write_text(
            '{"index": "email", "generation": "g"}\n["+","ada@example.com","u1"]\n'
        )
        with FileAdapter(root) as opened:
            assert json.loads((root / "_meta.json").read_text())["version"] == 2
            assert not old_index.exists()
            assert opened.get_user_by_email("ada@example.com") == user
            assert opened.get_session_and_user("tok") == (session, user)
            assert opened.purge_expired(_later(30)) == {"sessions": 1, "verification_tokens": 0}
            assert opened.check().ok


# -- backup ------------------------------------------------------------------------------


def _replay(log: Path) -> tuple[list[dict[str, Any]], int]:
    """The writer's operations in order (begun ones included) and how many were acknowledged."""
    ops: list[dict[str, Any]] = []
    acknowledged = 0
    for line in log.read_text().splitlines():
        entry = json.loads(line)
        if "b" in entry:
            ops.append(entry)
        else:
            acknowledged += 1
    return ops, acknowledged


def _wait_for_acknowledged(log: Path, writer: subprocess.Popen[str], count: int) -> None:
    """Wait until the writer has acknowledged ``count`` operations (it must keep running)."""
    while log.read_bytes().count(b'{"a": ') < count:
        assert writer.poll() is None, "the writer stopped"
        time.sleep(0.005)


class TestBackup:
    def test_backup_while_a_writer_runs_is_a_consistent_snapshot(self, tmp_path: Path) -> None:
        root = tmp_path / "store"
        log = tmp_path / "writes.log"
        with FileAdapter(root, durability="normal") as opened:
            writer = subprocess.Popen(
                [
                    sys.executable,
                    str(WRITER),
                    "crash",
                    f"file://{root}?durability=normal",
                    str(log),
                    "7",
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
            try:
                assert writer.stdout is not None
                assert writer.stdout.readline() == "ready\n"
                # Counts of writes, not spans of time: the test is the same on a slow machine.
                _wait_for_acknowledged(log, writer, 21)
                _, acknowledged_before = _replay(log)
                archive = opened.backup(tmp_path / "snap.tar.gz").path
                _, acknowledged_at_end = _replay(log)
                _wait_for_acknowledged(log, writer, acknowledged_at_end + 1)
            finally:
                writer.send_signal(signal.SIGKILL)
                writer.wait(timeout=30)
                writer.stdout.close()  # type: ignore[union-attr]
        ops, _ = _replay(log)
        assert acknowledged_before > 20
        assert len(ops) > acknowledged_before  # the writer was not stopped by the backup
        assert stat.S_IMODE(archive.stat().st_mode) == 0o600
        restored = FileAdapter.restore(archive, tmp_path / "restored")
        with restored:
            assert restored.check().ok
            got = snapshot(restored)
            _lookups_agree(restored, got)
        # The snapshot is the store after exactly some prefix of the writes, one
        # that includes everything acknowledged before the backup started.
        state: State = {k: {} for k in ("users", "sessions", "credentials", "tokens", "accounts")}
        matches = []
        for done, op in enumerate([None, *ops]):
            if op is not None:
                apply_op(state, op)
            if done >= acknowledged_before and state == got:
                matches.append(done)
        assert matches, "the backup is not the state after any prefix of the writes"
        assert not list(tmp_path.glob("store/.backup-*"))  # staging removed

    def test_restore_needs_an_empty_directory(self, store: FileAdapter, tmp_path: Path) -> None:
        archive = store.backup(tmp_path / "b.tar.gz")
        taken = tmp_path / "taken"
        taken.mkdir()
        (taken / "x").write_text("x")
        with pytest.raises(ConfigurationError, match="empty"):
            FileAdapter.restore(archive, taken)

    @pytest.mark.parametrize("member", ["../evil.json", "/etc/evil", "users/link", "elsewhere/x"])
    def test_restore_refuses_what_a_backup_never_holds(self, tmp_path: Path, member: str) -> None:
        archive = tmp_path / "bad.tar.gz"
        with tarfile.open(archive, "w:gz") as tar:
            info = tarfile.TarInfo(member)
            if member == "users/link":
                info.type = tarfile.SYMTYPE
                info.linkname = "/etc/passwd"
                tar.addfile(info)
            else:
                info.size = 2
                tar.addfile(info, BytesIO(b"{}"))
        with pytest.raises(ConfigurationError):
            FileAdapter.restore(archive, tmp_path / "target")
        assert not (tmp_path / "evil.json").exists()

    def test_backup_outside_the_root_only(self, store: FileAdapter, root: Path) -> None:
        with pytest.raises(ConfigurationError, match="outside"):
            store.backup(root / "inside.tar.gz")


def _lookups_agree(store: FileAdapter, state: State) -> None:
    for user_id, user in state["users"].items():
        found = store.get_user_by_email(user["email"])
        assert found is not None
        assert found.id == user_id
        assert found.name == user["name"]
    for token, session in state["sessions"].items():
        pair = store.get_session_and_user(token)
        assert pair is not None
        assert pair[0].id == session["id"]
        assert pair[0].expires.isoformat() == session["expires"]
    for pid, account in state["accounts"].items():
        linked = store.get_account(PROVIDER, pid)
        assert linked is not None
        assert linked.id == account["id"]
    for cid, credential in state["credentials"].items():
        got = store.get_credential(cid)
        assert got is not None
        assert (got.version, got.data) == (
            credential["version"],
            credential["data"],
        )


# -- four processes ----------------------------------------------------------------------


def test_four_processes_of_500_mixed_operations_lose_nothing(tmp_path: Path) -> None:
    root = tmp_path / "store"
    url = f"file://{root}?durability=normal"
    with FileAdapter(root, durability="normal") as opened:
        for n in range(4):
            opened.create_user(User(id=f"shared-{n}", email=f"shared{n}@example.com"))
        opened.create_credential(
            Credential(id="counter", user_id="shared-0", type="counter", data={"n": 0})
        )
    outs = [tmp_path / f"worker{n}.json" for n in range(4)]
    workers = [
        subprocess.Popen([sys.executable, str(WRITER), "mixed", url, str(out), str(n), "500"])
        for n, out in enumerate(outs)
    ]
    for worker in workers:
        assert worker.wait(timeout=240) == 0
    reports = [json.loads(out.read_text()) for out in outs]
    with FileAdapter(root) as opened:
        # No lost update: every successful compare-and-set is counted exactly once.
        counter = opened.get_credential("counter")
        assert counter is not None
        increments = sum(r["increments"] for r in reports)
        assert increments > 0
        assert counter.data == {"n": increments}
        assert counter.version == increments + 1
        names = {name for r in reports for name in r["renames"]}
        for n in range(4):
            shared = opened.get_user(f"shared-{n}")
            assert shared is not None
            assert shared.name in names | {None}
        # Every worker's own records are exactly what it believes it left.
        expected: State = {
            k: {} for k in ("users", "sessions", "credentials", "tokens", "accounts")
        }
        for r in reports:
            for table, records in r["state"].items():
                assert not set(records) & set(expected[table])
                expected[table].update(records)
        actual = snapshot(opened)
        for n in range(4):
            del actual["users"][f"shared-{n}"]
        del actual["credentials"]["counter"]
        assert actual == expected
        # Indices agree with records: check() compares them all, lookups go through them.
        assert opened.check().ok
        _lookups_agree(opened, expected)
        assert sum(len(t) for t in expected.values()) > 100
