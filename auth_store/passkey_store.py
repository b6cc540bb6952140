"""Where passkeys live: Auth.js's rows, plus what Auth.js has no column for.

A passkey is kept exactly as Auth.js's WebAuthn provider writes it, so an
Auth.js app sharing the database signs in with a passkey registered here and
the other way round:

- an ``Authenticator``: ``credential_id`` is the raw credential id in base64
  (standard alphabet, padded: Node's ``Buffer.toString("base64")``),
  ``credential_public_key`` the COSE public key in base64, ``counter`` the
  signature counter, ``credential_device_type`` ``"singleDevice"`` or
  ``"multiDevice"``, ``credential_backed_up``, and ``transports`` joined by
  commas (``"hybrid,internal"``);
- its ``Account``: ``type="webauthn"``, ``provider`` the Auth.js provider id
  (``"passkey"`` for Auth.js's ``Passkey`` provider, the default here;
  ``"webauthn"`` for its generic ``WebAuthn`` one), and
  ``provider_account_id`` the credential id in base64 again.

What Auth.js's tables have no place for stays out of them, in a
``Credential`` of type ``passkey`` per passkey (fixed id derived from user and
credential id, changed by compare-and-set): its name, when it was registered
and last used, its AAGUID, the user handle it was registered under, the
highest signature counter seen, and counter regressions. One ``Credential``
of type ``passkey_user`` per user holds the user's WebAuthn user handle: 32
random bytes made once, never the e-mail. None of this is secret; all of it
goes with the user on ``delete_user``.

This module needs nothing beyond the base install (the ceremonies, in
``auth_store.passkeys``, need the ``passkeys`` extra), so operators list and
remove passkeys with the CLI anywhere.
"""

from __future__ import annotations

import base64
import binascii
import builtins
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from . import clock
from ._slots import change_slot, slot_id
from ._twins import Steps, StoreT, Twin, twin
from .adapter import Adapter
from .errors import ConflictError, NotFoundError, ValidationError
from .models import Account, Authenticator, Credential
from .records import dump_datetime, load_datetime
from .validation import validate_id

__all__ = [
    "DEFAULT_NAME",
    "DEFAULT_PROVIDER",
    "DEVICE_TYPES",
    "METADATA_TYPE",
    "USER_HANDLE_TYPE",
    "Passkey",
    "PasskeyStore",
    "PasskeyStoreCore",
    "counter_regressed",
    "credential_id_bytes",
    "stored_credential_id",
]

#: Auth.js's ``Passkey`` provider id (its generic ``WebAuthn`` provider uses ``"webauthn"``).
DEFAULT_PROVIDER = "passkey"
#: The Auth.js provider ids a passkey's account may have been written under.
_KNOWN_PROVIDERS = ("passkey", "webauthn")
#: What a passkey is called until someone names it.
DEFAULT_NAME = "Passkey"
#: The credential types this module keeps.
METADATA_TYPE = "passkey"
USER_HANDLE_TYPE = "passkey_user"
#: Auth.js's (SimpleWebAuthn's) names of the two kinds of credential.
DEVICE_TYPES = ("singleDevice", "multiDevice")
#: WebAuthn Level 3: a credential id is at most 1023 bytes.
_MAX_CREDENTIAL_ID_BYTES = 1023
_MAX_NAME = 64
_USER_HANDLE_BYTES = 32
_B64 = re.compile(r"[A-Za-z0-9+/]*")
_B64URL = re.compile(r"[A-Za-z0-9_-]*")


def credential_id_bytes(value: object) -> bytes:
    """The raw credential id from its base64 (as stored) or base64url (as browsers send) text.

    Padding is optional. Anything else is a ``ValidationError``.
    """
    if not isinstance(value, str) or not value or len(value) > 2 * _MAX_CREDENTIAL_ID_BYTES:
        raise ValidationError("a passkey credential id must be base64 or base64url text")
    text = value.rstrip("=")
    if not _B64.fullmatch(text):
        if not _B64URL.fullmatch(text):
            raise ValidationError("a passkey credential id must be base64 or base64url text")
        text = text.translate(str.maketrans("-_", "+/"))
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError("a passkey credential id must be base64 or base64url text") from None
    if not raw or len(raw) > _MAX_CREDENTIAL_ID_BYTES:
        raise ValidationError(f"a passkey credential id is 1 to {_MAX_CREDENTIAL_ID_BYTES} bytes")
    return raw


def stored_credential_id(value: str | bytes) -> str:
    """A credential id (raw bytes, base64 or base64url) in the form Auth.js stores: base64."""
    raw = value if isinstance(value, bytes) else credential_id_bytes(value)
    return base64.b64encode(raw).decode("ascii")


def _urlsafe(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def counter_regressed(stored: int, received: int) -> bool:
    """Whether a signature counter went backwards (or stood still) since ``stored``.

    Authenticators that keep no counter (synced passkeys) always send 0; a
    counter that stays at 0 is fine. Once either side is above 0 the
    received counter must be strictly greater: anything else means two
    copies of one key are in use (a cloned authenticator) or a replay.
    """
    return (received > 0 or stored > 0) and received <= stored


def check_name(name: object) -> str:
    """A passkey name: 1-64 printable characters, trimmed (``ValidationError`` otherwise)."""
    if not isinstance(name, str):
        raise ValidationError("a passkey name must be text")
    name = " ".join(name.split())
    if not name or len(name) > _MAX_NAME or not name.isprintable():
        raise ValidationError(f"a passkey name is 1 to {_MAX_NAME} printable characters")
    return name


@dataclass(frozen=True, kw_only=True)
class Passkey:
    """A user's passkey as listed to them.

    ``id`` is the credential id as browsers write it (base64url, the
    ``id`` of a WebAuthn response): safe in a URL path. ``credential_id`` is
    the same id as stored (base64). ``created_at`` is ``None`` for a passkey
    registered by another app (an Auth.js app on the same database), which
    records no time; ``last_used_at`` is ``None`` until its first sign-in here.
    ``device_type`` is ``"singleDevice"`` (bound to one authenticator) or
    ``"multiDevice"`` (synced, e.g. through a password manager) and
    ``backed_up`` says whether it is backed up now.
    """

    id: str
    credential_id: str
    user_id: str
    name: str
    created_at: datetime | None
    last_used_at: datetime | None
    device_type: str
    backed_up: bool
    transports: tuple[str, ...]
    counter: int
    aaguid: str | None = None
    counter_regressions: int = 0


class PasskeyStoreCore(Twin[StoreT]):
    """Stores, lists, renames and removes passkeys of an ``Adapter`` (no ceremonies here).

    ``provider`` is the Auth.js provider id new passkeys' accounts get
    (default ``"passkey"``, Auth.js's ``Passkey`` provider). Use the id of
    the provider your Auth.js app configures, if it shares the database.
    """

    def __init__(self, adapter: StoreT, *, provider: str = DEFAULT_PROVIDER) -> None:
        if not isinstance(provider, str) or not provider.strip():
            raise ValidationError("provider must be a non-empty Auth.js provider id")
        super().__init__(adapter)
        self.provider = provider

    def __repr__(self) -> str:
        backend = getattr(self.adapter, "backend", "?")
        return f"{type(self).__name__}({backend}, provider={self.provider!r})"

    # -- reading -------------------------------------------------------------

    @twin
    def list(self, user_id: str) -> Steps[builtins.list[Passkey]]:
        """The passkeys of ``user_id``, oldest first (those without a known time last)."""
        validate_id(user_id, "user_id")
        credentials = yield from self._store(Adapter.list_credentials, user_id, METADATA_TYPE)
        metadata = {c.data.get("credential_id"): c for c in credentials}
        found = [
            self._passkey(a, metadata.get(a.credential_id))
            for a in (yield from self._store(Adapter.list_authenticators_by_user_id, user_id))
        ]
        far_future = datetime.max.replace(tzinfo=clock.now().tzinfo)
        return sorted(found, key=lambda p: (p.created_at or far_future, p.credential_id))

    @twin
    def get(self, user_id: str, credential_id: str) -> Steps[Passkey | None]:
        """``user_id``'s passkey with this credential id (either encoding), or ``None``."""
        authenticator = yield from self.authenticator.steps(credential_id)
        if authenticator is None or authenticator.user_id != validate_id(user_id, "user_id"):
            return None
        return (yield from self.passkey.steps(authenticator))

    @twin
    def find(self, credential_id: str) -> Steps[Passkey | None]:
        """The passkey with this credential id, whoever owns it (for operators), or ``None``."""
        authenticator = yield from self.authenticator.steps(credential_id)
        return None if authenticator is None else (yield from self.passkey.steps(authenticator))

    @twin
    def authenticator(self, credential_id: str | bytes) -> Steps[Authenticator | None]:
        """The stored ``Authenticator`` for a credential id in any encoding, or ``None``."""
        stored = stored_credential_id(credential_id)
        return (yield from self._store(Adapter.get_authenticator, stored))

    @twin
    def passkey(self, authenticator: Authenticator) -> Steps[Passkey]:
        """The listing of one stored authenticator, with its metadata."""
        meta = yield from self._store(Adapter.get_credential, self._metadata_id(authenticator))
        return self._passkey(authenticator, meta)

    @twin
    def metadata(self, authenticator: Authenticator) -> Steps[dict[str, Any]]:
        """The metadata stored for a passkey (``{}`` for one registered elsewhere)."""
        meta = yield from self._store(Adapter.get_credential, self._metadata_id(authenticator))
        return {} if meta is None else dict(meta.data)

    # -- writing -------------------------------------------------------------

    @twin
    def add(
        self,
        user_id: str,
        *,
        credential_id: bytes,
        public_key: bytes,
        counter: int,
        device_type: str,
        backed_up: bool,
        transports: Iterable[str] = (),
        name: str | None = None,
        aaguid: str | None = None,
        user_handle: bytes | None = None,
    ) -> Steps[Passkey]:
        """Store a verified new passkey as Auth.js would, plus its metadata.

        ``ConflictError`` if the credential id is registered already (to
        anyone); nothing is left half-written on failure.
        """
        validate_id(user_id, "user_id")
        if device_type not in DEVICE_TYPES:
            raise ValidationError(f"device_type must be one of {DEVICE_TYPES}")
        label = DEFAULT_NAME if name is None else check_name(name)
        stored_id = stored_credential_id(credential_id)
        joined = ",".join(transports) or None
        account = Account(
            user_id=user_id,
            type="webauthn",
            provider=self.provider,
            provider_account_id=stored_id,
        )
        authenticator = Authenticator(
            credential_id=stored_id,
            user_id=user_id,
            provider_account_id=stored_id,
            credential_public_key=base64.b64encode(public_key).decode("ascii"),
            counter=counter,
            credential_device_type=device_type,
            credential_backed_up=backed_up,
            transports=joined,
        )
        now = clock.now()
        data: dict[str, Any] = {
            "credential_id": stored_id,
            "name": label,
            "registered_at": dump_datetime(now),
            "last_used_at": None,
            "aaguid": aaguid,
            "user_handle": None if user_handle is None else _urlsafe(user_handle),
            "counter": counter,
            "backed_up": backed_up,
        }
        if (yield from self._store(Adapter.get_authenticator, stored_id)) is not None:
            raise ConflictError("this passkey is registered already")
        # Account first: its (provider, id) key is unique, so of two racing
        # registrations of one credential exactly one gets past this line.
        yield from self._store(Adapter.link_account, account)
        try:
            yield from self._store(Adapter.create_authenticator, authenticator)
            meta = yield from self._store(
                Adapter.create_credential,
                Credential(
                    id=self._metadata_id(authenticator),
                    user_id=user_id,
                    type=METADATA_TYPE,
                    data=data,
                ),
            )
        except BaseException:
            yield from self._store(Adapter.delete_authenticator, stored_id)
            yield from self._store(Adapter.unlink_account, self.provider, stored_id)
            raise
        return self._passkey(authenticator, meta)

    @twin
    def rename(self, user_id: str, credential_id: str, name: str) -> Steps[Passkey]:
        """Give ``user_id``'s passkey a new name (``NotFoundError`` if it is not theirs)."""
        label = check_name(name)
        authenticator = yield from self._owned(user_id, credential_id)
        meta = yield from self._change_metadata(authenticator, lambda data: {**data, "name": label})
        return self._passkey(authenticator, meta)

    @twin
    def delete(self, user_id: str, credential_id: str) -> Steps[Passkey | None]:
        """Remove ``user_id``'s passkey with its account and metadata; ``None`` if not theirs."""
        authenticator = yield from self.authenticator.steps(credential_id)
        if authenticator is None or authenticator.user_id != validate_id(user_id, "user_id"):
            return None
        passkey = yield from self.passkey.steps(authenticator)
        # The authenticator first: without it the passkey signs in nowhere.
        removed = yield from self._store(Adapter.delete_authenticator, authenticator.credential_id)
        if removed is None:
            return None
        account_id = authenticator.provider_account_id
        for provider in dict.fromkeys((self.provider, *_KNOWN_PROVIDERS)):
            account = yield from self._store(Adapter.get_account, provider, account_id)
            if account is not None and account.type == "webauthn" and account.user_id == user_id:
                yield from self._store(Adapter.unlink_account, provider, account_id)
        yield from self._store(Adapter.delete_credential, self._metadata_id(authenticator))
        return passkey

    @twin
    def record_use(
        self, authenticator: Authenticator, *, counter: int, backed_up: bool
    ) -> Steps[Passkey | None]:
        """Record a verified sign-in: counter, backup state, last use. ``None``: counter regressed.

        The check and the write are one compare-and-set on the metadata, so of
        two sign-ins racing with one counter value only one passes. A
        regression is counted in the metadata (``counter_regressions``) and
        nothing else changes. The authenticator's own counter (what Auth.js
        reads) follows.
        """
        regressed = False
        now = dump_datetime(clock.now())

        def use(data: dict[str, Any]) -> dict[str, Any]:
            nonlocal regressed
            seen = data.get("counter")
            stored = max(authenticator.counter, seen if isinstance(seen, int) else 0)
            regressed = counter_regressed(stored, counter)
            if regressed:
                count = data.get("counter_regressions")
                return {
                    **data,
                    "counter_regressions": (count if isinstance(count, int) else 0) + 1,
                    "last_regression_at": now,
                }
            return {**data, "counter": counter, "backed_up": backed_up, "last_used_at": now}

        meta = yield from self._change_metadata(authenticator, use)
        if regressed:
            return None
        if counter != authenticator.counter:
            try:
                authenticator = yield from self._store(
                    Adapter.update_authenticator_counter, authenticator.credential_id, counter
                )
            except NotFoundError:
                return None  # deleted while signing in
        return self._passkey(authenticator, meta)

    # -- user handles ----------------------------------------------------------

    @twin
    def user_handle(self, user_id: str) -> Steps[bytes | None]:
        """The WebAuthn user handle of ``user_id``, or ``None`` if none was made yet."""
        handle_id = slot_id(USER_HANDLE_TYPE, validate_id(user_id))
        found = yield from self._store(Adapter.get_credential, handle_id)
        return None if found is None else self._handle_of(found)

    @twin
    def ensure_user_handle(self, user_id: str) -> Steps[bytes]:
        """The user's handle, made (32 random bytes) and stored on first use; stable after.

        ``NotFoundError`` if there is no such user.
        """
        made = secrets.token_bytes(_USER_HANDLE_BYTES)
        credential = yield from change_slot(
            self.adapter,
            user_id=validate_id(user_id, "user_id"),
            type=USER_HANDLE_TYPE,
            id=slot_id(USER_HANDLE_TYPE, user_id),
            change=lambda current: None if current is not None else {"handle": _urlsafe(made)},
        )
        assert credential is not None
        return self._handle_of(credential)

    # -- internals -----------------------------------------------------------

    @staticmethod
    def _handle_of(credential: Credential) -> bytes:
        handle = credential.data.get("handle")
        if not isinstance(handle, str):
            raise ValidationError("the stored passkey user handle is unreadable")
        return credential_id_bytes(handle)

    def _owned(self, user_id: str, credential_id: str) -> Steps[Authenticator]:
        authenticator = yield from self.authenticator.steps(credential_id)
        if authenticator is None or authenticator.user_id != validate_id(user_id, "user_id"):
            raise NotFoundError("no such passkey")
        return authenticator

    @staticmethod
    def _metadata_id(authenticator: Authenticator) -> str:
        return slot_id(METADATA_TYPE, authenticator.user_id, authenticator.credential_id)

    def _change_metadata(
        self, authenticator: Authenticator, change: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> Steps[Credential | None]:
        """Compare-and-set the metadata; a passkey registered elsewhere gets it on first change."""

        def apply(current: Credential | None) -> dict[str, Any]:
            base = {"credential_id": authenticator.credential_id} if current is None else {}
            return change({**base, **(current.data if current is not None else {})})

        return (
            yield from change_slot(
                self.adapter,
                user_id=authenticator.user_id,
                type=METADATA_TYPE,
                id=self._metadata_id(authenticator),
                change=apply,
            )
        )

    @staticmethod
    def _passkey(authenticator: Authenticator, meta: Credential | None) -> Passkey:
        data = {} if meta is None else meta.data
        try:
            url_id = _urlsafe(credential_id_bytes(authenticator.credential_id))
        except ValidationError:  # a row some other app wrote in another encoding
            url_id = authenticator.credential_id
        backed_up = data.get("backed_up")
        name = data.get("name")
        aaguid = data.get("aaguid")
        regressions = data.get("counter_regressions")
        return Passkey(
            id=url_id,
            credential_id=authenticator.credential_id,
            user_id=authenticator.user_id,
            name=name if isinstance(name, str) and name else DEFAULT_NAME,
            created_at=_when(data.get("registered_at")),
            last_used_at=_when(data.get("last_used_at")),
            device_type=authenticator.credential_device_type,
            backed_up=backed_up
            if isinstance(backed_up, bool)
            else authenticator.credential_backed_up,
            transports=tuple(t for t in (authenticator.transports or "").split(",") if t),
            counter=authenticator.counter,
            aaguid=aaguid if isinstance(aaguid, str) else None,
            counter_regressions=regressions if isinstance(regressions, int) else 0,
        )


def _when(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return load_datetime(value)
    except ValidationError:
        return None


class PasskeyStore(PasskeyStoreCore[Adapter]):
    """Passkeys' storage on a sync store (``auth_store.aio.PasskeyStore`` is the async twin)."""
