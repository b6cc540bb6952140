"""A backend from outside the package: found by entry point, conformant, served by the CLI.

``tests/fixtures/thirdparty/auth_store_jsonfile`` is a minimal backend as
another project would write it. Here it is installed the way a wheel
installs it (its package and a ``.dist-info`` with an ``auth_store.backends``
entry point, on ``sys.path``), then it runs the conformance suite in a fresh
process, and the ``auth-store`` command checks, backs up and restores it
through the capability protocols alone.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import auth_store
from auth_store import clock
from auth_store.capabilities import (
    StoredAtPath,
    SupportsBackup,
    SupportsCheck,
    SupportsRepair,
    SupportsRestore,
    SupportsSchema,
)
from auth_store.migration import store_path
from auth_store.models import Credential, Session, User

FIXTURE = Path(__file__).parent / "fixtures" / "thirdparty" / "auth_store_jsonfile"
ENTRY_POINTS = """\
[auth_store.backends]
jsonfile = auth_store_jsonfile:JsonFileAdapter
"""
# Fewer than this many passing cases means the suite was not really collected.
MIN_CASES = 120


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory laid out like site-packages after ``pip install auth-store-jsonfile``."""
    root = tmp_path_factory.mktemp("site")
    shutil.copytree(FIXTURE, root / "auth_store_jsonfile")
    meta = root / "auth_store_jsonfile-0.1.dist-info"
    meta.mkdir()
    (meta / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: auth-store-jsonfile\nVersion: 0.1\n", encoding="utf-8"
    )
    (meta / "entry_points.txt").write_text(ENTRY_POINTS, encoding="utf-8")
    return root


def _env(site: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), *sys.path])}


def _cli(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "auth_store", "--json", *args],
        env=_env(site),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_it_passes_the_conformance_suite(site: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(site / "auth_store_jsonfile" / "conformance.py"),
            "-q",
            "-p",
            "no:cacheprovider",
            "-W",
            "error",
            "--basetemp",
            str(tmp_path / "runs"),
        ],
        cwd=tmp_path,
        env=_env(site),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    found = re.search(r"(\d+) passed", result.stdout)
    assert found is not None, result.stdout
    assert int(found.group(1)) >= MIN_CASES
    assert "skipped" not in result.stdout
    assert "failed" not in result.stdout


def test_connect_finds_it_and_sees_its_capabilities(
    site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(site))
    url = f"jsonfile://{tmp_path}/store.json"
    with auth_store.connect(url) as store:
        assert type(store).__module__ == "auth_store_jsonfile"
        assert isinstance(store, SupportsCheck)
        assert isinstance(store, SupportsBackup)
        assert not isinstance(store, SupportsRepair)
        assert not isinstance(store, SupportsSchema)
        assert issubclass(type(store), SupportsRestore)
        assert issubclass(type(store), StoredAtPath)
    assert store_path(url) == tmp_path / "store.json"


def test_the_cli_checks_backs_up_and_restores_it(
    site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(site))
    path = tmp_path / "store.json"
    url = f"jsonfile://{path}"
    with auth_store.connect(url) as store:
        ann = store.create_user(User(email="ann@example.com"))
        store.create_session(Session(session_token="tok", user_id=ann.id, expires=clock.now()))
        store.create_credential(Credential(user_id=ann.id, type="password", data={"h": "x"}))

    checked = _cli(site, "--url", url, "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    report = json.loads(checked.stdout)
    assert report["ok"] is True
    assert report["backend"] == "jsonfile"
    assert report["counts"]["users"] == 1

    dest = tmp_path / "backups"
    made = _cli(site, "--url", url, "backup", str(dest))
    assert made.returncode == 0, made.stdout + made.stderr
    result = json.loads(made.stdout)
    assert result["method"] == "jsonfile-copy"  # the backend's own backup, not an export
    backup_file = Path(result["path"])
    assert re.fullmatch(
        r"auth-store-jsonfile-store\.[0-9a-f]{8}-\d{8}T\d{12}Z\.json", backup_file.name
    )
    assert backup_file.read_bytes() == path.read_bytes()

    # The backup is read back by the backend that wrote it, into another kind of store.
    target = f"sqlite:///{tmp_path}/restored.db"
    restored = _cli(site, "--url", target, "restore", str(backup_file))
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert json.loads(restored.stdout)["counts"]["credentials"] == 1
    with auth_store.connect(target) as copy:
        assert copy.get_user(ann.id) == ann

    # Damage only the backend can see is reported through its check().
    data = json.loads(path.read_text(encoding="utf-8"))
    data["collections"]["users"][ann.id]["email"] = "not an address"
    path.write_text(json.dumps(data), encoding="utf-8")
    damaged = _cli(site, "--url", url, "check")
    assert damaged.returncode == 1
    problems = json.loads(damaged.stdout)["problems"]
    assert any(
        p["kind"] == "backend" and p["collection"] == "users" and "invalid-record" in p["message"]
        for p in problems
    ), problems
