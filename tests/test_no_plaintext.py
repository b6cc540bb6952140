"""After every secret service has run, the raw storage holds none of the plaintexts.

The check reads behind the adapter's back: every file under the test's
directory (the SQLite database with its -wal/-shm files, every file of a file
store), the rows of a Postgres schema, the dicts of the memory store.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest

from auth_store import User, clock
from auth_store.adapter import Adapter
from auth_store.api_keys import ApiKeyService
from auth_store.attempts import AttemptLimiter
from auth_store.backup_codes import BackupCodeService
from auth_store.crypto import FieldCipher, Keyring, reencrypt
from auth_store.passwords import PasswordService, make_context
from auth_store.testing import stores
from auth_store.totp import TOTPService, totp_code

OLD_KEY = Keyring.generate_key("old")
NEW_KEY = Keyring.generate_key("new")
BACKUP_KEY = bytes(range(200, 232))


@pytest.fixture(params=stores.backend_params())
def opened(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Adapter, str]]:
    with stores.fresh_store(request.param, tmp_path) as pair:
        yield pair


def new_user(store: Adapter, email: str) -> str:
    user = store.create_user(User(email=email))
    assert user.id is not None
    return user.id


def exercise_everything(store: Adapter) -> list[str]:
    """Run every secret service; return every plaintext secret that went in or came out."""
    secrets: list[str] = []
    keyring = Keyring.parse(OLD_KEY)
    cipher = FieldCipher(keyring)
    limiter = AttemptLimiter(store)
    ann, bob = new_user(store, "ann@example.com"), new_user(store, "bob@example.com")

    passwords = PasswordService(
        store, context=make_context(memory_cost=256, time_cost=1), limiter=limiter
    )
    passwords.set_password(ann, "Correct-Horse-Battery-1")
    assert not passwords.verify_password(ann, "Wrong-Guess-Number-9")
    assert passwords.change_password(ann, "Correct-Horse-Battery-1", "Staple-Rhubarb-Kettle-2")
    passwords.import_hash(bob, "$2y$10$.vGA1O9wmRjrwAVXD98HNOgsNpDczlqm3Jq7KnEd1rVAGv3Fykk1a")
    assert passwords.verify_password(bob, "rasmuslerdorf")  # upgraded to argon2id
    secrets += [
        "Correct-Horse-Battery-1",
        "Wrong-Guess-Number-9",
        "Staple-Rhubarb-Kettle-2",
        "rasmuslerdorf",
    ]

    totp = TOTPService(store, cipher, limiter=limiter)
    enrollment = totp.enroll(ann, issuer="Example", account_name="ann@example.com")
    assert totp.confirm(ann, totp_code(enrollment.secret, clock.now()))
    imported = "KRSXG5CTMVRXEZLUKN2XAZLSKNSWG4TFOQ"
    totp.import_secret(bob, imported)
    assert totp.verify(bob, totp_code(imported, clock.now()))
    for secret in (enrollment.secret, imported):
        raw = base64.b32decode(secret + "=" * (-len(secret) % 8))
        secrets += [secret, secret.lower(), raw.hex(), base64.b64encode(raw).decode()]

    for hash_key in (BACKUP_KEY, keyring):
        codes = BackupCodeService(store, hash_key, limiter=limiter).generate(ann)
        assert BackupCodeService(store, hash_key, limiter=limiter).consume(ann, codes[0])
        secrets += codes + [c.replace("-", "") for c in codes]

    api_keys = ApiKeyService(store, cipher)
    for n, key in enumerate(("sk-proj-AbCdEfGhIjKlMnOpQrSt1234", "sk-ant-ZyXwVuTsRqPoNmLk9876")):
        info = api_keys.add(ann, label=f"key {n}", provider="llm", key=key)
        assert api_keys.reveal(ann, info.id) == key
        secrets.append(key)
    gone = api_keys.add(bob, label="old", provider="llm", key="sk-deleted-key-QwErTyUiOp")
    assert api_keys.delete(bob, gone.id)
    secrets.append("sk-deleted-key-QwErTyUiOp")

    counts = reencrypt(store, Keyring.parse(f"{OLD_KEY},{NEW_KEY}"))
    assert counts["reencrypted"] == 4  # a TOTP secret each, two API keys of Ann
    assert ApiKeyService(store, FieldCipher(Keyring.parse(NEW_KEY))).list(ann)

    # The keys themselves belong in the environment, not in the store.
    for entry in (OLD_KEY, NEW_KEY):
        secrets.append(entry.partition(":")[2])
    return secrets


def test_raw_storage_holds_no_plaintext_secret(opened: tuple[Adapter, str], tmp_path: Path) -> None:
    store, url = opened
    secrets = exercise_everything(store)

    def raw() -> bytes:
        files = b"".join(p.read_bytes() for p in sorted(tmp_path.rglob("*")) if p.is_file())
        return stores.raw_bytes(store, url) + files

    while_open = raw()
    store.close()  # SQLite checkpoints its WAL into the database on close
    after_close = raw()
    # The reader does see what the store holds: e-mails, hashes, envelopes.
    for visible in (b"ann@example.com", b"$argon2id$", b"as1."):
        assert visible in while_open
    for secret in secrets:
        needle = secret.encode()
        assert needle not in while_open, f"plaintext secret found in raw storage: {secret[:4]}..."
        assert needle not in after_close, f"plaintext secret found in raw storage: {secret[:4]}..."
