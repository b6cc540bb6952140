"""Writing a file the user names (``auth_store.output_file``), as the library calls it:
``jsonl.export_file`` and ``backup.backup``, on real files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from auth_store import connect
from auth_store.backup import backup, list_backups
from auth_store.jsonl import export_file, scan_jsonl
from auth_store.models import Model, User
from auth_store.output_file import OutputExistsError, atomic_output
from tests.fake_clock import FakeClock

OLD = b"what was there before\n"


def users(n: int) -> list[Model]:
    return [User(id=f"u{i}", email=f"u{i}@example.com") for i in range(n)]


def test_export_file_refuses_an_existing_file_before_reading_a_record(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_bytes(OLD)
    started = []

    def records() -> Iterator[Model]:
        started.append(True)
        yield from users(1)

    with pytest.raises(OutputExistsError) as refused:
        export_file(records(), out)
    assert refused.value.filename == str(out)
    assert started == []
    assert out.read_bytes() == OLD

    counts = export_file(users(3), out, overwrite=True)
    assert counts["users"] == 3
    assert scan_jsonl(out)["users"] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]


def test_a_file_that_appears_during_the_export_is_not_replaced(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"

    def someone_else_writes(collection: str, n: int) -> None:
        if n == 2:
            out.write_bytes(OLD)

    with pytest.raises(OutputExistsError):
        export_file(users(5), out, on_record=someone_else_writes)
    assert out.read_bytes() == OLD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]


def test_a_link_that_appears_during_a_forced_export_is_not_replaced(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_bytes(OLD)
    victim = tmp_path / "victim"
    victim.write_bytes(OLD)

    def swap_in_a_link(collection: str, n: int) -> None:
        if n == 2:
            out.unlink()
            out.symlink_to(victim)

    with pytest.raises(FileExistsError, match="symbolic link"):
        export_file(users(5), out, on_record=swap_in_a_link, overwrite=True)
    assert out.is_symlink()
    assert victim.read_bytes() == OLD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl", "victim"]


def test_a_failure_in_the_block_leaves_the_old_file(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    out.write_bytes(OLD)

    def write_half() -> None:
        with atomic_output(out, overwrite=True) as stream:
            stream.write("half of the new content")
            stream.flush()
            raise RuntimeError("stopped part-way")

    with pytest.raises(RuntimeError):
        write_half()
    assert out.read_bytes() == OLD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_a_backup_never_lands_on_a_file_with_its_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    FakeClock.install(monkeypatch)  # two backups in the same microsecond: the same name
    dest = tmp_path / "backups"
    with connect(f"sqlite:///{tmp_path}/auth.db") as store:
        store.create_user(User(email="ann@example.com"))
        first = backup(store, dest)
        before = first.path.read_bytes()
        store.create_user(User(email="bob@example.com"))
        with pytest.raises(OutputExistsError):
            backup(store, dest)
    assert first.path.read_bytes() == before
    assert list_backups(dest) == [first.path]
    assert [p.name for p in dest.iterdir()] == [first.path.name]  # no work folder left
