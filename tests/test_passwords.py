"""Passwords: argon2id defaults, policy, bcrypt imports and upgrades, equal-time misses."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import argon2
import bcrypt
import pytest

from auth_store import NotFoundError, TooManyAttemptsError, User, ValidationError
from auth_store.adapter import Adapter
from auth_store.attempts import AttemptLimiter
from auth_store.passwords import (
    PasswordPolicy,
    PasswordPolicyError,
    PasswordService,
    make_context,
)
from auth_store.testing import stores
from tests.hash_work import HashWork, hash_work

__all__ = ["hash_work"]  # a fixture, used below

# bcrypt hashes written by other implementations, with their passwords.
BCRYPT_VECTORS = [
    # jBCrypt / OpenBSD test vectors ($2a$, as Node's bcryptjs and older PHP write them)
    ("", "$2a$06$DCq7YPn5Rq63x1Lad4cll.TV4S6ytwfsfvkgY8jIucDrjc8deX1s."),
    ("a", "$2a$06$m0CrhHm10qJ3lXRY.5zDGO3rS2KdeeWLuGmsfGlMfOxih58VYVfxe"),
    ("abc", "$2a$06$If6bvum7DFjUnE9p2uDeDu0YHzrHM6tf.iqN8.yx.jNN1ILEf7h0i"),
    ("abcdefghijklmnopqrstuvwxyz", "$2a$06$.rCVZVOThsIa97pEDOxvGuRRgzG64bvtJ0938xuqzv18d3ZpQhstC"),
    (
        "~!@#$%^&*()      ~!@#$%^&*()PNBFRD",
        "$2a$06$fPIsBO8qRqkjj273rfaOI.HtSV9jLDpTbZn782DC6/t7qT67P6FfO",
    ),
    # PHP's password_hash() manual example ($2y$)
    ("rasmuslerdorf", "$2y$10$.vGA1O9wmRjrwAVXD98HNOgsNpDczlqm3Jq7KnEd1rVAGv3Fykk1a"),
    # OpenBSD-style $2b$ (Node's bcrypt >= 2, Python's bcrypt)
    ("Kk4DQuMMfZL9o", "$2b$04$cVWp4XaNU8a4v1uMRum2SO026BWLIoQMD/TXg5uZV.0P.uO8m3YEm"),
    ("9IeRXmnGxMYbs", "$2b$04$pQ7gRO7e6wx/936oXhNjrOUNOHL1D0h1N2IDbJZYs.1ppzSof6SPy"),
]


@pytest.fixture(params=stores.backend_params())
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Adapter]:
    with stores.fresh_store(request.param, tmp_path) as (adapter, _url):
        yield adapter


@pytest.fixture
def memory_store(tmp_path: Path) -> Iterator[Adapter]:
    with stores.fresh_store("memory://", tmp_path) as (adapter, _url):
        yield adapter


def cheap(
    adapter: Adapter,
    *,
    limiter: AttemptLimiter | None = None,
    breached_check: Callable[[str], bool] | None = None,
) -> PasswordService:
    """A service with test-only cheap argon2 parameters."""
    return PasswordService(
        adapter,
        context=make_context(memory_cost=256, time_cost=1),
        limiter=limiter,
        breached_check=breached_check,
    )


def new_user(store: Adapter, email: str = "ann@example.com") -> str:
    user = store.create_user(User(email=email))
    assert user.id is not None
    return user.id


def stored_hash(store: Adapter, user_id: str) -> str:
    (credential,) = store.list_credentials(user_id, "password")
    assert set(credential.data) == {"hash"}
    value = credential.data["hash"]
    assert isinstance(value, str)
    return value


# -- defaults -----------------------------------------------------------------------


def test_default_hash_is_argon2id_at_or_above_owasp_minimum(memory_store: Adapter) -> None:
    user_id = new_user(memory_store)
    service = PasswordService(memory_store)
    service.set_password(user_id, "correct horse battery")
    value = stored_hash(memory_store, user_id)
    assert value.startswith("$argon2id$v=19$")
    params = argon2.extract_parameters(value)
    assert params.type is argon2.Type.ID
    assert params.memory_cost >= 19 * 1024
    assert params.time_cost >= 2
    assert params.parallelism == 1
    assert service.verify_password(user_id, "correct horse battery")
    assert not service.needs_rehash(user_id)


def test_default_policy_is_min_8_and_a_generous_max() -> None:
    policy = PasswordPolicy()
    assert policy.min_length == 8
    assert policy.max_length >= 1024


# -- set, verify, change ------------------------------------------------------------


def test_set_verify_and_only_a_hash_is_stored(store: Adapter) -> None:
    user_id = new_user(store)
    service = cheap(store)
    assert not service.has_password(user_id)
    service.set_password(user_id, "pässwörd-1")
    assert service.has_password(user_id)
    assert "pässwörd-1" not in stored_hash(store, user_id)
    assert service.verify_password(user_id, "pässwörd-1")
    assert not service.verify_password(user_id, "pässwörd-2")
    assert not service.verify_password(user_id, "")
    assert service.remove_password(user_id)
    assert not service.remove_password(user_id)
    assert not service.verify_password(user_id, "pässwörd-1")


def test_setting_again_replaces_the_one_password(store: Adapter) -> None:
    user_id = new_user(store)
    service = cheap(store)
    service.set_password(user_id, "first-password")
    service.set_password(user_id, "second-password")
    assert len(store.list_credentials(user_id, "password")) == 1
    assert not service.verify_password(user_id, "first-password")
    assert service.verify_password(user_id, "second-password")


def test_change_password_needs_the_old_one(store: Adapter) -> None:
    user_id = new_user(store)
    service = cheap(store)
    service.set_password(user_id, "old-password")
    assert not service.change_password(user_id, "wrong-password", "new-password")
    assert service.verify_password(user_id, "old-password")
    with pytest.raises(PasswordPolicyError):
        service.change_password(user_id, "old-password", "short")
    assert service.change_password(user_id, "old-password", "new-password")
    assert service.verify_password(user_id, "new-password")
    assert not service.verify_password(user_id, "old-password")


def test_set_password_for_an_unknown_user_is_not_found(store: Adapter) -> None:
    with pytest.raises(NotFoundError):
        cheap(store).set_password("no-such-user", "long enough")


def test_email_lookup_verifies_and_misses_return_none(store: Adapter) -> None:
    user_id = new_user(store, "Bob@Example.com")
    service = cheap(store)
    service.set_password(user_id, "bobs password")
    found = service.verify_password_for_email("bob@example.com", "bobs password")
    assert found is not None
    assert found.id == user_id
    assert service.verify_password_for_email("bob@example.com", "wrong password") is None
    assert service.verify_password_for_email("nobody@example.com", "bobs password") is None
    assert service.verify_password_for_email("not an email", "bobs password") is None


# -- policy -------------------------------------------------------------------------


def test_policy_limits_and_errors_never_contain_the_password(memory_store: Adapter) -> None:
    user_id = new_user(memory_store)
    service = cheap(memory_store)
    for password, reason in (("sevenXX", "too_short"), ("y" * 1025, "too_long")):
        with pytest.raises(PasswordPolicyError) as info:
            service.set_password(user_id, password)
        assert info.value.reason == reason
        assert password not in str(info.value)
        assert isinstance(info.value, ValidationError)
    service.set_password(user_id, "8 chars!")
    service.set_password(user_id, "z" * 1024)
    assert service.verify_password(user_id, "z" * 1024)
    with pytest.raises(ValidationError):
        service.set_password(user_id, b"bytes password")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        PasswordPolicy(min_length=10, max_length=5)


def test_breached_password_hook(memory_store: Adapter) -> None:
    user_id = new_user(memory_store)
    seen: list[str] = []

    def breached(password: str) -> bool:
        seen.append(password)
        return password == "password123"

    service = cheap(memory_store, breached_check=breached)
    with pytest.raises(PasswordPolicyError) as info:
        service.set_password(user_id, "password123")
    assert info.value.reason == "breached"
    assert "password123" not in str(info.value)
    assert not service.has_password(user_id)
    service.set_password(user_id, "a fine passphrase")
    assert seen == ["password123", "a fine passphrase"]


# -- imports and upgrades -----------------------------------------------------------


@pytest.mark.parametrize(("password", "hashed"), BCRYPT_VECTORS)
def test_bcrypt_hashes_from_other_systems_verify_and_upgrade(
    memory_store: Adapter, password: str, hashed: str
) -> None:
    user_id = new_user(memory_store)
    service = cheap(memory_store)
    service.import_hash(user_id, hashed)
    assert service.needs_rehash(user_id)
    assert not service.verify_password(user_id, password + "x")
    assert stored_hash(memory_store, user_id) == hashed  # a failure changes nothing
    assert service.verify_password(user_id, password)
    upgraded = stored_hash(memory_store, user_id)
    assert upgraded.startswith("$argon2id$")
    assert not service.needs_rehash(user_id)
    assert service.verify_password(user_id, password)


def test_import_and_upgrade_on_every_backend(store: Adapter) -> None:
    user_id = new_user(store)
    service = cheap(store)
    service.import_hash(user_id, BCRYPT_VECTORS[5][1])
    assert service.verify_password(user_id, "rasmuslerdorf")
    assert stored_hash(store, user_id).startswith("$argon2id$")


def test_argon2_with_other_parameters_is_rehashed(memory_store: Adapter) -> None:
    user_id = new_user(memory_store)
    service = cheap(memory_store)
    foreign = argon2.PasswordHasher(time_cost=1, memory_cost=512, parallelism=2).hash("pw-12345")
    service.import_hash(user_id, foreign)
    assert service.verify_password(user_id, "pw-12345")
    params = argon2.extract_parameters(stored_hash(memory_store, user_id))
    assert (params.memory_cost, params.time_cost, params.parallelism) == (256, 1, 1)


def test_no_truncation_past_bcrypt_72_bytes(memory_store: Adapter) -> None:
    user_id = new_user(memory_store)
    service = cheap(memory_store)
    service.import_hash(user_id, bcrypt.hashpw(b"a" * 72, bcrypt.gensalt(4)).decode())
    # bcrypt itself would only look at the first 72 bytes and say yes.
    assert service.verify_password(user_id, "a" * 73) is False
    assert service.verify_password(user_id, "a" * 72 + "ü" * 40) is False
    assert stored_hash(memory_store, user_id).startswith("$2b$")
    assert service.verify_password(user_id, "a" * 72)


def test_long_passwords_work_with_argon2(memory_store: Adapter) -> None:
    user_id = new_user(memory_store)
    service = cheap(memory_store)
    service.set_password(user_id, "b" * 200)
    assert service.verify_password(user_id, "b" * 200)
    assert not service.verify_password(user_id, "b" * 199 + "c")
    assert not service.verify_password(user_id, "b" * 5000)  # over the policy: just False


@pytest.mark.parametrize(
    "hashed",
    [
        "plain text",
        "$2x$06$DCq7YPn5Rq63x1Lad4cll.TV4S6ytwfsfvkgY8jIucDrjc8deX1s.",
        "$2b$06$tooshort",
        "$argon2id$v=19$m=1,t=1,p=1$broken",
        "$1$md5crypt$xxxxxxxxxxxxxxxxxxxxxx",
    ],
)
def test_import_refuses_unknown_or_malformed_hashes(memory_store: Adapter, hashed: str) -> None:
    user_id = new_user(memory_store)
    with pytest.raises(ValidationError):
        cheap(memory_store).import_hash(user_id, hashed)
    assert not cheap(memory_store).has_password(user_id)


def test_an_unreadable_stored_hash_is_false_not_an_error(memory_store: Adapter) -> None:
    user_id = new_user(memory_store)
    service = cheap(memory_store)
    service.set_password(user_id, "good password")
    (credential,) = memory_store.list_credentials(user_id, "password")
    assert credential.id is not None
    memory_store.update_credential(credential.id, {"hash": "garbage"}, expected_version=1)
    assert service.verify_password(user_id, "good password") is False


# -- timing -------------------------------------------------------------------------


def test_unknown_user_costs_the_same_as_a_wrong_password(
    memory_store: Adapter, hash_work: HashWork
) -> None:
    user_id = new_user(memory_store, "known@example.com")
    service = PasswordService(memory_store, context=make_context(memory_cost=4096, time_cost=1))
    service.set_password(user_id, "the right password")
    no_password = new_user(memory_store, "oauth-only@example.com")
    service.dummy_verify()  # libpass makes its dummy hash on first use
    hash_work.take()
    # The same argon2 work (one verification at the context's parameters) for
    # a wrong password, an unknown address and a user without a password. The
    # time this takes is measured in benchmarks/, not asserted here.
    one_verification = [("verify", "m=4096,t=1,p=1")]
    assert service.verify_password_for_email("known@example.com", "a wrong password") is None
    assert hash_work.take() == one_verification
    assert service.verify_password_for_email("unknown@example.com", "a wrong password") is None
    assert hash_work.take() == one_verification
    assert not service.verify_password("no-such-user", "a wrong password")
    assert hash_work.take() == one_verification
    assert not service.verify_password(no_password, "a wrong password")
    assert hash_work.take() == one_verification


# -- limits and reprs ---------------------------------------------------------------


def test_attempt_limiter_is_wired_into_verify(store: Adapter) -> None:
    user_id = new_user(store)
    limiter = AttemptLimiter(store, free_failures=2, base_delay=60, lockout_after=2)
    service = cheap(store, limiter=limiter)
    service.set_password(user_id, "right password")
    assert service.verify_password(user_id, "right password")
    assert limiter.status(user_id, "password").failures == 0
    assert not service.verify_password(user_id, "wrong 1")
    assert not service.verify_password(user_id, "wrong 2")
    with pytest.raises(TooManyAttemptsError) as info:
        service.verify_password(user_id, "right password")
    assert info.value.retry_after is not None
    assert info.value.retry_after > 0
    limiter.reset(user_id)
    assert service.verify_password(user_id, "right password")


def test_service_repr_and_errors_hold_no_secret(memory_store: Adapter) -> None:
    user_id = new_user(memory_store)
    service = cheap(memory_store)
    service.set_password(user_id, "hunter2-hunter2")
    assert "hunter2" not in repr(service)
    (credential,) = memory_store.list_credentials(user_id, "password")
    assert "argon2" not in repr(credential)
    with pytest.raises(ValidationError) as info:
        service.verify_password("bad id!", "hunter2-hunter2")
    assert "hunter2" not in str(info.value)
