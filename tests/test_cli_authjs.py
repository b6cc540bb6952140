"""``auth-store authjs mint`` and ``decode``: tokens the real @auth/core and next-auth@4 accept.

The secret comes from the environment as Auth.js reads it and never shows up
in any output, whether the command succeeds or fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from click.testing import CliRunner, Result

from auth_store import authjs
from auth_store.cli import cli
from tests.node import run_node

SECRET = "secret-of-the-next-js-app-0123456789abcdef"
NEWER = "the-rotated-in-secret-0123456789abcdefghij"
PLAIN = "authjs.session-token"
SECURE = "__Secure-authjs.session-token"
ENV = {"AUTH_SECRET": SECRET, "AUTH_SECRET_1": None, "AUTH_SECRET_2": None, "AUTH_SECRET_3": None}

outputs: list[str] = []


def run(
    *args: str, input: str | None = None, env: Mapping[str, str | None] | None = None
) -> Result:
    result = CliRunner().invoke(cli, list(args), input=input, env={**ENV, **(env or {})})
    outputs.append(result.stdout + result.stderr)
    return result


@pytest.fixture(autouse=True)
def _no_secret_in_any_output() -> Any:
    outputs.clear()
    yield
    for text in outputs:
        assert SECRET not in text
        assert NEWER not in text


def test_mint_then_decode(monkeypatch: pytest.MonkeyPatch) -> None:
    minted = run(
        "authjs",
        "mint",
        "--sub",
        "u-1",
        "--claims",
        '{"name": "Ann", "sub": "x"}',
        "--max-age",
        "600",
    )
    assert minted.exit_code == 0, minted.output
    token = minted.stdout.strip()
    claims = authjs.decode(token, secret=SECRET, salt=PLAIN)
    assert claims["sub"] == "u-1"  # --sub wins over a sub in --claims
    assert claims["name"] == "Ann"
    assert claims["exp"] - claims["iat"] == 600
    decoded = run("authjs", "decode", input=token + "\n")
    assert decoded.exit_code == 0, decoded.output
    assert '"name": "Ann"' in decoded.stdout
    assert f"(cookie {PLAIN})" in decoded.stdout
    as_json = json.loads(run("--json", "authjs", "decode", input=token).stdout)
    assert as_json["cookie_name"] == PLAIN
    assert as_json["claims"] == claims
    assert as_json["expires"] == datetime.fromtimestamp(claims["exp"], UTC).isoformat()


def test_minted_tokens_are_auth_core_s_and_next_auth_4_s() -> None:
    rotation = {"AUTH_SECRET": SECRET, "AUTH_SECRET_1": NEWER}
    v5 = run("authjs", "mint", "--sub", "u-1", "--secure", env=rotation).stdout.strip()
    v4 = run("authjs", "mint", "--sub", "u-1", "--v4").stdout.strip()
    results = run_node(
        "authjs_jwt.mjs",
        [
            {"op": "decode", "token": v5, "secret": [NEWER, SECRET], "salt": SECURE},
            {"op": "decode", "token": v5, "secret": NEWER, "salt": SECURE},
            {"op": "decode", "token": v5, "secret": SECRET, "salt": SECURE},
            {"op": "decode", "format": "v4", "token": v4, "secret": SECRET},
        ],
    )
    assert results[0]["payload"]["sub"] == "u-1"
    assert results[1]["payload"]["sub"] == "u-1"  # AUTH_SECRET_1, the newest, encrypted it
    assert "error" in results[2]
    assert results[3]["payload"]["sub"] == "u-1"
    # and the command reads them back with the same environments
    assert run("authjs", "decode", "--secure", input=v5, env=rotation).exit_code == 0
    assert run("authjs", "decode", "--v4", input=v4).exit_code == 0


def test_a_cookie_header_in_and_out_chunked_when_long() -> None:
    claims = json.dumps({"groups": [f"group-{i}" for i in range(700)]})
    header = run("authjs", "mint", "--sub", "u-1", "--claims", claims, "--cookie").stdout.strip()
    names = [part.split("=", 1)[0] for part in header.split("; ")]
    assert names == [f"{PLAIN}.{i}" for i in range(len(names))]
    assert len(names) >= 3
    pasted = f"Cookie: theme=dark; {header}; authjs.csrf-token=abc"
    decoded = json.loads(run("--json", "authjs", "decode", input=pasted).stdout)
    assert decoded["claims"]["sub"] == "u-1"
    assert len(decoded["claims"]["groups"]) == 700
    minted = json.loads(run("--json", "authjs", "mint", "--sub", "u-2").stdout)
    assert minted["cookie"] == f"{PLAIN}={minted['token']}"
    assert minted["cookie_name"] == PLAIN


def test_refusals_exit_1_with_the_reason() -> None:
    token = run("authjs", "mint", "--sub", "u-1").stdout.strip()
    wrong = run("authjs", "decode", input=token, env={"AUTH_SECRET": NEWER})
    assert wrong.exit_code == 1
    assert "refused (unknown_secret)" in wrong.stderr
    expired = authjs.encode({"sub": "u-1"}, secret=SECRET, salt=PLAIN, max_age=-60)
    result = run("authjs", "decode", input=expired)
    assert result.exit_code == 1
    assert "refused (expired)" in result.stderr
    tampered = token[:-3] + ("A" if token[-3] != "A" else "B") + token[-2:]
    result = run("authjs", "decode", "--plain", input=tampered)
    assert result.exit_code == 1
    assert "refused (decryption_failed)" in result.stderr
    wrong_name = run("authjs", "decode", "--secure", input=token)
    assert wrong_name.exit_code == 1
    assert "unknown_secret" in wrong_name.stderr
    no_cookie = run("authjs", "decode", input="theme=dark; other=1")
    assert no_cookie.exit_code == 1
    assert "no __Secure-authjs.session-token or authjs.session-token cookie" in no_cookie.stderr


def test_usage_errors_exit_2() -> None:
    assert run("authjs", "decode", input="").exit_code == 2
    assert run("authjs", "mint", "--sub", "u", "--claims", "{nope").exit_code == 2
    assert run("authjs", "mint", "--sub", "u", "--claims", "[1]").exit_code == 2
    assert run("authjs", "mint", "--sub", "u", "--max-age", "0").exit_code == 2
    assert run("authjs", "mint").exit_code == 2  # --sub is required
    missing = run("authjs", "mint", "--sub", "u", env={"AUTH_SECRET": None})
    assert missing.exit_code == 2
    assert "AUTH_SECRET is not set" in missing.stderr
    too_big = run("authjs", "mint", "--sub", "u", "--claims", json.dumps({"x": "y" * 70_000}))
    assert too_big.exit_code == 2
    assert "keep the session payload small" in too_big.stderr


def test_a_real_process_reads_the_environment() -> None:
    env = {**os.environ, "AUTH_SECRET": SECRET}
    minted = subprocess.run(
        [sys.executable, "-m", "auth_store", "authjs", "mint", "--sub", "u-9"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    decoded = subprocess.run(
        [sys.executable, "-m", "auth_store", "--json", "authjs", "decode"],
        input=minted.stdout,
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    outputs.extend([minted.stdout + minted.stderr, decoded.stdout + decoded.stderr])
    assert json.loads(decoded.stdout)["claims"]["sub"] == "u-9"
