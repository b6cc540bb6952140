"""Install traps: what a module needs is installed with it, or it says which extra to add."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import auth_store

ROOT = Path(__file__).resolve().parent.parent


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )


def test_the_version_is_written_once() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "version" not in project
    assert project["dynamic"] == ["version"]
    assert importlib.metadata.version("auth-store") == auth_store.__version__
    done = subprocess.run(
        [sys.executable, "-m", "auth_store", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == f"auth-store, version {auth_store.__version__}"


def test_the_command_line_needs_no_extra() -> None:
    required = importlib.metadata.requires("auth-store") or []
    base = {r.split(">")[0].split(";")[0].strip() for r in required if "extra ==" not in r}
    assert {"click", "rich"} <= base


@pytest.mark.parametrize(
    ("blocked", "module", "extra"),
    [
        ("authlib", "auth_store.oauth", "oauth"),
        ("joserfc", "auth_store.oauth", "oauth"),
        ("flask", "auth_store.integrations.flask", "flask"),
        ("fastapi", "auth_store.integrations.fastapi", "fastapi"),
        ("flask", "auth_store.integrations.flask_passkeys", "flask"),
    ],
)
def test_a_missing_optional_package_names_its_extra_in_one_line(
    blocked: str, module: str, extra: str
) -> None:
    done = _python(
        f"import sys; sys.modules[{blocked!r}] = None\n"
        "try:\n"
        f"    import {module}\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    assert done.returncode == 0, done.stderr
    assert (
        done.stdout == f"{module} needs the {blocked} package: pip install 'auth-store[{extra}]'\n"
    )


@pytest.mark.parametrize("framework", ["flask", "fastapi"])
def test_the_web_extras_bring_passkeys(framework: str) -> None:
    """The integrations serve passkey endpoints and the demos use them: the extras install them."""
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert "auth-store[oauth,passkeys]" in extras[framework]
    assert any(r.startswith("webauthn") for r in extras["passkeys"])


def test_the_integrations_work_without_webauthn_until_passkeys_are_turned_on() -> None:
    done = _python(
        "import sys; sys.modules['webauthn'] = None\n"
        "import auth_store\n"
        "from auth_store.aio import AuthFlow\n"
        "from auth_store.async_twin import ThreadedAsyncAdapter\n"
        "from auth_store.integrations.fastapi import FastAPIAuth\n"
        "from auth_store.integrations.flask_passkeys import passkeys_blueprint\n"
        "from auth_store.mail import MemoryMailer\n"
        "from auth_store.signing import Signer\n"
        "store = ThreadedAsyncAdapter(auth_store.connect('memory://'))\n"
        "flow = AuthFlow(store, signer=Signer(Signer.generate()),\n"
        "                mailer=MemoryMailer(), base_url='https://example.com')\n"
        "FastAPIAuth(flow).router()\n"
        "passkeys_blueprint()\n"
        "try:\n"
        "    flow.enable_passkeys(rp_id='example.com', origins=['https://example.com'])\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        "auth_store.passkeys needs the 'passkeys' extra: pip install 'auth-store[passkeys]'\n"
    )
