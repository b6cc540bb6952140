"""Keyring, field cipher envelopes and re-encryption (rotation) on every backend."""

from __future__ import annotations

import base64
import pickle
from collections.abc import Iterator
from pathlib import Path

import pytest

import auth_store
from auth_store import ConfigurationError, DecryptionError, User
from auth_store.adapter import Adapter
from auth_store.api_keys import ApiKeyService
from auth_store.backup_codes import BackupCodeService
from auth_store.crypto import (
    ENCRYPTED_ACCOUNT_FIELDS,
    ENVELOPE_PREFIX,
    FieldCipher,
    Keyring,
    is_envelope,
    reencrypt,
)
from auth_store.flow import AuthFlow, SignedIn
from auth_store.mail import MemoryMailer
from auth_store.models import Account
from auth_store.oauth import OAuthProvider, OAuthService, Profile
from auth_store.signing import Signer
from auth_store.testing import stores
from auth_store.totp import TOTPService, totp_code

HERE = {"collection": "credentials", "record_id": "rec-1", "field": "secret"}
KEY_A = "key-a:" + base64.urlsafe_b64encode(bytes(range(32))).decode()
KEY_B = "key-b:" + base64.b64encode(bytes(range(100, 132))).decode()  # standard alphabet


def _raw(envelope: str) -> bytearray:
    text = envelope[len(ENVELOPE_PREFIX) :]
    return bytearray(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))


def _text(raw: bytes | bytearray) -> str:
    return ENVELOPE_PREFIX + base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()


@pytest.fixture
def cipher() -> FieldCipher:
    return FieldCipher(Keyring.parse(KEY_A))


@pytest.fixture(params=stores.backend_params())
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Adapter]:
    with stores.fresh_store(request.param, tmp_path) as (adapter, _url):
        yield adapter


# -- keys ---------------------------------------------------------------------------


def test_generated_key_entry_parses_into_a_32_byte_key() -> None:
    entry = Keyring.generate_key()
    key_id, _, material = entry.partition(":")
    assert len(base64.urlsafe_b64decode(material + "=" * (-len(material) % 4))) == 32
    ring = Keyring.parse(entry)
    assert ring.key_ids == (key_id,)
    assert ring.primary_id == key_id
    assert Keyring.generate_key() != entry
    assert Keyring.generate_key("mine").startswith("mine:")


def test_parse_reads_comments_commas_and_newlines_newest_is_primary() -> None:
    ring = Keyring.parse(f"# old key first\n{KEY_A},  # retired soon\n\n{KEY_B}\n")
    assert ring.key_ids == ("key-a", "key-b")
    assert ring.primary_id == "key-b"
    assert Keyring.parse(f"{KEY_A} {KEY_B}", primary="key-a").primary_id == "key-a"
    assert "key-a" in ring
    assert len(ring) == 2


@pytest.mark.parametrize(
    "text",
    [
        "",
        "# only a comment",
        "no-colon-here",
        "bad id!:" + KEY_A.partition(":")[2],
        "short:" + base64.b64encode(b"x" * 16).decode(),
        "notb64:%%%%",
        f"{KEY_A},{KEY_A}",
    ],
)
def test_bad_key_text_is_a_configuration_error_without_key_material(text: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        Keyring.parse(text)
    assert KEY_A.partition(":")[2] not in str(info.value)


def test_unknown_primary_is_refused() -> None:
    with pytest.raises(ConfigurationError):
        Keyring.parse(KEY_A, primary="nope")


def test_from_env_reads_the_variable_then_the_key_file(tmp_path: Path) -> None:
    assert Keyring.from_env({"AUTH_STORE_KEYS": f"{KEY_A},{KEY_B}"}).primary_id == "key-b"
    key_file = tmp_path / "keys.txt"
    key_file.write_text(f"# auth-store keys\n{KEY_B}\n{KEY_A}\n")
    assert Keyring.from_env({"AUTH_STORE_KEY_FILE": str(key_file)}).primary_id == "key-a"
    assert Keyring.from_file(key_file).key_ids == ("key-b", "key-a")
    with pytest.raises(ConfigurationError, match="AUTH_STORE_KEYS"):
        Keyring.from_env({})
    with pytest.raises(ConfigurationError, match="cannot read key file"):
        Keyring.from_file(tmp_path / "missing.txt")


def test_repr_shows_key_ids_never_key_material() -> None:
    ring = Keyring.parse(f"{KEY_A},{KEY_B}")
    for text in (repr(ring), repr(FieldCipher(ring))):
        assert "key-a" in text
        assert KEY_A.partition(":")[2] not in text
        assert KEY_B.partition(":")[2] not in text


def test_derived_keys_depend_on_key_and_purpose() -> None:
    ring = Keyring.parse(f"{KEY_A},{KEY_B}")
    assert ring.derive_key("x") == ring.derive_key("x", "key-b")
    assert ring.derive_key("x", "key-a") != ring.derive_key("x", "key-b")
    assert ring.derive_key("x") != ring.derive_key("y")
    assert len(ring.derive_key("x")) == 32
    with pytest.raises(DecryptionError) as info:
        ring.derive_key("x", "gone")
    assert info.value.reason == "unknown_key"


# -- envelopes ----------------------------------------------------------------------


def test_round_trip_of_text_and_bytes(cipher: FieldCipher) -> None:
    envelope = cipher.encrypt("sk-secret ✓", **HERE)
    assert is_envelope(envelope)
    assert envelope.startswith("as1.")
    assert "sk-secret" not in envelope
    assert cipher.decrypt_str(envelope, **HERE) == "sk-secret ✓"
    assert cipher.decrypt(cipher.encrypt(b"\x00\xff", **HERE), **HERE) == b"\x00\xff"
    assert cipher.encrypt("same", **HERE) != cipher.encrypt("same", **HERE)  # fresh nonces


def test_envelope_layout_is_as_documented(cipher: FieldCipher) -> None:
    plaintext = b"twelve bytes"
    raw = _raw(cipher.encrypt(plaintext, **HERE))
    assert raw[0] == 1  # format version
    assert raw[1] == len(b"key-a")
    assert raw[2:7] == b"key-a"
    # 8 binding bytes, 12 nonce bytes, ciphertext of the same length, 16 tag bytes
    assert len(raw) == 2 + 5 + 8 + 12 + len(plaintext) + 16
    assert FieldCipher.key_id_of(_text(raw)) == "key-a"


def test_flipping_any_single_byte_fails(cipher: FieldCipher) -> None:
    envelope = cipher.encrypt("a TOTP secret", **HERE)
    raw = _raw(envelope)
    for position in range(len(raw)):
        for mask in (0x01, 0x80):
            changed = bytearray(raw)
            changed[position] ^= mask
            with pytest.raises(DecryptionError) as info:
                cipher.decrypt(_text(changed), **HERE)
            if position >= 2 + 5 + 8:  # nonce, ciphertext, tag
                assert info.value.reason == "tampered"
            elif position >= 2 + 5:  # the binding
                assert info.value.reason == "wrong_context"
            assert "a TOTP secret" not in str(info.value)


def test_changing_any_single_character_of_the_text_fails(cipher: FieldCipher) -> None:
    envelope = cipher.encrypt("a TOTP secret", **HERE)
    for position in range(len(envelope)):
        other = "B" if envelope[position] != "B" else "C"
        with pytest.raises(DecryptionError):
            cipher.decrypt(envelope[:position] + other + envelope[position + 1 :], **HERE)
    with pytest.raises(DecryptionError):
        cipher.decrypt(envelope[:-1], **HERE)
    with pytest.raises(DecryptionError):
        cipher.decrypt(envelope + "A", **HERE)


def test_a_value_moved_to_another_user_or_field_fails(cipher: FieldCipher) -> None:
    envelope = cipher.encrypt("sk-123", collection="credentials", record_id="u1", field="key")
    for place in (
        {"collection": "credentials", "record_id": "u2", "field": "key"},
        {"collection": "credentials", "record_id": "u1", "field": "secret"},
        {"collection": "accounts", "record_id": "u1", "field": "key"},
        # the length prefixes keep ("u1k", "ey") from meaning ("u1", "key")
        {"collection": "credentials", "record_id": "u1k", "field": "ey"},
    ):
        with pytest.raises(DecryptionError) as info:
            cipher.decrypt(envelope, **place)
        assert info.value.reason == "wrong_context"
        assert "moved" in str(info.value)
    assert cipher.decrypt_str(envelope, collection="credentials", record_id="u1", field="key") == (
        "sk-123"
    )


def test_unknown_key_id_is_named_in_the_error() -> None:
    envelope = FieldCipher(Keyring.parse(KEY_A)).encrypt("x", **HERE)
    with pytest.raises(DecryptionError) as info:
        FieldCipher(Keyring.parse(KEY_B)).decrypt(envelope, **HERE)
    assert info.value.reason == "unknown_key"
    assert "key-a" in str(info.value)
    assert KEY_A.partition(":")[2] not in str(info.value)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("plain text", "malformed"),
        ("as1.", "malformed"),
        ("as1.!!!!", "malformed"),
        ("as9.AAAA", "unsupported_version"),
        (_text(b"\x02\x05key-a" + bytes(40)), "unsupported_version"),
        (_text(b"\x01\x05key-a" + bytes(10)), "malformed"),
        (_text(b"\x01\x05key\xffa" + bytes(40)), "malformed"),
    ],
)
def test_malformed_values_say_so(cipher: FieldCipher, value: str, reason: str) -> None:
    with pytest.raises(DecryptionError) as info:
        cipher.decrypt(value, **HERE)
    assert info.value.reason == reason


def test_non_text_is_malformed_and_decryption_errors_pickle(cipher: FieldCipher) -> None:
    with pytest.raises(DecryptionError) as info:
        cipher.decrypt(b"as1.AAAA", **HERE)  # type: ignore[arg-type]
    assert info.value.reason == "malformed"
    copy = pickle.loads(pickle.dumps(info.value))
    assert copy.reason == "malformed"
    assert type(copy) is DecryptionError
    assert DecryptionError.__module__ == "auth_store"


def test_text_that_is_not_unicode_is_refused_without_the_plaintext(cipher: FieldCipher) -> None:
    with pytest.raises(auth_store.ValidationError) as info:
        cipher.encrypt("totp-secret-\ud800-rest", **HERE)
    assert "totp-secret" not in str(info.value)
    # Not chained either: the UnicodeEncodeError behind it holds the whole plaintext.
    assert info.value.__context__ is None
    assert info.value.__cause__ is None


def test_decrypt_str_refuses_binary(cipher: FieldCipher) -> None:
    with pytest.raises(DecryptionError):
        cipher.decrypt_str(cipher.encrypt(b"\xff\xfe", **HERE), **HERE)


# -- rotation on a store ------------------------------------------------------------


def _fill(store: Adapter, keyring: Keyring) -> dict[str, str]:
    """Users with TOTP, API keys and backup codes under ``keyring``; returns what to check."""
    cipher = FieldCipher(keyring)
    made: dict[str, str] = {}
    for n in range(3):
        user = store.create_user(User(email=f"user{n}@example.com"))
        assert user.id is not None
        totp = TOTPService(store, cipher)
        made[f"totp:{user.id}"] = totp.enroll(user.id, issuer="t", account_name="a").secret
        info = ApiKeyService(store, cipher).add(
            user.id, label="llm", provider="openai", key=f"sk-key-{n}-abcdefgh"
        )
        made[f"api:{user.id}:{info.id}"] = f"sk-key-{n}-abcdefgh"
        BackupCodeService(store, keyring).generate(user.id, count=2)
    return made


def _envelope_key_ids(store: Adapter) -> list[str]:
    return [
        FieldCipher.key_id_of(value)
        for record in store.export()
        if isinstance(record, auth_store.Credential)
        for value in record.data.values()
        if is_envelope(value)
    ]


def _check_readable(store: Adapter, keyring: Keyring, made: dict[str, str]) -> None:
    cipher = FieldCipher(keyring)
    for name, plaintext in made.items():
        kind, user_id, *rest = name.split(":")
        if kind == "api":
            assert ApiKeyService(store, cipher).reveal(user_id, rest[0]) == plaintext
        else:
            credential = store.list_credentials(user_id, "totp")[0]
            assert credential.id is not None
            secret = cipher.decrypt_str(
                credential.data["secret"],
                collection="credentials",
                record_id=credential.id,
                field="secret",
            )
            assert secret == plaintext


def test_old_key_store_reads_while_the_old_key_is_in_the_keyring(store: Adapter) -> None:
    made = _fill(store, Keyring.parse(KEY_A))
    _check_readable(store, Keyring.parse(f"{KEY_A},{KEY_B}"), made)
    with pytest.raises(DecryptionError) as info:
        _check_readable(store, Keyring.parse(KEY_B), made)
    assert info.value.reason == "unknown_key"


def test_rotation_moves_every_value_to_the_new_key(store: Adapter) -> None:
    made = _fill(store, Keyring.parse(KEY_A))
    assert set(_envelope_key_ids(store)) == {"key-a"}
    rotated = Keyring.parse(f"{KEY_A},{KEY_B}")
    seen: list[int] = []
    counts = reencrypt(store, rotated, progress=seen.append)
    # 3 users: a TOTP secret and an API key each; backup codes are keyed hashes.
    assert counts == {
        "credentials": 9,
        "accounts": 0,
        "values": 6,
        "reencrypted": 6,
        "current": 0,
        "failed": 0,
        "pinned": 3,
    }
    assert sum(seen) == 9
    assert set(_envelope_key_ids(store)) == {"key-b"}
    _check_readable(store, Keyring.parse(KEY_B), made)  # the old key can go
    again = reencrypt(store, rotated)
    assert again["reencrypted"] == 0
    assert again["current"] == 6


def test_rotated_totp_still_verifies_with_only_the_new_key(store: Adapter) -> None:
    user = store.create_user(User(email="t@example.com"))
    assert user.id is not None
    secret = TOTPService(store, FieldCipher(Keyring.parse(KEY_A))).enroll(
        user.id, issuer="t", account_name="a"
    )
    reencrypt(store, Keyring.parse(f"{KEY_A},{KEY_B}"))
    totp = TOTPService(store, FieldCipher(Keyring.parse(KEY_B)))
    assert totp.confirm(user.id, totp_code(secret.secret, auth_store.clock.now()))


def test_an_interrupted_rotation_resumes_where_it_stopped(store: Adapter) -> None:
    made = _fill(store, Keyring.parse(KEY_A))
    rotated = Keyring.parse(f"{KEY_A},{KEY_B}")
    done: list[int] = []

    def stop_after_four(n: int) -> None:
        done.append(n)
        if len(done) == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        reencrypt(store, rotated, progress=stop_after_four)
    ids = _envelope_key_ids(store)
    assert "key-a" in ids
    assert "key-b" in ids
    counts = reencrypt(store, rotated)
    assert counts["reencrypted"] + counts["current"] == 6
    assert counts["current"] >= 1
    assert set(_envelope_key_ids(store)) == {"key-b"}
    _check_readable(store, Keyring.parse(KEY_B), made)


def test_values_under_a_missing_key_are_counted_and_left_alone(store: Adapter) -> None:
    _fill(store, Keyring.parse(KEY_A))
    before = _envelope_key_ids(store)
    counts = reencrypt(store, Keyring.parse(KEY_B))
    assert counts["failed"] == 6
    assert counts["reencrypted"] == 0
    assert _envelope_key_ids(store) == before


def test_only_encrypted_fields_are_touched_and_other_types_are_scanned(store: Adapter) -> None:
    user = store.create_user(User(email="x@example.com"))
    assert user.id is not None
    old = Keyring.parse(KEY_A)
    cipher = FieldCipher(old)
    lookalike = cipher.encrypt("not this one", collection="elsewhere", record_id="r", field="f")
    info = ApiKeyService(store, cipher).add(
        user.id, label=lookalike, provider="openai", key="sk-real-key-0123456789"
    )
    foreign = store.create_credential(
        auth_store.Credential(id="webhook-1", user_id=user.id, type="webhook", data={})
    )
    assert foreign.id is not None
    token = cipher.encrypt("whsec-123", collection="credentials", record_id="webhook-1", field="t")
    store.update_credential(foreign.id, {"t": token, "note": "plain"}, expected_version=1)

    counts = reencrypt(store, Keyring.parse(f"{KEY_A},{KEY_B}"))
    assert counts["values"] == 2  # the API key and the foreign token, not the label
    assert counts["reencrypted"] == 2
    assert counts["failed"] == 0
    after = ApiKeyService(store, FieldCipher(Keyring.parse(KEY_B)))
    assert after.reveal(user.id, info.id) == "sk-real-key-0123456789"
    assert after.list(user.id)[0].label == lookalike
    moved = store.get_credential("webhook-1")
    assert moved is not None
    assert FieldCipher.key_id_of(moved.data["t"]) == "key-b"
    assert moved.data["note"] == "plain"


# -- the whole rotation: nothing may need the old key afterwards ----------------------------


def _oauth(store: Adapter, keyring: Keyring) -> OAuthService:
    flow = AuthFlow(
        store,
        signer=Signer([Signer.generate()]),
        keyring=keyring,
        mailer=MemoryMailer(),
        base_url="https://app.example",
    )
    return OAuthService(flow, [OAuthProvider.github("client-id", "client-secret")])


def _every_key_id(store: Adapter) -> set[str]:
    """The key of every envelope the store holds, in credentials and in accounts."""
    found: set[str] = set()
    for record in store.export():
        if isinstance(record, auth_store.Credential):
            values = list(record.data.values())
        elif isinstance(record, Account):
            values = [getattr(record, name) for name in ENCRYPTED_ACCOUNT_FIELDS]
        else:
            continue
        found.update(FieldCipher.key_id_of(v) for v in values if is_envelope(v))
    return found


def test_after_rotation_and_a_clean_run_the_old_key_can_be_dropped(store: Adapter) -> None:
    old = Keyring.parse(KEY_A)
    cipher = FieldCipher(old)
    # Everything auth-store encrypts, written under the old key.
    tokens = {
        "access_token": "gho_16C7e42F292c6912E7710c838347Ae178B4a",
        "refresh_token": "ghr_1B4a2e77838347a7E420ce178F2E7c6912E169246c",
        "id_token": "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiI1ODMyMzEifQ.c2ln",
        "expires_at": 1_900_000_000,
        "scope": "read:user",
    }
    github = OAuthProvider.github("client-id", "client-secret")
    signed_in = _oauth(store, old).sign_in_with_profile(
        github, Profile(id="583231", email="ada@example.com", name="Ada"), tokens
    )
    assert isinstance(signed_in, SignedIn)
    ada = signed_in.user
    ada_id = str(ada.id)
    account = store.get_account("github", "583231")
    assert account is not None
    assert {FieldCipher.key_id_of(str(account.access_token))} == {"key-a"}
    totp = TOTPService(store, cipher).enroll(ada_id, issuer="t", account_name="ada")
    api_key = ApiKeyService(store, cipher).add(
        ada_id, label="llm", provider="openai", key="sk-proj-0123456789abcdef"
    )
    codes = BackupCodeService(store, old).generate(ada_id, count=3)
    assert _every_key_id(store) == {"key-a"}

    # Rotate: the new key becomes the primary; a run moves everything it can.
    rotated = Keyring.parse(f"{KEY_A},{KEY_B}")
    first = reencrypt(store, rotated)
    assert first["accounts"] == 1
    assert first["reencrypted"] == 5  # 3 OAuth tokens, the TOTP secret, the API key
    assert first["failed"] == 0
    assert first["pinned"] == 1  # the backup codes: keyed hashes, regenerated by their owner
    codes = BackupCodeService(store, rotated).generate(ada_id, count=3)
    clean = reencrypt(store, rotated)
    assert (clean["reencrypted"], clean["failed"], clean["pinned"]) == (0, 0, 0)
    assert clean["current"] == 5
    assert _every_key_id(store) == {"key-b"}

    # Drop the old key: everything still reads and works with the new one alone.
    new = Keyring.parse(KEY_B)
    oauth = _oauth(store, new)
    moved = store.get_account("github", "583231")
    assert moved is not None
    assert moved.id == account.id
    read = oauth.tokens(moved)
    assert (read.access_token, read.refresh_token, read.id_token) == (
        tokens["access_token"],
        tokens["refresh_token"],
        tokens["id_token"],
    )
    assert read.expires_at == tokens["expires_at"]
    new_cipher = FieldCipher(new)
    assert ApiKeyService(store, new_cipher).reveal(ada_id, api_key.id) == "sk-proj-0123456789abcdef"
    assert TOTPService(store, new_cipher).confirm(
        ada_id, totp_code(totp.secret, auth_store.clock.now())
    )
    assert BackupCodeService(store, new).consume(ada_id, codes[0])
    # A second sign-in replaces the tokens in place, under the new key.
    fresh = {**tokens, "access_token": "gho_rotated-after-the-move"}
    oauth.sign_in_with_profile(github, Profile(id="583231", email="ada@example.com"), fresh)
    replaced = store.get_account("github", "583231")
    assert replaced is not None
    assert replaced.id == account.id
    assert oauth.tokens(replaced).access_token == "gho_rotated-after-the-move"
    assert _every_key_id(store) == {"key-b"}


def test_account_tokens_under_a_missing_key_are_counted_and_left_alone(store: Adapter) -> None:
    _oauth(store, Keyring.parse(KEY_A)).sign_in_with_profile(
        OAuthProvider.github("client-id", "client-secret"),
        Profile(id="42", email="bob@example.com"),
        {"access_token": "gho_a", "refresh_token": "ghr_b"},
    )
    before = store.get_account("github", "42")
    counts = reencrypt(store, Keyring.parse(KEY_B))
    assert (counts["accounts"], counts["values"], counts["failed"]) == (1, 2, 2)
    assert store.get_account("github", "42") == before


def test_plain_account_tokens_are_not_touched(store: Adapter) -> None:
    # Stored by a flow without a keyring, or by an Auth.js app: nothing to move.
    user = store.create_user(User(email="carol@example.com"))
    uid = str(user.id)
    plain = store.link_account(
        Account(
            user_id=uid,
            type="oauth",
            provider="github",
            provider_account_id="7",
            access_token="gho_plain",
            refresh_token=None,
        )
    )
    counts = reencrypt(store, Keyring.parse(f"{KEY_A},{KEY_B}"))
    assert (counts["accounts"], counts["values"], counts["reencrypted"]) == (1, 0, 0)
    assert store.get_account("github", "7") == plain


def test_the_oauth_service_encrypts_exactly_the_fields_reencrypt_moves() -> None:
    from auth_store import oauth

    assert oauth._ENCRYPTED_FIELDS == ENCRYPTED_ACCOUNT_FIELDS
