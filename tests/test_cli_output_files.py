"""Commands that write a file the user names, as real ``auth-store`` processes.

``export FILE`` refuses an existing FILE unless ``--force`` (one line naming
the path and the flag, exit 2, as every usage error), never writes through
a symbolic link or onto anything but a regular file, even with ``--force``,
and writes atomically: a failure part-way leaves what was at FILE byte for
byte. ``-`` is stdout. A key file is never replaced through a link either,
and a backup never lands on an existing file.
"""

from __future__ import annotations

import json
import os
import resource
import stat
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from auth_store import connect
from auth_store.crypto import Keyring
from auth_store.models import User
from tests._migration_data import AUTH_STORE

#: Users in the store: enough that an export is well past ``LIMIT`` bytes.
USERS = 400
#: The file size limit of the process whose export fails part-way.
LIMIT = 48 * 1024
OLD = b'{"an": "older export"}\n' * 10


def auth_store(
    *args: str, url: str, cwd: Path | None = None, fsize: int | None = None, keys: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run the real entry point; ``fsize`` caps the size of any file it writes."""

    def cap() -> None:
        if fsize is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTH_STORE_KEY")}
    if keys:
        env["AUTH_STORE_KEYS"] = Keyring.generate_key("k1")
    return subprocess.run(
        [AUTH_STORE, "--url", url, *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        env=env,
        preexec_fn=cap,
    )


def one_line_error(done: subprocess.CompletedProcess[str], exit_code: int) -> str:
    assert done.returncode == exit_code, done.stderr
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("Error: ")
    return lines[0].removeprefix("Error: ")


def listing(folder: Path) -> Sequence[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('store')}/auth.db"
    with connect(url) as store:
        for n in range(USERS):
            store.create_user(User(email=f"user{n}@example.com", name=f"User number {n}"))
    return url


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """An export file that is already there."""
    path = tmp_path / "out.jsonl"
    path.write_bytes(OLD)
    return path


def test_an_existing_file_is_refused_and_left_as_it_was(url: str, out: Path) -> None:
    before = listing(out.parent)
    message = one_line_error(auth_store("export", str(out), url=url), exit_code=2)
    assert message == f"file exists: {out} (pass --force to replace it)"
    assert out.read_bytes() == OLD
    assert listing(out.parent) == before  # no temporary file left


def test_force_replaces_it(url: str, out: Path) -> None:
    done = auth_store("--json", "export", "--force", str(out), url=url)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["counts"]["users"] == USERS
    lines = out.read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[0])["format"] == "auth-store"
    assert json.loads(lines[-1])["counts"]["users"] == USERS
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert listing(out.parent) == ["out.jsonl"]


def test_a_new_file_needs_no_force(url: str, tmp_path: Path) -> None:
    new = tmp_path / "new.jsonl"
    assert auth_store("export", str(new), url=url).returncode == 0
    assert json.loads(new.read_text(encoding="utf-8").splitlines()[-1])["end"] is True


@pytest.mark.parametrize("force", [[], ["--force"]], ids=["plain", "force"])
def test_a_symbolic_link_is_never_written_through(
    url: str, tmp_path: Path, force: list[str]
) -> None:
    victim = tmp_path / "passwd"
    victim.write_bytes(b"root:x:0:0:root:/root:/bin/bash\n")
    link = tmp_path / "out.jsonl"
    link.symlink_to(victim)
    message = one_line_error(auth_store("export", *force, str(link), url=url), exit_code=2)
    assert message == f"is a symbolic link (never written through): {link}"
    assert victim.read_bytes() == b"root:x:0:0:root:/root:/bin/bash\n"
    assert link.is_symlink()
    assert link.readlink() == victim
    assert listing(tmp_path) == ["out.jsonl", "passwd"]


def test_a_dangling_link_is_not_followed_to_a_new_file(url: str, tmp_path: Path) -> None:
    link = tmp_path / "out.jsonl"
    link.symlink_to(tmp_path / "elsewhere")
    message = one_line_error(auth_store("export", str(link), url=url), exit_code=2)
    assert message == f"is a symbolic link (never written through): {link}"
    assert not (tmp_path / "elsewhere").exists()
    assert link.is_symlink()


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (os.mkfifo, "not a regular file: {path}"),
        (os.mkdir, "is a directory"),
    ],
    ids=["fifo", "folder"],
)
def test_anything_but_a_regular_file_is_refused_even_with_force(
    url: str, tmp_path: Path, make: object, expected: str
) -> None:
    path = tmp_path / "out.jsonl"
    make(path)  # type: ignore[operator]
    message = one_line_error(auth_store("export", "--force", str(path), url=url), exit_code=2)
    assert expected.format(path=path) in message
    assert listing(tmp_path) == ["out.jsonl"]


def test_a_name_ending_in_a_slash_is_refused(url: str, tmp_path: Path) -> None:
    message = one_line_error(auth_store("export", f"{tmp_path}/new/", url=url), exit_code=2)
    assert message == f"names a directory: {tmp_path}/new/"
    assert listing(tmp_path) == []


def test_a_failure_part_way_leaves_the_old_file_intact(url: str, out: Path) -> None:
    done = auth_store("export", "--force", str(out), url=url, fsize=LIMIT)
    # The disk "fills up" LIMIT bytes into the export (EFBIG): the command failed.
    assert one_line_error(done, exit_code=1) == "file too large"
    assert out.read_bytes() == OLD
    assert listing(out.parent) == ["out.jsonl"]  # the partial temporary file is gone
    # The control: without the cap the same command replaces it.
    assert auth_store("export", "--force", str(out), url=url).returncode == 0
    assert out.stat().st_size > LIMIT


def test_dash_is_stdout_even_beside_a_file_named_dash(url: str, tmp_path: Path) -> None:
    (tmp_path / "-").write_bytes(OLD)
    done = auth_store("export", "-", url=url, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == USERS + 2
    assert (tmp_path / "-").read_bytes() == OLD
    assert auth_store("export", url=url, cwd=tmp_path).stdout.count("\n") == USERS + 2


def test_a_key_file_behind_a_link_is_refused(url: str, tmp_path: Path) -> None:
    real = tmp_path / "keys.txt"
    real.write_text(Keyring.generate_key("old") + "\n", encoding="utf-8")
    before = real.read_bytes()
    link = tmp_path / "link.txt"
    link.symlink_to(real)
    for args in (["generate", "--append", str(link)], ["rotate", "--key-file", str(link)]):
        message = one_line_error(auth_store("keys", *args, url=url, keys=False), exit_code=2)
        assert message == f"is a symbolic link (never written through): {link}"
    assert real.read_bytes() == before
    assert link.is_symlink()


def test_a_backup_onto_an_existing_file_is_refused(url: str, out: Path) -> None:
    message = one_line_error(auth_store("backup", str(out), url=url), exit_code=2)
    assert "is a file" in message
    assert out.read_bytes() == OLD
