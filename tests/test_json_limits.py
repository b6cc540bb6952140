"""The limits on stored JSON are configurable: in code, and by environment variables.

What every backend does at the default limits is in the conformance suite
(``SemanticsCases.test_json_*``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

import auth_store
from auth_store import ConfigurationError, Credential, User, ValidationError
from auth_store.validation import (
    JSON_MAX_BYTES_ENV,
    JSON_MAX_DEPTH_ENV,
    JsonLimits,
    json_limits,
    set_json_limits,
)


def nested(levels: int) -> dict[str, Any]:
    """A dict ``levels`` deep (``{}`` is 1)."""
    value: dict[str, Any] = {}
    for _ in range(levels - 1):
        value = {"n": value}
    return value


@pytest.fixture
def restore_limits() -> Iterator[JsonLimits]:
    before = json_limits()
    yield before
    set_json_limits(max_depth=before.max_depth, max_bytes=before.max_bytes)
    assert json_limits() == before


def test_the_defaults() -> None:
    assert JsonLimits() == JsonLimits(max_depth=32, max_bytes=64 * 1024)


def test_set_json_limits_applies_to_every_write(restore_limits: JsonLimits) -> None:
    previous = set_json_limits(max_depth=3, max_bytes=100)
    assert previous == restore_limits
    assert json_limits() == JsonLimits(max_depth=3, max_bytes=100)
    with auth_store.connect("memory://") as store:
        user = store.create_user(User(email="ann@example.com", extra=nested(3)))
        assert user.id is not None
        with pytest.raises(ValidationError, match="deeper than 3 levels"):
            store.update_user(user.id, extra=nested(4))
        with pytest.raises(ValidationError, match="over the limit of 100"):
            store.create_credential(Credential(user_id=user.id, type="t", data={"b": "x" * 100}))
        set_json_limits(max_bytes=1000)  # one limit at a time: the other is kept
        assert json_limits() == JsonLimits(max_depth=3, max_bytes=1000)
        store.create_credential(Credential(user_id=user.id, type="t", data={"b": "x" * 100}))


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "8"])
def test_limits_must_be_positive_ints(bad: Any, restore_limits: JsonLimits) -> None:
    with pytest.raises(ConfigurationError, match="positive int"):
        set_json_limits(max_depth=bad)
    with pytest.raises(ConfigurationError, match="positive int"):
        JsonLimits(max_bytes=bad)
    assert json_limits() == restore_limits


def _in_a_fresh_process(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )


def test_environment_variables_set_the_limits_of_a_process() -> None:
    code = (
        "import auth_store\n"
        "from auth_store.validation import json_limits\n"
        "print(json_limits())\n"
        "store = auth_store.connect('memory://')\n"
        "store.create_user(auth_store.User(email='a@example.com', extra={'n': {}}))\n"
        "try:\n"
        "    store.create_user(auth_store.User(email='b@example.com', extra={'n': {'n': {}}}))\n"
        "except auth_store.ValidationError as error:\n"
        "    print(error)\n"
    )
    done = _in_a_fresh_process(code, **{JSON_MAX_DEPTH_ENV: "2", JSON_MAX_BYTES_ENV: "5000"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "JsonLimits(max_depth=2, max_bytes=5000)",
        "extra is nested deeper than 2 levels (auth_store.validation.JsonLimits)",
    ]
    bad = _in_a_fresh_process(code, **{JSON_MAX_DEPTH_ENV: "deep"})
    assert bad.returncode != 0
    assert f"ConfigurationError: {JSON_MAX_DEPTH_ENV} must be an int, got 'deep'" in bad.stderr
