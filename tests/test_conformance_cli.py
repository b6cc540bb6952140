"""The one-line command runs the conformance suite against a URL given on the command line."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import psycopg
import pytest

from auth_store.testing.urls import SCHEMA_PREFIX, derive_url
from tests.pg import require_postgres

# Fewer than this many passing cases means the suite was not really collected.
MIN_CASES = 120


def run_suite(cwd: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """``pytest --pyargs auth_store.testing OPTIONS`` in a fresh process, outside the repo."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--pyargs",
            "auth_store.testing",
            "-q",
            "-p",
            "no:cacheprovider",
            "-W",
            "error",
            *options,
        ],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def passed(result: subprocess.CompletedProcess[str]) -> int:
    found = re.search(r"(\d+) passed", result.stdout)
    return int(found.group(1)) if found else 0


def test_memory_url_runs_the_whole_suite(tmp_path: Path) -> None:
    result = run_suite(tmp_path, "--auth-store-url=memory://")
    assert result.returncode == 0, result.stdout + result.stderr
    assert passed(result) >= MIN_CASES
    assert "failed" not in result.stdout
    assert "skipped" not in result.stdout


def test_sqlite_url_runs_the_whole_suite_on_fresh_files(tmp_path: Path) -> None:
    target = tmp_path / "mine.db"
    result = run_suite(tmp_path, f"--auth-store-url=sqlite:///{target}", "--basetemp", "runs")
    assert result.returncode == 0, result.stdout + result.stderr
    # The process races run too on SQLite, so it has more cases than memory.
    assert passed(result) > MIN_CASES
    assert "skipped" not in result.stdout
    # The store the URL names is never touched; each test got its own file.
    assert not target.exists()
    assert len(list((tmp_path / "runs").rglob("mine.db"))) >= MIN_CASES


def usage_error(result: subprocess.CompletedProcess[str]) -> str:
    """The one error line of a run refused as a usage error (nothing collected, no traceback)."""
    output = result.stdout + result.stderr
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, output
    assert "Traceback" not in output
    assert not re.search(r"\d+ (passed|failed|errors?|skipped)", result.stdout), output
    [line] = [line for line in result.stderr.splitlines() if line.strip()]
    assert line.startswith("ERROR: "), line
    return line


def test_without_a_url_it_is_one_usage_error(tmp_path: Path) -> None:
    line = usage_error(run_suite(tmp_path))
    assert "--auth-store-url=URL" in line
    assert "pytest --pyargs auth_store.testing --auth-store-url=" in line  # an example to copy


def test_the_package_named_by_path_needs_a_url_too(tmp_path: Path) -> None:
    import auth_store.testing

    package = Path(auth_store.testing.__file__).parent
    result = subprocess.run(
        [sys.executable, "-m", "pytest", str(package), "-q", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert "--auth-store-url=URL" in usage_error(result)


def test_an_unreachable_postgres_is_one_usage_error(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"postgresql://app:s3cret-pw@127.0.0.1:{port}/auth"
    line = usage_error(run_suite(tmp_path, f"--auth-store-url={url}"))
    assert f"cannot reach the Postgres server at postgresql://app:***@127.0.0.1:{port}/auth" in line
    assert "Connection refused" in line
    assert "s3cret-pw" not in line


def test_an_unknown_scheme_is_one_usage_error(tmp_path: Path) -> None:
    line = usage_error(run_suite(tmp_path, "--auth-store-url=bogus://somewhere"))
    assert "'bogus'" in line
    assert "subclass auth_store.testing.AdapterConformance" in line


def test_other_runs_are_not_affected_by_the_plugin(tmp_path: Path) -> None:
    (tmp_path / "test_mine.py").write_text("def test_mine():\n    assert True\n")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_the_better_auth_flavor_passes_the_whole_suite(tmp_path: Path, backend: str) -> None:
    """``pytest --pyargs auth_store.testing --auth-store-url='...?flavor=better-auth'``."""
    base = f"sqlite:///{tmp_path}/app.db" if backend == "sqlite" else require_postgres()
    separator = "&" if "?" in base else "?"
    url = f"{base}{separator}flavor=better-auth"
    result = run_suite(tmp_path, f"--auth-store-url={url}", "--basetemp", "runs")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert passed(result) > MIN_CASES
    assert "skipped" not in result.stdout


def test_derived_sqlite_url_keeps_options_and_moves_the_file(tmp_path: Path) -> None:
    url, cleanup = derive_url("sqlite:///data/auth.db?timeout=5", tmp_path)
    assert url == f"sqlite:///{tmp_path.resolve()}/auth.db?timeout=5"
    assert cleanup is None


def test_derived_file_url_is_absolute_under_tmp_path(tmp_path: Path) -> None:
    url, cleanup = derive_url("file:relative/store?durability=normal", tmp_path)
    assert url == f"file://{tmp_path.resolve()}/store?durability=normal"
    assert cleanup is None


def test_derived_memory_url_is_the_url(tmp_path: Path) -> None:
    assert derive_url("memory://", tmp_path) == ("memory://", None)


def test_derived_postgres_url_names_a_new_schema_that_cleanup_drops(tmp_path: Path) -> None:
    base = require_postgres()
    url, cleanup = derive_url(f"{base}?pool_max=3&schema=public", tmp_path)
    assert cleanup is not None
    options = dict(parse_qsl(urlsplit(url).query))
    schema = options["schema"]
    assert schema.startswith(SCHEMA_PREFIX)
    assert options["pool_max"] == "3"
    query = "SELECT count(*) FROM information_schema.schemata WHERE schema_name = %s"
    with psycopg.connect(base, autocommit=True) as db:
        assert db.execute(query, (schema,)).fetchone() == (1,)
        cleanup()
        assert db.execute(query, (schema,)).fetchone() == (0,)


BROKEN_ADAPTERS = """
import time
from dataclasses import replace
from pathlib import Path

from auth_store.adapters.memory import MemoryAdapter
from auth_store.testing import AdapterConformance
from auth_store.testing.raw import MemoryRaw


class RacyTokens(MemoryAdapter):
    def use_verification_token(self, identifier, token):
        found = self._tokens.get((identifier, token))
        time.sleep(0.02)
        self._tokens.pop((identifier, token), None)
        return found


class NoCascade(MemoryAdapter):
    def delete_user(self, id):
        with self._lock:
            user = self._users.pop(id, None)
            if user is not None:
                del self._user_by_email[user.email]
            return user


class RawEmailLookup(MemoryAdapter):
    def get_user_by_email(self, email):
        user_id = self._user_by_email.get(email)
        return self._users.get(user_id) if user_id else None


class BlindSet(MemoryAdapter):
    def update_credential(self, id, data, *, expected_version):
        with self._lock:
            found = self._credentials.get(id)
            if found is None:
                return None
            updated = replace(found, data=data, version=found.version + 1)
            self._credentials[id] = updated
            return updated


def suite_for(adapter_class):
    class Suite(AdapterConformance):
        multiprocess = False

        def new_url(self, tmp_path: Path) -> str:
            return "memory://"

        def open(self, url):
            return adapter_class()

        def raw(self, adapter, url):
            return MemoryRaw(adapter)

    return Suite


TestRacyTokens = suite_for(RacyTokens)
TestNoCascade = suite_for(NoCascade)
TestRawEmailLookup = suite_for(RawEmailLookup)
TestBlindSet = suite_for(BlindSet)
"""

#: For each broken adapter above, cases that must catch it.
MUST_CATCH = {
    "TestRacyTokens": {"test_threads_using_one_verification_token_have_one_winner"},
    "TestNoCascade": {
        "test_delete_user_removes_everything_it_owns",
        "test_delete_user_leaves_no_raw_records_behind",
    },
    "TestRawEmailLookup": {"test_email_lookup_uses_the_normalised_form"},
    "TestBlindSet": {
        "test_update_credential_with_a_stale_version_changes_nothing",
        "test_threads_updating_one_credential_version_have_one_winner",
    },
}


def test_the_suite_catches_broken_adapters(tmp_path: Path) -> None:
    module = tmp_path / "test_broken.py"
    module.write_text(BROKEN_ADAPTERS)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", str(module), "-q", "-rf", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == pytest.ExitCode.TESTS_FAILED, result.stdout + result.stderr
    failed = set(re.findall(r"^FAILED test_broken\.py::(\w+)::(\w+)", result.stdout, re.M))
    for suite, cases in MUST_CATCH.items():
        missed = {case for case in cases if (suite, case) not in failed}
        assert not missed, f"{suite} passed {missed}"
