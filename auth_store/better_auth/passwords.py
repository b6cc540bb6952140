"""Better Auth's password hashes: scrypt in its ``salt:key`` hex format, as a libpass scheme.

Better Auth (``@better-auth/utils/password``) hashes a password, normalised
to NFKC, with scrypt N=16384, r=16, p=1 into 64 bytes, salted with a random
16-byte salt *as its 32-character hex text* (the text's bytes are the salt,
not the 16 bytes it spells), and stores ``<salt hex>:<key hex>``. It sits in
the credential account's ``password`` column.

``BetterAuthScrypt`` is that format as a libpass handler, so a
``CryptContext`` identifies, verifies and writes it like any other scheme:
``password_context()`` is the context for a store a Better Auth app shares
(new hashes in Better Auth's format; argon2id and bcrypt hashes verify and
are rewritten in it at the next successful sign-in), and
``auth_store.passwords.make_context`` verifies these hashes too, so users
moved from Better Auth keep their passwords (rewritten to argon2id).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata
from typing import Any, Literal

import passlib.utils.handlers as uh
from passlib.context import CryptContext

__all__ = [
    "SCRYPT_N",
    "SCRYPT_P",
    "SCRYPT_R",
    "BetterAuthScrypt",
    "is_better_auth_hash",
    "password_context",
]

#: Better Auth's scrypt cost: 2**14 blocks of 128·r bytes (32 MiB), one lane.
SCRYPT_N = 16384
SCRYPT_R = 16
SCRYPT_P = 1
_KEY_BYTES = 64
# scrypt needs 128·N·r bytes; Better Auth allows twice that (Python's default is too little).
_MAXMEM = 128 * SCRYPT_N * SCRYPT_R * 2
_HEX = "0123456789abcdef"
_HASH_RE = re.compile(r"^[0-9a-f]{32}:[0-9a-f]{128}$", re.IGNORECASE)


def is_better_auth_hash(value: object) -> bool:
    """Whether ``value`` is a hash in Better Auth's default format (``<32 hex>:<128 hex>``)."""
    return isinstance(value, str) and _HASH_RE.match(value) is not None


class BetterAuthScrypt(uh.HasSalt, uh.GenericHandler):  # type: ignore[misc]
    """libpass handler for Better Auth's ``<salt hex>:<key hex>`` scrypt hashes."""

    name = "better_auth_scrypt"
    setting_kwds = ("salt",)
    checksum_chars = _HEX
    checksum_size = 2 * _KEY_BYTES
    salt_chars = _HEX
    min_salt_size = max_salt_size = default_salt_size = 32
    _hash_regex = _HASH_RE

    @classmethod
    def from_string(cls, hash: str | bytes) -> BetterAuthScrypt:
        text = hash.decode("ascii") if isinstance(hash, bytes) else hash
        if not isinstance(text, str) or not _HASH_RE.match(text):
            raise ValueError("not a Better Auth scrypt hash")
        salt, _, key = text.lower().partition(":")
        return cls(salt=salt, checksum=key)

    def to_string(self) -> str:
        return f"{self.salt}:{self.checksum}"

    @classmethod
    def _generate_salt(cls) -> str:
        return secrets.token_bytes(16).hex()  # what Better Auth makes

    def _calc_checksum(self, secret: str | bytes) -> str:
        if isinstance(secret, bytes):
            secret = secret.decode("utf-8")
        password = unicodedata.normalize("NFKC", secret).encode("utf-8")
        key = hashlib.scrypt(
            password,
            salt=self.salt.encode("ascii"),
            n=SCRYPT_N,
            r=SCRYPT_R,
            p=SCRYPT_P,
            dklen=_KEY_BYTES,
            maxmem=_MAXMEM,
        )
        return key.hex()


def password_context(
    *, hashes: Literal["scrypt", "argon2id"] = "scrypt", **argon2: Any
) -> CryptContext:
    """The context for a store a Better Auth app shares.

    ``hashes="scrypt"`` (the default) writes Better Auth's own format, which a
    Better Auth app verifies as configured out of the box. ``"argon2id"``
    writes argon2id (``argon2`` takes ``memory_cost``, ``time_cost``,
    ``parallelism``, as ``auth_store.passwords.make_context``); the app must
    then hash and verify argon2id itself (``emailAndPassword.password``, see
    docs/better-auth.md). Either way every format verifies, and a hash in
    another than the chosen one is rewritten at the next successful check.
    """
    from ..passwords import make_context

    if hashes not in ("scrypt", "argon2id"):
        raise ValueError('hashes must be "scrypt" or "argon2id"')
    base = make_context(**argon2)
    argon2_settings = {k: v for k, v in base.to_dict().items() if k.startswith("argon2__")}
    if hashes == "scrypt":
        return CryptContext(
            schemes=[BetterAuthScrypt, "argon2", "bcrypt"],
            default=BetterAuthScrypt.name,
            deprecated=["argon2", "bcrypt"],
            **argon2_settings,
        )
    return CryptContext(
        schemes=["argon2", BetterAuthScrypt, "bcrypt"],
        default="argon2",
        deprecated=[BetterAuthScrypt.name, "bcrypt"],
        **argon2_settings,
    )
