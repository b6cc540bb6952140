"""The distribution itself: what `import auth_store` loads, and what a wheel ships."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

from tests.source_tree import source_copy

ROOT = Path(__file__).resolve().parent.parent


def test_importing_auth_store_loads_no_driver_or_framework() -> None:
    code = (
        "import sys, auth_store\n"
        "store = auth_store.connect('memory://')\n"
        "heavy = ('psycopg', 'psycopg_pool', 'flask', 'fastapi', 'starlette', 'authlib',"
        " 'click', 'rich')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "[]"


def test_the_wheel_maps_adapters_under_auth_store_and_ships_its_data(tmp_path: Path) -> None:
    source = source_copy(tmp_path / "source")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(source)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("auth_store-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in (
        "auth_store/py.typed",
        "auth_store/adapters/__init__.py",
        "auth_store/adapters/memory.py",
        "auth_store/adapters/sqlite.py",
        "auth_store/adapters/postgres.py",
        "auth_store/adapters/file/__init__.py",
        "auth_store/adapters/sql/base.py",
        "auth_store/adapters/migrations/sqlite/0001_initial.sql",
        "auth_store/adapters/migrations/postgres/0001_initial.sql",
        "auth_store/testing/conformance.py",
        "auth_store/cli/__init__.py",
        "auth_store/integrations/fastapi/__init__.py",
        "auth_store/integrations/fastapi/_routes.py",
        "auth_store/integrations/fastapi/_passkeys.py",
        "auth_store/integrations/flask_passkeys.py",
        "auth_store/integrations/static/passkeys.js",
        "auth_store/authjs/jwt.py",
    ):
        assert expected in names, expected
    top_level = {name.split("/", 1)[0] for name in names}
    assert "adapters" not in top_level  # the name is taken on PyPI
    assert not any(name.startswith(("tests/", "examples/", "benchmarks/")) for name in names)


def test_the_test_helpers_run_the_interpreter_that_runs_the_tests(tmp_path: Path) -> None:
    # Another environment than ROOT/.venv (tox, nox, a CI image's own venv): it
    # sees the same packages through a .pth file, but lives at another path.
    other = tmp_path / "other-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(other)], check=True)
    python = other / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    ours = sysconfig.get_paths()["purelib"]
    Path(purelib, "share.pth").write_text(f"import site; site.addsitedir({ours!r})\n")
    (other / "bin" / "auth-store").symlink_to(Path(sys.executable).parent / "auth-store")
    code = (
        "import sys\n"
        "from tests._migration_data import AUTH_STORE, PYTHON\n"
        "print(PYTHON == sys.executable, AUTH_STORE)\n"
    )
    out = subprocess.run(
        [str(python), "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout.split()
    assert out == ["True", str(other / "bin" / "auth-store")]
