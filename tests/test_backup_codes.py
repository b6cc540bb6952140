"""Backup codes: format and entropy, keyed hashes only, single use, regeneration voids."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from auth_store import ConfigurationError, DecryptionError, TooManyAttemptsError, User
from auth_store.adapter import Adapter
from auth_store.attempts import AttemptLimiter
from auth_store.backup_codes import CODE_BITS, BackupCodeService, normalize_code
from auth_store.crypto import Keyring
from auth_store.testing import stores

KEY = bytes(range(32))
CODE_RE = re.compile(r"[0-9a-hjkmnp-tv-z]{4}-[0-9a-hjkmnp-tv-z]{4}-[0-9a-hjkmnp-tv-z]{4}")


@pytest.fixture(params=stores.backend_params())
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Adapter]:
    with stores.fresh_store(request.param, tmp_path) as (adapter, _url):
        yield adapter


def new_user(store: Adapter, email: str = "ann@example.com") -> str:
    user = store.create_user(User(email=email))
    assert user.id is not None
    return user.id


def test_a_set_is_ten_readable_codes_of_at_least_50_bits(store: Adapter) -> None:
    user_id = new_user(store)
    codes = BackupCodeService(store, KEY).generate(user_id)
    assert len(codes) == 10
    assert len(set(codes)) == 10
    assert all(CODE_RE.fullmatch(code) for code in codes)
    assert CODE_BITS >= 50
    assert len(BackupCodeService(store, KEY).generate(user_id, count=3)) == 3


def test_only_keyed_hashes_are_stored(store: Adapter) -> None:
    user_id = new_user(store)
    codes = BackupCodeService(store, KEY).generate(user_id)
    (credential,) = store.list_credentials(user_id, "backup_codes")
    assert set(credential.data) == {"hashes"}
    stored = str(credential.data)
    for code in codes:
        assert code not in stored
        assert code.replace("-", "") not in stored
    assert all(re.fullmatch(r"[0-9a-f]{64}", h) for h in credential.data["hashes"])


def test_a_code_is_used_once(store: Adapter) -> None:
    user_id = new_user(store)
    service = BackupCodeService(store, KEY)
    codes = service.generate(user_id)
    assert service.remaining(user_id) == 10
    assert service.consume(user_id, codes[3])
    assert not service.consume(user_id, codes[3])
    assert service.remaining(user_id) == 9
    for code in codes[:3] + codes[4:]:
        assert service.consume(user_id, code)
    assert service.remaining(user_id) == 0


def test_typed_input_is_read_leniently(store: Adapter) -> None:
    user_id = new_user(store)
    service = BackupCodeService(store, KEY)
    codes = service.generate(user_id, count=3)
    assert service.consume(user_id, codes[0].upper())
    assert service.consume(user_id, " " + codes[1].replace("-", " ") + "\n")
    assert service.consume(user_id, codes[2].replace("-", "").replace("0", "O").replace("1", "l"))
    assert normalize_code("ABCD-EFGH-JKMN") == "abcdefghjkmn"
    assert normalize_code("abcd-efgh-jkmu") is None  # u is not in the alphabet
    assert normalize_code("abcd-efgh") is None


@pytest.mark.parametrize("bad", ["", "not a code", "aaaa-aaaa-aaaa", "aaaa-aaaa-aaa", "ü" * 12])
def test_wrong_and_malformed_codes_are_false(store: Adapter, bad: str) -> None:
    user_id = new_user(store)
    service = BackupCodeService(store, KEY)
    service.generate(user_id)
    assert not service.consume(user_id, bad)
    assert service.remaining(user_id) == 10


def test_regenerating_voids_the_old_set(store: Adapter) -> None:
    user_id = new_user(store)
    service = BackupCodeService(store, KEY)
    old = service.generate(user_id)
    new = service.generate(user_id)
    assert not set(old) & set(new)
    assert not any(service.consume(user_id, code) for code in old)
    assert service.consume(user_id, new[0])
    assert len(store.list_credentials(user_id, "backup_codes")) == 1


def test_clear_and_users_without_codes(store: Adapter) -> None:
    user_id = new_user(store)
    service = BackupCodeService(store, KEY)
    assert service.remaining(user_id) == 0
    assert not service.consume(user_id, "abcd-efgh-jkmn")
    codes = service.generate(user_id)
    assert service.clear(user_id)
    assert not service.clear(user_id)
    assert not service.consume(user_id, codes[0])


def test_codes_belong_to_their_user_and_their_key(store: Adapter) -> None:
    ann, bob = new_user(store), new_user(store, "bob@example.com")
    service = BackupCodeService(store, KEY)
    anns = service.generate(ann)
    service.generate(bob)
    assert not service.consume(bob, anns[0])
    # The same hashes moved to Bob's credential do not accept Ann's codes.
    (ann_set,) = store.list_credentials(ann, "backup_codes")
    (bob_set,) = store.list_credentials(bob, "backup_codes")
    assert bob_set.id is not None
    store.update_credential(bob_set.id, ann_set.data, expected_version=bob_set.version)
    assert not service.consume(bob, anns[0])
    assert not BackupCodeService(store, bytes(32)).consume(ann, anns[0])
    assert service.consume(ann, anns[0])


def test_a_keyring_can_key_the_hashes_across_rotation(store: Adapter) -> None:
    user_id = new_user(store)
    old_entry, new_entry = Keyring.generate_key("older"), Keyring.generate_key("newer")
    codes = BackupCodeService(store, Keyring.parse(old_entry)).generate(user_id)
    (credential,) = store.list_credentials(user_id, "backup_codes")
    assert credential.data["key_id"] == "older"
    # After rotation the set still works while the old key stays in the keyring...
    rotated = Keyring.parse(f"{old_entry},{new_entry}")
    assert rotated.primary_id == "newer"
    assert BackupCodeService(store, rotated).consume(user_id, codes[0])
    # ...and says which key is missing once it is gone.
    with pytest.raises(DecryptionError) as info:
        BackupCodeService(store, Keyring.parse(new_entry)).consume(user_id, codes[1])
    assert info.value.reason == "unknown_key"
    with pytest.raises(ConfigurationError):
        BackupCodeService(store, KEY).consume(user_id, codes[1])
    assert BackupCodeService(store, rotated).consume(user_id, codes[1])


def test_bad_keys_are_refused_and_hidden_from_repr(store: Adapter) -> None:
    with pytest.raises(ConfigurationError):
        BackupCodeService(store, b"short")
    with pytest.raises(ConfigurationError):
        BackupCodeService(store, "a string key")  # type: ignore[arg-type]
    assert KEY.hex() not in repr(BackupCodeService(store, KEY))
    assert str(KEY) not in repr(BackupCodeService(store, KEY))


def test_attempt_limiter_is_wired_into_consume(store: Adapter) -> None:
    user_id = new_user(store)
    limiter = AttemptLimiter(store, free_failures=2, lockout_after=2, lockout_seconds=600)
    service = BackupCodeService(store, KEY, limiter=limiter)
    codes = service.generate(user_id)
    assert service.consume(user_id, codes[0])
    assert not service.consume(user_id, "aaaa-aaaa-aaaa")
    assert not service.consume(user_id, codes[0])  # used already: a failure too
    with pytest.raises(TooManyAttemptsError) as info:
        service.consume(user_id, codes[1])
    assert info.value.retry_after == 600
    assert service.remaining(user_id) == 9
