"""Single-use backup codes: shown once, stored only as keyed hashes, consumed atomically.

A code is 12 characters of Crockford's base32 alphabet (60 bits) grouped as
``xxxx-xxxx-xxxx``; input is read leniently (case, spaces, hyphens, and
``o``/``i``/``l`` for ``0``/``1``). One credential of type ``backup_codes``
per user holds ``{"hashes": [hex HMAC-SHA256, ...]}`` (plus ``key_id`` when
the HMAC key is derived from a ``Keyring``). Consuming a code removes its
hash by compare-and-set, so of N concurrent uses of one code exactly one
succeeds; generating a new set replaces (voids) the old one.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from ._slots import change_slot, slot_id
from ._twins import Steps, StoreT, Twin, twin
from .adapter import Adapter
from .attempts import AttemptLimiterCore
from .crypto import KEYED_BY, Keyring
from .errors import ConfigurationError, StorageError, ValidationError
from .models import Credential
from .validation import validate_id

__all__ = [
    "CODE_BITS",
    "CREDENTIAL_TYPE",
    "BackupCodeService",
    "BackupCodeServiceCore",
    "normalize_code",
]

CREDENTIAL_TYPE = "backup_codes"
KIND = "backup_code"  # the AttemptLimiter kind
_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32: no i, l, o, u
_LENGTH = 12
_GROUP = 4
#: Entropy of one code.
CODE_BITS = _LENGTH * 5
_LOOKALIKES = str.maketrans({"o": "0", "i": "1", "l": "1"})
_DERIVE_PURPOSE = "backup codes"


def normalize_code(code: str) -> str | None:
    """The canonical form of a typed code (lower-case, no separators), or None if malformed."""
    if not isinstance(code, str):
        return None
    text = "".join(code.split()).replace("-", "").lower().translate(_LOOKALIKES)
    if len(text) != _LENGTH or any(ch not in _ALPHABET for ch in text):
        return None
    return text


def _new_code() -> str:
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(_LENGTH))
    return "-".join(raw[i : i + _GROUP] for i in range(0, _LENGTH, _GROUP))


class BackupCodeServiceCore(Twin[StoreT]):
    """Generate, consume and count a user's backup codes.

    ``key`` keys the hashes: 32+ random bytes kept as a server secret, or a
    ``Keyring`` (each set is then keyed by a key derived from the primary at
    generation, and records that key's id; keep the key in the keyring while
    sets made under it are in use). With a ``limiter``, ``consume`` counts
    against the user's ``backup_code`` attempt limit.
    """

    def __init__(
        self,
        adapter: StoreT,
        key: bytes | Keyring,
        *,
        limiter: AttemptLimiterCore[StoreT] | None = None,
    ) -> None:
        if isinstance(key, bytes):
            if len(key) < 16:
                raise ConfigurationError("a backup-code key must be at least 16 bytes")
        elif not isinstance(key, Keyring):
            raise ConfigurationError("a backup-code key must be bytes or a Keyring")
        super().__init__(adapter)
        self._key = key
        self.limiter = limiter

    def __repr__(self) -> str:
        return f"{type(self).__name__}(adapter={self.adapter!r})"

    @twin
    def generate(self, user_id: str, count: int = 10) -> Steps[list[str]]:
        """A new set of ``count`` codes for the user, replacing any old set. Shown once.

        Raises ``NotFoundError`` if there is no such user.
        """
        credential_id = self._id(user_id)
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 100:
            raise ValidationError("count must be an int from 1 to 100")
        codes: list[str] = []
        while len(codes) < count:
            code = _new_code()
            if code not in codes:
                codes.append(code)
        data: dict[str, Any] = {}
        if isinstance(self._key, Keyring):
            data[KEYED_BY] = self._key.primary_id
        key = self._hmac_key(data)
        data["hashes"] = [self._digest(key, user_id, c.replace("-", "")) for c in codes]
        yield from change_slot(
            self.adapter,
            user_id=user_id,
            type=CREDENTIAL_TYPE,
            id=credential_id,
            change=lambda _current: data,
        )
        return codes

    @twin
    def consume(self, user_id: str, code: str) -> Steps[bool]:
        """Use up ``code``: True once for a valid unused code, False otherwise."""
        credential_id = self._id(user_id)
        if self.limiter is not None:
            yield from self.limiter.begin.steps(user_id, KIND)
        normal = normalize_code(code)
        if normal is None:
            return False
        used = False

        def spend(current: Credential | None) -> dict[str, Any] | None:
            # Runs again after a lost race; if the winner spent this code, it is gone now.
            nonlocal used
            used = False
            if current is None:
                return None
            hashes = self._hashes(current)
            digest = self._digest(self._hmac_key(current.data), user_id, normal)
            index = None
            for i, stored in enumerate(hashes):  # every entry, no early exit
                if hmac.compare_digest(stored, digest):
                    index = i
            if index is None:
                return None
            used = True
            return {**current.data, "hashes": hashes[:index] + hashes[index + 1 :]}

        yield from change_slot(
            self.adapter, user_id=user_id, type=CREDENTIAL_TYPE, id=credential_id, change=spend
        )
        if used and self.limiter is not None:
            yield from self.limiter.record_success.steps(user_id, KIND)
        return used

    @twin
    def remaining(self, user_id: str) -> Steps[int]:
        """How many unused codes the user has."""
        credential = yield from self._store(Adapter.get_credential, self._id(user_id))
        return 0 if credential is None else len(self._hashes(credential))

    @twin
    def clear(self, user_id: str) -> Steps[bool]:
        """Void every code of the user; False if there were none."""
        return (yield from self._store(Adapter.delete_credential, self._id(user_id))) is not None

    # -- internals -----------------------------------------------------------

    @staticmethod
    def _id(user_id: str) -> str:
        validate_id(user_id, "user_id")
        return slot_id(CREDENTIAL_TYPE, user_id)

    @staticmethod
    def _hashes(credential: Credential) -> list[str]:
        hashes = credential.data.get("hashes")
        if not isinstance(hashes, list) or not all(isinstance(h, str) for h in hashes):
            raise StorageError("stored backup codes are unreadable")
        return hashes

    def _hmac_key(self, data: dict[str, Any]) -> bytes:
        key_id = data.get(KEYED_BY)
        if isinstance(self._key, bytes):
            if key_id is not None:
                raise ConfigurationError(
                    "these backup codes are keyed by a keyring key; give the service the Keyring"
                )
            return self._key
        if not isinstance(key_id, str):
            raise ConfigurationError(
                "these backup codes are keyed by a server key; give the service that key"
            )
        return self._key.derive_key(_DERIVE_PURPOSE, key_id)

    @staticmethod
    def _digest(key: bytes, user_id: str, normal: str) -> str:
        message = b"auth-store backup code v1\x00" + user_id.encode() + b"\x00" + normal.encode()
        return hmac.new(key, message, hashlib.sha256).hexdigest()


class BackupCodeService(BackupCodeServiceCore[Adapter]):
    """Backup codes on a sync store (``auth_store.aio.BackupCodeService`` is the async twin)."""
