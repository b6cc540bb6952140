"""API keys: stored encrypted, listed masked, revealed on demand, deleted, per user."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from auth_store import DecryptionError, NotFoundError, User, ValidationError
from auth_store.adapter import Adapter
from auth_store.api_keys import ApiKeyService
from auth_store.crypto import FieldCipher, Keyring, is_envelope
from auth_store.testing import stores

OPENAI = "sk-proj-4f9a8b7c6d5e4f3a2b1cX9Zk"
ANTHROPIC = "sk-ant-api03-abcdefghijklmnopQR12"


@pytest.fixture(params=stores.backend_params())
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Adapter]:
    with stores.fresh_store(request.param, tmp_path) as (adapter, _url):
        yield adapter


@pytest.fixture
def keys(store: Adapter) -> ApiKeyService:
    return ApiKeyService(store, FieldCipher(Keyring.generate()))


def new_user(store: Adapter, email: str = "ann@example.com") -> str:
    user = store.create_user(User(email=email))
    assert user.id is not None
    return user.id


def test_add_list_reveal_delete(store: Adapter, keys: ApiKeyService) -> None:
    user_id = new_user(store)
    first = keys.add(user_id, label="work", provider="openai", key=OPENAI)
    second = keys.add(user_id, label="home", provider="anthropic", key=ANTHROPIC)
    assert (first.label, first.provider, first.last4) == ("work", "openai", "X9Zk")
    assert first.masked.endswith("X9Zk")
    assert OPENAI[:-4] not in first.masked
    assert [k.id for k in keys.list(user_id)] == [first.id, second.id]
    assert keys.get(user_id, second.id) == second
    assert keys.reveal(user_id, first.id) == OPENAI
    assert keys.reveal(user_id, second.id) == ANTHROPIC
    assert keys.delete(user_id, first.id)
    assert not keys.delete(user_id, first.id)
    assert [k.id for k in keys.list(user_id)] == [second.id]
    with pytest.raises(NotFoundError):
        keys.reveal(user_id, first.id)


def test_the_key_is_stored_only_as_an_envelope(store: Adapter, keys: ApiKeyService) -> None:
    user_id = new_user(store)
    info = keys.add(user_id, label="work", provider="openai", key=OPENAI)
    credential = store.get_credential(info.id)
    assert credential is not None
    assert credential.type == "api_key"
    assert is_envelope(credential.data["key"])
    assert OPENAI not in str(credential.data)
    assert OPENAI not in repr(info)
    assert OPENAI not in repr(keys.list(user_id))


def test_other_users_cannot_see_reveal_or_delete(store: Adapter, keys: ApiKeyService) -> None:
    ann, bob = new_user(store), new_user(store, "bob@example.com")
    info = keys.add(ann, label="work", provider="openai", key=OPENAI)
    assert keys.list(bob) == []
    assert keys.get(bob, info.id) is None
    with pytest.raises(NotFoundError):
        keys.reveal(bob, info.id)
    assert not keys.delete(bob, info.id)
    assert keys.reveal(ann, info.id) == OPENAI


def test_a_ciphertext_copied_to_another_key_does_not_decrypt(
    store: Adapter, keys: ApiKeyService
) -> None:
    ann, bob = new_user(store), new_user(store, "bob@example.com")
    anns = keys.add(ann, label="a", provider="openai", key=OPENAI)
    bobs = keys.add(bob, label="b", provider="openai", key=ANTHROPIC)
    source, target = store.get_credential(anns.id), store.get_credential(bobs.id)
    assert source is not None
    assert target is not None
    store.update_credential(
        bobs.id, {**target.data, "key": source.data["key"]}, expected_version=target.version
    )
    with pytest.raises(DecryptionError) as info:
        keys.reveal(bob, bobs.id)
    assert info.value.reason == "wrong_context"


def test_short_keys_show_no_characters(store: Adapter, keys: ApiKeyService) -> None:
    user_id = new_user(store)
    info = keys.add(user_id, label="pin", provider="x", key="abc123")
    assert info.last4 == ""
    assert "abc" not in info.masked
    assert keys.reveal(user_id, info.id) == "abc123"


@pytest.mark.parametrize(
    "fields",
    [
        {"label": "", "provider": "openai", "key": OPENAI},
        {"label": "x" * 201, "provider": "openai", "key": OPENAI},
        {"label": "work", "provider": " ", "key": OPENAI},
        {"label": "work", "provider": "openai", "key": ""},
        {"label": "work", "provider": "openai", "key": "a\x00b"},
        {"label": "work", "provider": "openai", "key": "k" * 10000},
        {"label": "work", "provider": "openai", "key": OPENAI + "\ud800"},  # lone surrogate
    ],
)
def test_bad_input_is_a_validation_error(
    store: Adapter, keys: ApiKeyService, fields: dict[str, str]
) -> None:
    user_id = new_user(store)
    with pytest.raises(ValidationError) as info:
        keys.add(user_id, **fields)
    assert OPENAI not in str(info.value)
    # Nothing chained to the error (a UnicodeEncodeError would hold the whole key).
    assert info.value.__cause__ is None
    assert info.value.__context__ is None
    assert keys.list(user_id) == []


def test_unknown_user_is_not_found(store: Adapter, keys: ApiKeyService) -> None:
    with pytest.raises(NotFoundError):
        keys.add("nobody", label="work", provider="openai", key=OPENAI)
