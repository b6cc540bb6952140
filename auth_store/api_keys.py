"""Third-party API keys a user keeps with you (an LLM provider key, ...), encrypted at rest.

Each key is one credential of type ``api_key``::

    {"label": "work", "provider": "openai", "key": <envelope>, "last4": "x9Zk"}

The key is encrypted with the ``FieldCipher`` (bound to
``credentials/<credential id>/key``); only its last four characters are kept
in clear, for the masked listing. ``reencrypt`` moves these keys to a new
primary key like every other ciphertext.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import datetime

from ._twins import Steps, StoreT, Twin, twin
from .adapter import Adapter
from .crypto import FieldCipher
from .errors import NotFoundError, StorageError, ValidationError
from .models import Credential
from .validation import check_text, new_id, validate_id

__all__ = ["CREDENTIAL_TYPE", "ApiKeyInfo", "ApiKeyService", "ApiKeyServiceCore"]

CREDENTIAL_TYPE = "api_key"
_KEY_FIELD = "key"
_MAX_KEY = 8 * 1024
_MAX_LABEL = 200
_SHOWN = 4
_MIN_FOR_HINT = 12  # shorter keys show no characters at all


@dataclass(frozen=True)
class ApiKeyInfo:
    """What may be shown about a stored key: never the key, at most its last 4 characters."""

    id: str
    user_id: str
    label: str
    provider: str
    last4: str
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def masked(self) -> str:
        """The key for display: ``••••x9Zk``."""
        return "\u2022" * 4 + self.last4


def _limited_text(value: object, what: str, limit: int) -> str:
    text = check_text(value, what).strip()
    if not text or len(text) > limit:
        raise ValidationError(f"{what} must be 1-{limit} characters")
    return text


class ApiKeyServiceCore(Twin[StoreT]):
    """Add, list (masked), reveal and delete a user's third-party API keys."""

    def __init__(self, adapter: StoreT, cipher: FieldCipher) -> None:
        if not isinstance(cipher, FieldCipher):
            raise ValidationError("ApiKeyService needs a FieldCipher")
        super().__init__(adapter)
        self.cipher = cipher

    @twin
    def add(self, user_id: str, *, label: str, provider: str, key: str) -> Steps[ApiKeyInfo]:
        """Store ``key`` encrypted and return its info. ``NotFoundError`` for an unknown user."""
        validate_id(user_id, "user_id")
        label = _limited_text(label, "label", _MAX_LABEL)
        provider = _limited_text(provider, "provider", _MAX_LABEL)
        # check_text refuses NUL bytes and lone surrogates; its messages never quote the value.
        if not check_text(key, "key").strip() or len(key) > _MAX_KEY:
            raise ValidationError(
                f"key must be a non-empty string of at most {_MAX_KEY} characters"
            )
        credential_id = new_id()
        envelope = self.cipher.encrypt(
            key, collection="credentials", record_id=credential_id, field=_KEY_FIELD
        )
        stored = yield from self._store(
            Adapter.create_credential,
            Credential(
                id=credential_id,
                user_id=user_id,
                type=CREDENTIAL_TYPE,
                data={
                    "label": label,
                    "provider": provider,
                    _KEY_FIELD: envelope,
                    "last4": key[-_SHOWN:] if len(key) >= _MIN_FOR_HINT else "",
                },
            ),
        )
        return self._info(stored)

    @twin
    def get(self, user_id: str, key_id: str) -> Steps[ApiKeyInfo | None]:
        """The info of one of the user's keys, or ``None``."""
        credential = yield from self._credential(user_id, key_id)
        return None if credential is None else self._info(credential)

    @twin
    def reveal(self, user_id: str, key_id: str) -> Steps[str]:
        """Decrypt and return the key. ``NotFoundError`` if the user has no such key."""
        credential = yield from self._credential(user_id, key_id)
        if credential is None:
            raise NotFoundError("this user has no API key with this id")
        envelope = credential.data.get(_KEY_FIELD)
        if not isinstance(envelope, str):
            raise StorageError("stored API key is unreadable")
        return self.cipher.decrypt_str(
            envelope, collection="credentials", record_id=key_id, field=_KEY_FIELD
        )

    @twin
    def delete(self, user_id: str, key_id: str) -> Steps[bool]:
        """Delete one of the user's keys; False if the user has no such key."""
        if (yield from self._credential(user_id, key_id)) is None:
            return False
        return (yield from self._store(Adapter.delete_credential, key_id)) is not None

    @twin
    def list(self, user_id: str) -> Steps[builtins.list[ApiKeyInfo]]:
        """The user's keys, oldest first, masked."""
        validate_id(user_id, "user_id")
        stored = yield from self._store(Adapter.list_credentials, user_id, CREDENTIAL_TYPE)
        return [self._info(c) for c in stored]

    def _credential(self, user_id: str, key_id: str) -> Steps[Credential | None]:
        validate_id(user_id, "user_id")
        validate_id(key_id, "key_id")
        credential = yield from self._store(Adapter.get_credential, key_id)
        if credential is None or credential.user_id != user_id:
            return None
        return credential if credential.type == CREDENTIAL_TYPE else None

    @staticmethod
    def _info(credential: Credential) -> ApiKeyInfo:
        data = credential.data
        return ApiKeyInfo(
            id=credential.id,
            user_id=credential.user_id,
            label=str(data.get("label", "")),
            provider=str(data.get("provider", "")),
            last4=str(data.get("last4", "")),
            created_at=credential.created_at,
            updated_at=credential.updated_at,
        )


class ApiKeyService(ApiKeyServiceCore[Adapter]):
    """API keys on a sync store (``auth_store.aio.ApiKeyService`` is the async twin)."""
