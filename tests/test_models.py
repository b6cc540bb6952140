"""Models: ids are there from the moment a record is built."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from auth_store.errors import ValidationError
from auth_store.models import Account, Credential, Session, User
from auth_store.validation import _MAX_TEXT, _required_text, check_text, validate_id

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "build",
    [
        lambda: User(email="a@example.com"),
        lambda: Account(user_id="u", type="oauth", provider="p", provider_account_id="1"),
        lambda: Session(session_token="t", user_id="u", expires=datetime.now(UTC)),
        lambda: Credential(user_id="u", type="password", data={}),
    ],
    ids=["user", "account", "session", "credential"],
)
def test_a_built_record_has_a_fresh_valid_id(build: object) -> None:
    assert callable(build)
    first, second = build(), build()
    assert validate_id(first.id) == first.id
    assert first.id != second.id


def test_a_given_id_is_kept() -> None:
    assert User(id="imported-1", email="a@example.com").id == "imported-1"


def test_library_code_has_no_id_asserts_or_empty_id_fallbacks() -> None:
    """Asserts vanish under ``python -O``; ``x.id or ""`` would pass an empty id along."""
    pattern = re.compile(r"assert .*\bid is not None|\.id or \"\"|\.id is None")
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for folder in ("auth_store", "adapters")
        for path in (ROOT / folder).rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert offenders == []


class _Text(str):
    pass


@pytest.mark.parametrize(
    "value",
    [
        "tok",
        "a" * _MAX_TEXT,
        "a" * (_MAX_TEXT + 1),
        "",
        "a\x00b",
        "\x00",
        "caf\u00e9",
        "\u00e9" * (_MAX_TEXT + 1),
        "a\ud800",
        _Text("tok"),
        _Text(""),
        b"tok",
        None,
        7,
    ],
    ids=repr,
)
def test_check_text_decides_as_the_general_text_checks(value: object) -> None:
    """``check_text``'s fast path for the usual key changes no answer or message."""

    def outcome(check: Callable[[object, str], str]) -> tuple[str, object]:
        try:
            return "accepted", check(value, "key")
        except ValidationError as exc:
            return "refused", str(exc)

    kind, result = outcome(check_text)
    assert (kind, result) == outcome(_required_text)
    if kind == "accepted":
        assert result is value
