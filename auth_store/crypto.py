"""Field encryption: a keyring of AES-256-GCM keys and a cipher bound to each value's place.

A ``Keyring`` holds named 32-byte keys, oldest to newest; the newest (the
*primary*) encrypts and every key decrypts. ``FieldCipher`` turns a secret
into a text *envelope* that names its key and is bound, through the AES-GCM
associated data, to one (collection, record id, field): a value copied to
another row or field does not decrypt. ``reencrypt`` moves every ciphertext
in a store (credentials and OAuth tokens in accounts) to the primary key.
The byte layout is documented in
``docs/security.md``; in short::

    "as1." + base64url(0x01 | n | key id (n bytes) | binding (8) | nonce (12) | ciphertext+tag)

Key entries are ``<key id>:<base64 of 32 bytes>``, separated by commas,
whitespace or newlines (``#`` starts a comment), read from ``AUTH_STORE_KEYS``
or a key file named by ``AUTH_STORE_KEY_FILE``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from . import clock
from .adapter import Adapter
from .errors import ConfigurationError, DecryptionError, StorageError, ValidationError
from .models import Account, Credential
from .validation import check_text

__all__ = [
    "ENCRYPTED_ACCOUNT_FIELDS",
    "ENCRYPTED_FIELDS",
    "ENVELOPE_PREFIX",
    "KEYED_BY",
    "KEYS_ENV",
    "KEY_FILE_ENV",
    "FieldCipher",
    "Keyring",
    "is_envelope",
    "reencrypt",
]

KEYS_ENV = "AUTH_STORE_KEYS"
KEY_FILE_ENV = "AUTH_STORE_KEY_FILE"
#: Every envelope of format version 1 starts with this text.
ENVELOPE_PREFIX = "as1."

_VERSION = 1
_KEY_BYTES = 32
_NONCE_BYTES = 12
_BINDING_BYTES = 8
_TAG_BYTES = 16
_KEY_ID_RE = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
_ENVELOPE_RE = re.compile(r"as[0-9]+\.")
_B64URL_RE = re.compile(r"[A-Za-z0-9_\-]*")


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _malformed(why: str) -> DecryptionError:
    return DecryptionError(f"not a valid encrypted value: {why}", reason="malformed")


def is_envelope(value: object) -> bool:
    """Whether ``value`` looks like an envelope written by ``FieldCipher`` (any version)."""
    return isinstance(value, str) and _ENVELOPE_RE.match(value) is not None


def _decode_key(material: str, key_id: str) -> bytes:
    text = material.strip()
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        try:
            raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise ConfigurationError(f"key {key_id!r} is not valid base64") from None
    if len(raw) != _KEY_BYTES:
        raise ConfigurationError(
            f"key {key_id!r} must be {_KEY_BYTES} bytes (AES-256), got {len(raw)} bytes"
        )
    return raw


class Keyring:
    """Named AES-256 keys, oldest to newest: the primary encrypts, every key decrypts.

    ``keys`` are ``(key id, 32 key bytes)`` pairs in order; the primary is the
    last one unless ``primary`` names another. Key ids are 1-64 characters of
    ``[A-Za-z0-9_.-]``; the ``repr`` shows ids, never key material.
    """

    def __init__(self, keys: Iterable[tuple[str, bytes]], *, primary: str | None = None) -> None:
        self._keys: dict[str, bytes] = {}
        for key_id, key in keys:
            if not isinstance(key_id, str) or not _KEY_ID_RE.fullmatch(key_id):
                raise ConfigurationError("a key id must be 1-64 characters of [A-Za-z0-9_.-]")
            if key_id in self._keys:
                raise ConfigurationError(f"key id {key_id!r} appears twice in the keyring")
            if not isinstance(key, bytes) or len(key) != _KEY_BYTES:
                raise ConfigurationError(f"key {key_id!r} must be {_KEY_BYTES} bytes (AES-256)")
            self._keys[key_id] = key
        if not self._keys:
            raise ConfigurationError("a keyring needs at least one key")
        if primary is None:
            primary = next(reversed(self._keys))
        elif primary not in self._keys:
            raise ConfigurationError(f"primary key {primary!r} is not in the keyring")
        self._primary = primary
        self._aead = {key_id: AESGCM(key) for key_id, key in self._keys.items()}

    # -- construction -------------------------------------------------------

    @classmethod
    def parse(cls, text: str, *, primary: str | None = None) -> Keyring:
        """A keyring from key entries ``<id>:<base64 key>``, oldest first.

        Entries are separated by commas, spaces or newlines; ``#`` starts a
        comment that runs to the end of the line.
        """
        entries: list[tuple[str, bytes]] = []
        for line in text.splitlines():
            for entry in re.split(r"[,\s]+", line.split("#", 1)[0]):
                if not entry:
                    continue
                key_id, sep, material = entry.partition(":")
                if not sep:
                    raise ConfigurationError(
                        "a key entry must look like <key id>:<base64 key> (see docs/security.md)"
                    )
                entries.append((key_id, _decode_key(material, key_id)))
        return cls(entries, primary=primary)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Keyring:
        """A keyring read from a key file (the ``parse`` format, one entry a line)."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            reason = (exc.strerror or "unreadable").lower()
            raise ConfigurationError(f"cannot read key file {os.fspath(path)}: {reason}") from exc
        except UnicodeDecodeError as exc:
            raise ConfigurationError(f"key file {os.fspath(path)} is not UTF-8 text") from exc
        return cls.parse(text)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Keyring:
        """A keyring from ``AUTH_STORE_KEYS``, else from the file ``AUTH_STORE_KEY_FILE`` names.

        Raises ``ConfigurationError`` when neither is set.
        """
        env = os.environ if environ is None else environ
        if env.get(KEYS_ENV, "").strip():
            return cls.parse(env[KEYS_ENV])
        if env.get(KEY_FILE_ENV, "").strip():
            return cls.from_file(env[KEY_FILE_ENV].strip())
        raise ConfigurationError(
            f"no encryption keys: set {KEYS_ENV} or {KEY_FILE_ENV} "
            "(make a key with `auth-store keys generate`)"
        )

    @staticmethod
    def generate_key(key_id: str | None = None) -> str:
        """A new random key entry ``<id>:<base64url key>`` ready for ``AUTH_STORE_KEYS``.

        The default id is the UTC date and a random suffix (``20260102-1a2b3c4d``),
        so ids sort by age.
        """
        if key_id is None:
            key_id = f"{clock.now():%Y%m%d}-{secrets.token_hex(4)}"
        if not _KEY_ID_RE.fullmatch(key_id):
            raise ConfigurationError("a key id must be 1-64 characters of [A-Za-z0-9_.-]")
        return f"{key_id}:{_b64url(secrets.token_bytes(_KEY_BYTES))}"

    @classmethod
    def generate(cls) -> Keyring:
        """A keyring holding one new random key (for tests and first setup)."""
        return cls.parse(cls.generate_key())

    # -- queries ------------------------------------------------------------

    @property
    def primary_id(self) -> str:
        """The id of the key that encrypts."""
        return self._primary

    @property
    def key_ids(self) -> tuple[str, ...]:
        """Every key id, oldest first."""
        return tuple(self._keys)

    def __contains__(self, key_id: object) -> bool:
        return key_id in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"Keyring(primary={self._primary!r}, key_ids={list(self._keys)!r})"

    def aead(self, key_id: str) -> AESGCM | None:
        """The AES-GCM cipher of a key, or ``None`` if the key is not in the keyring."""
        return self._aead.get(key_id)

    def derive_key(self, purpose: str, key_id: str | None = None) -> bytes:
        """A 32-byte key for ``purpose`` derived (HKDF-SHA256) from one key (default: primary).

        Used for keyed hashes (backup codes) so they need no second secret.
        Raises ``DecryptionError`` (reason ``unknown_key``) for a key id not held.
        """
        key_id = self._primary if key_id is None else key_id
        key = self._keys.get(key_id)
        if key is None:
            raise DecryptionError(f"key {key_id!r} is not in the keyring", reason="unknown_key")
        hkdf = HKDF(
            algorithm=hashes.SHA256(),
            length=_KEY_BYTES,
            salt=None,
            info=b"auth-store derived key v1\x00" + purpose.encode("utf-8"),
        )
        return hkdf.derive(key)


def _context(collection: str, record_id: str, field: str) -> bytes:
    # Length-prefixed parts: ("a", "bc") and ("ab", "c") can never encode the same.
    parts = (
        check_text(collection, "collection"),
        check_text(record_id, "record_id"),
        check_text(field, "field"),
    )
    out = bytearray()
    for part in parts:
        raw = part.encode("utf-8")
        out += len(raw).to_bytes(4, "big") + raw
    return bytes(out)


def _binding(context: bytes) -> bytes:
    return hashlib.sha256(b"auth-store binding v1\x00" + context).digest()[:_BINDING_BYTES]


class _Parsed(NamedTuple):
    header: bytes  # version, key id length, key id, binding: authenticated with the context
    key_id: str
    binding: bytes
    nonce: bytes
    body: bytes  # ciphertext and tag


def _parse(envelope: object) -> _Parsed:
    if not isinstance(envelope, str):
        raise _malformed(f"expected text, got {type(envelope).__name__}")
    if not envelope.startswith(ENVELOPE_PREFIX):
        if is_envelope(envelope):
            raise DecryptionError(
                "this value was written by a newer envelope format version",
                reason="unsupported_version",
            )
        raise _malformed("it does not start with the envelope prefix")
    text = envelope[len(ENVELOPE_PREFIX) :]
    if not _B64URL_RE.fullmatch(text):
        raise _malformed("it is not base64url text")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise _malformed("it is not base64url text") from None
    if _b64url(raw) != text:  # unused trailing bits set: not what we wrote
        raise _malformed("it is not canonical base64url")
    if len(raw) < 2:
        raise _malformed("it is too short")
    if raw[0] != _VERSION:
        raise DecryptionError(
            f"unsupported envelope version {raw[0]}", reason="unsupported_version"
        )
    n = raw[1]
    header_end = 2 + n + _BINDING_BYTES
    if len(raw) < header_end + _NONCE_BYTES + _TAG_BYTES:
        raise _malformed("it is too short")
    try:
        key_id = raw[2 : 2 + n].decode("ascii")
    except UnicodeDecodeError:
        key_id = ""
    if not _KEY_ID_RE.fullmatch(key_id):
        raise _malformed("its key id is not valid")
    return _Parsed(
        header=raw[:header_end],
        key_id=key_id,
        binding=raw[2 + n : header_end],
        nonce=raw[header_end : header_end + _NONCE_BYTES],
        body=raw[header_end + _NONCE_BYTES :],
    )


def _utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        pass
    # Raised outside the handler: the encoding error holds the whole plaintext
    # and would ride along as the new error's __context__.
    raise ValidationError("plaintext must be valid Unicode text (no lone surrogates)")


class FieldCipher:
    """Encrypt and decrypt one field of one record with a ``Keyring``.

    Every call names where the value lives (``collection``, ``record_id``,
    ``field``); that place is authenticated with the ciphertext, so an
    envelope only decrypts at the place it was written for.
    """

    def __init__(self, keyring: Keyring) -> None:
        if not isinstance(keyring, Keyring):
            raise ConfigurationError("FieldCipher needs a Keyring")
        self.keyring = keyring

    def __repr__(self) -> str:
        return f"FieldCipher({self.keyring!r})"

    def encrypt(
        self, plaintext: str | bytes, *, collection: str, record_id: str, field: str
    ) -> str:
        """Encrypt under the primary key; return the text envelope.

        Text that is not valid Unicode (a lone surrogate) is a ``ValidationError``.
        """
        if isinstance(plaintext, str):
            data = _utf8(plaintext)
        elif isinstance(plaintext, bytes):
            data = plaintext
        else:
            raise TypeError(f"plaintext must be str or bytes, got {type(plaintext).__name__}")
        context = _context(collection, record_id, field)
        key_id = self.keyring.primary_id
        raw_id = key_id.encode("ascii")
        header = bytes([_VERSION, len(raw_id)]) + raw_id + _binding(context)
        nonce = secrets.token_bytes(_NONCE_BYTES)
        aead = self.keyring.aead(key_id)
        assert aead is not None
        body = aead.encrypt(nonce, data, header + context)
        return ENVELOPE_PREFIX + _b64url(header + nonce + body)

    def decrypt(self, envelope: str, *, collection: str, record_id: str, field: str) -> bytes:
        """Decrypt an envelope written for this place.

        Raises ``DecryptionError`` whose ``reason`` is ``malformed``,
        ``unsupported_version``, ``unknown_key``, ``wrong_context`` (the value
        belongs to another record or field) or ``tampered``.
        """
        context = _context(collection, record_id, field)
        parsed = _parse(envelope)
        aead = self.keyring.aead(parsed.key_id)
        if aead is None:
            raise DecryptionError(
                f"the value is encrypted under key {parsed.key_id!r}, which is not in the keyring",
                reason="unknown_key",
            )
        if not hmac.compare_digest(parsed.binding, _binding(context)):
            raise DecryptionError(
                f"the value is bound to another record or field, not {collection}/{record_id}"
                f"/{field} (it was moved or copied)",
                reason="wrong_context",
            )
        try:
            return aead.decrypt(parsed.nonce, parsed.body, parsed.header + context)
        except InvalidTag:
            raise DecryptionError(
                "the value failed authentication: it was altered after encryption",
                reason="tampered",
            ) from None

    def decrypt_str(self, envelope: str, *, collection: str, record_id: str, field: str) -> str:
        """``decrypt`` for values that were encrypted as text."""
        raw = self.decrypt(envelope, collection=collection, record_id=record_id, field=field)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise _malformed("it does not hold text") from None

    @staticmethod
    def key_id_of(envelope: str) -> str:
        """The id of the key an envelope is encrypted under (nothing is decrypted)."""
        return _parse(envelope).key_id

    def needs_reencrypt(self, envelope: str) -> bool:
        """Whether an envelope is under a key other than the primary."""
        return self.key_id_of(envelope) != self.keyring.primary_id

    def reencrypt(self, envelope: str, *, collection: str, record_id: str, field: str) -> str:
        """The same plaintext under the primary key (``envelope`` itself if already there)."""
        if not self.needs_reencrypt(envelope):
            return envelope
        plaintext = self.decrypt(envelope, collection=collection, record_id=record_id, field=field)
        return self.encrypt(plaintext, collection=collection, record_id=record_id, field=field)


#: Credential ``data`` key naming the keyring key that keyed hashes in it depend on.
KEYED_BY = "key_id"
#: The encrypted ``data`` fields of the credential types auth-store writes. ``reencrypt``
#: touches only these for these types (a user's API key label may look like anything);
#: credentials of other types are scanned for top-level values that look like envelopes.
#: Add your own types here if their data holds user text next to ciphertexts.
ENCRYPTED_FIELDS: dict[str, tuple[str, ...]] = {
    "totp": ("secret",),
    "api_key": ("key",),
    "password": (),
    "backup_codes": (),
    "attempts": (),
}
#: The encrypted fields of an ``Account``: the OAuth provider's tokens, as
#: ``auth_store.oauth`` stores them when the flow has a keyring, each bound to
#: ``accounts/<account id>/<field>``.
ENCRYPTED_ACCOUNT_FIELDS = ("access_token", "refresh_token", "id_token")
_CAS_TRIES = 20
_COUNTS = ("values", "reencrypted", "current", "failed", "pinned")


def reencrypt(
    adapter: Adapter,
    keyring: Keyring,
    *,
    progress: Callable[[int], Any] | None = None,
) -> dict[str, int]:
    """Move every ciphertext auth-store writes to the keyring's primary key.

    That is every envelope in credentials (the ``ENCRYPTED_FIELDS`` of each
    credential's ``data``, or for other credential types its top-level values
    that look like envelopes; each bound to ``credentials/<credential id>/<data
    key>``) and in accounts (the ``ENCRYPTED_ACCOUNT_FIELDS``, the OAuth
    tokens). Each credential is rewritten by compare-and-set on its own, each
    account by one ``update_account`` of just its re-encrypted fields, so an
    interrupted run loses nothing and a second run continues where the first
    stopped (values already under the primary are left alone). ``progress`` is
    called with 1 after each credential and each account. Returns counts:
    ``credentials`` and ``accounts`` scanned, ``values`` (envelopes seen),
    ``reencrypted``, ``current`` (already under the primary), ``failed`` (could
    not be decrypted, e.g. their key is not in the keyring; they are left as
    they are), and ``pinned`` (credentials whose keyed hashes depend on an older
    key, e.g. backup codes: they keep working while that key stays in the
    keyring; regenerate them before removing it). After a run with ``failed``
    and ``pinned`` at 0, nothing depends on a key other than the primary.
    """
    cipher = FieldCipher(keyring)
    totals = dict.fromkeys(("credentials", "accounts", *_COUNTS), 0)
    # Collect keys first: rewriting while a backend streams its export could
    # hold a read snapshot or a lock for the whole run.
    credential_ids: list[str] = []
    account_keys: list[tuple[str, str]] = []
    for record in adapter.export():
        if isinstance(record, Credential):
            credential_ids.append(record.id)
        elif isinstance(record, Account):
            account_keys.append((record.provider, record.provider_account_id))
    for credential_id in credential_ids:
        counts = _reencrypt_one(adapter, cipher, credential_id)
        if counts is not None:
            totals["credentials"] += 1
            for name, value in counts.items():
                totals[name] += value
        if progress is not None:
            progress(1)
    for provider, provider_account_id in account_keys:
        counts = _reencrypt_account(adapter, cipher, provider, provider_account_id)
        if counts is not None:
            totals["accounts"] += 1
            for name, value in counts.items():
                totals[name] += value
        if progress is not None:
            progress(1)
    return totals


def _reencrypt_account(
    adapter: Adapter, cipher: FieldCipher, provider: str, provider_account_id: str
) -> dict[str, int] | None:
    account = adapter.get_account(provider, provider_account_id)
    if account is None:
        return None
    counts = dict.fromkeys(_COUNTS, 0)
    changes: dict[str, str] = {}
    for name in ENCRYPTED_ACCOUNT_FIELDS:
        value = getattr(account, name)
        if not is_envelope(value):
            continue  # not encrypted (no keyring when it was stored), or empty
        counts["values"] += 1
        try:
            if not cipher.needs_reencrypt(value):
                counts["current"] += 1
                continue
            changes[name] = cipher.reencrypt(
                value, collection="accounts", record_id=account.id, field=name
            )
        except DecryptionError:
            counts["failed"] += 1
            continue
        counts["reencrypted"] += 1
    # The contract has no compare-and-set for accounts: a token refresh landing
    # between the read above and this write would be undone (the previous tokens
    # come back, re-encrypted) and is repaired by the next refresh or sign-in.
    if changes and adapter.update_account(provider, provider_account_id, **changes) is None:
        return None  # unlinked meanwhile: nothing left to move
    return counts


def _reencrypt_one(
    adapter: Adapter, cipher: FieldCipher, credential_id: str
) -> dict[str, int] | None:
    for _ in range(_CAS_TRIES):
        credential = adapter.get_credential(credential_id)
        if credential is None:
            return None
        counts = dict.fromkeys(("values", "reencrypted", "current", "failed", "pinned"), 0)
        data = dict(credential.data)
        keyed_by = data.get(KEYED_BY)
        if isinstance(keyed_by, str) and keyed_by != cipher.keyring.primary_id:
            counts["pinned"] += 1
        changed = False
        known = ENCRYPTED_FIELDS.get(credential.type)
        for name, value in credential.data.items():
            if (known is not None and name not in known) or not is_envelope(value):
                continue
            counts["values"] += 1
            try:
                if not cipher.needs_reencrypt(value):
                    counts["current"] += 1
                    continue
                data[name] = cipher.reencrypt(
                    value, collection="credentials", record_id=credential_id, field=name
                )
            except DecryptionError:
                counts["failed"] += 1
                continue
            counts["reencrypted"] += 1
            changed = True
        if not changed:
            return counts
        if adapter.update_credential(credential_id, data, expected_version=credential.version):
            return counts
        # Someone changed the credential meanwhile: read it again and redo it.
    raise StorageError(
        f"credential {credential_id!r} kept changing during re-encryption; run it again"
    )
