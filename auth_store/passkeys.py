"""Passkeys (WebAuthn): registration, sign-in, second factor and management, on any adapter.

Needs the ``passkeys`` extra (``pip install 'auth-store[passkeys]'``); the
ceremonies themselves are the ``webauthn`` package's (py_webauthn). Passkeys
are stored as Auth.js stores them (``auth_store.passkey_store``), so an
Auth.js app on the same database and this package use each other's passkeys.

Every ceremony has two steps, an *options* call that returns a
``PasskeyChallenge`` and a *verify* call that takes the browser's JSON
response back::

    challenge = passkeys.sign_in_options()            # JSON for the browser...
    cookie = challenge.state                          # ...and a value for a cookie
    result = passkeys.sign_in(response_json, state=cookie)

Rules kept here, once:

- **Challenges** are 32 random bytes, single-use and short-lived (5 minutes
  by default). Each is stored as a verification token (its SHA-256 under an
  identifier derived from a random *binding*) and spent with the store's
  atomic ``use_verification_token``; ``state`` is the binding, signed with
  the app's ``Signer``, for an HttpOnly cookie. A response is accepted only
  with the state of the browser that asked, once, before expiry.
- **Registration** is for a signed-in user, under a user handle of 32 random
  bytes made once per user (never the e-mail), excluding the user's
  existing passkeys, preferring a discoverable credential and user
  verification, attestation ``none`` by default.
- **Sign-in** works without a name (discoverable credentials, also in the
  browser's autofill: conditional UI) and with an e-mail (the user's
  passkeys are listed to the browser). An unknown address gets a stable
  made-up list instead of an empty one, so the answer does not say who has
  an account. A signature counter that goes backwards is refused and logged
  (``passkey_counter_regression``); counters that stay at 0 (synced
  passkeys) are fine.
- **Failures look alike**: an unknown passkey, a bad signature, a wrong
  origin, a disabled or throttled user are all one
  ``PasskeyVerificationError`` with one message; failed sign-ins count
  towards the user's attempt limit (kind ``passkey``).
- **Second factor and re-authentication** verify an assertion of one given
  user's passkeys; ``PasskeySignIn.user_verified`` tells whether the
  authenticator verified the user (PIN, biometrics), which counts as both
  factors.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum, StrEnum
from typing import Any, TypeVar
from urllib.parse import urlsplit

try:
    from webauthn import (
        generate_authentication_options,
        generate_registration_options,
        verify_authentication_response,
        verify_registration_response,
    )
    from webauthn.helpers import options_to_json_dict
    from webauthn.helpers.cose import COSEAlgorithmIdentifier
    from webauthn.helpers.structs import (
        AttestationConveyancePreference,
        AuthenticatorAttachment,
        AuthenticatorSelectionCriteria,
        AuthenticatorTransport,
        CredentialDeviceType,
        PublicKeyCredentialDescriptor,
        ResidentKeyRequirement,
        UserVerificationRequirement,
    )
except ImportError:  # pragma: no cover - tested in a subprocess without webauthn
    raise ImportError(
        "auth_store.passkeys needs the 'passkeys' extra: pip install 'auth-store[passkeys]'"
    ) from None

from . import clock
from ._slots import slot_id
from ._twins import Steps, StoreT, Twin, twin
from .adapter import Adapter
from .attempts import CREDENTIAL_TYPE as ATTEMPTS_TYPE
from .attempts import AttemptLimiterCore
from .disabled import is_disabled
from .errors import (
    AuthStoreError,
    ConfigurationError,
    ConflictError,
    ErrorCode,
    NotFoundError,
    TooManyAttemptsError,
    ValidationError,
)
from .models import Authenticator, User, VerificationToken
from .passkey_store import (
    DEFAULT_PROVIDER,
    METADATA_TYPE,
    Passkey,
    PasskeyStoreCore,
    check_name,
    stored_credential_id,
)
from .reauth import ReauthProofs
from .signing import InvalidSignatureError, Signer
from .validation import new_id, normalize_email

__all__ = [
    "DEFAULT_ALGORITHMS",
    "DEFAULT_CHALLENGE_MAX_AGE",
    "KIND",
    "Ceremony",
    "Messages",
    "Passkey",
    "PasskeyChallenge",
    "PasskeyChallengeError",
    "PasskeyCounterError",
    "PasskeyError",
    "PasskeyExistsError",
    "PasskeyResponseError",
    "PasskeyService",
    "PasskeyServiceCore",
    "PasskeySignIn",
    "PasskeyVerificationError",
]

log = logging.getLogger(__name__)
_E = TypeVar("_E", bound=Enum)

#: The ``AttemptLimiter`` kind failed passkey ceremonies count under.
KIND = "passkey"
DEFAULT_CHALLENGE_MAX_AGE = timedelta(minutes=5)
_STATE_PURPOSE = "passkey-challenge"
_SUBJECT_PURPOSE = "passkey-subject"
_CHALLENGE_BYTES = 32
_DECOY_BYTES = 16
#: A response larger than this is refused unread (attestation certificates fit easily).
_MAX_RESPONSE_CHARS = 64 * 1024
_MAX_STATE_CHARS = 2048
_B64URL = re.compile(r"[A-Za-z0-9_-]*={0,2}")
_HOST = re.compile(
    r"(?=.{1,253}\Z)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*"
)
_TRANSPORTS = frozenset(t.value for t in AuthenticatorTransport)
#: What registration accepts unless told otherwise (py_webauthn's and SimpleWebAuthn's default).
DEFAULT_ALGORITHMS = (-8, -7, -257)  # EdDSA, ES256, RS256
#: A user id no user has: the unknown-passkey path does the same store work as a known one.
_NO_USER = "passkey-no-such-user"


class Ceremony(StrEnum):
    """What a challenge was made for; a response is accepted only for the same one."""

    REGISTER = "register"
    SIGN_IN = "sign-in"
    SECOND_FACTOR = "second-factor"
    REAUTHENTICATE = "reauthenticate"


class Messages:
    """What the service tells people (the same text whether or not a passkey exists)."""

    REGISTRATION_FAILED = "The passkey could not be registered. Please try again."
    ALREADY_REGISTERED = "This passkey is registered already."
    SIGN_IN_FAILED = "That passkey did not work. Try again, or sign in another way."
    CHALLENGE_FAILED = "The passkey request expired or was already used. Please try again."


class PasskeyError(AuthStoreError):
    """A passkey ceremony failed; ``str(error)`` is safe to show."""

    code = ErrorCode.PASSKEY_FAILED


class PasskeyResponseError(PasskeyError, ValidationError):
    """The browser's JSON is malformed (not JSON, a field missing, not base64url, too large)."""

    code = ErrorCode.PASSKEY_INVALID_RESPONSE


class PasskeyVerificationError(PasskeyError):
    """The response did not verify: unknown or someone else's passkey, bad signature, wrong
    origin or RP id, disabled or throttled user (deliberately alike)."""

    code = ErrorCode.PASSKEY_REFUSED


class PasskeyChallengeError(PasskeyVerificationError):
    """The challenge is unknown, spent, expired, or was made for another browser or ceremony."""

    code = ErrorCode.PASSKEY_CHALLENGE_INVALID


class PasskeyCounterError(PasskeyVerificationError):
    """The signature counter went backwards: the key may be cloned. Refused and logged.

    The message is the one every failed sign-in shows; ``passkey_id`` names
    the passkey (not a secret) so the app can warn its owner.
    """

    code = ErrorCode.PASSKEY_COUNTER_REGRESSED

    def __init__(self, message: str, *, passkey_id: str) -> None:
        super().__init__(message)
        self.passkey_id = passkey_id


class PasskeyExistsError(PasskeyError, ConflictError):
    """The authenticator tried to register a credential that is registered already."""

    code = ErrorCode.PASSKEY_EXISTS


@dataclass(frozen=True, kw_only=True)
class PasskeyChallenge:
    """The first step of a ceremony.

    Send ``options`` to the browser as JSON (WebAuthn Level 3's
    ``PublicKeyCredentialCreationOptionsJSON`` or
    ``PublicKeyCredentialRequestOptionsJSON``). Keep ``state`` in an HttpOnly
    cookie that lives until ``expires`` and pass it back to the verify call:
    it binds the challenge to this browser. ``mediation`` is
    ``"conditional"`` for the autofill flow (``navigator.credentials.get``
    with ``mediation: "conditional"``), else ``None``.
    """

    options: dict[str, Any]
    state: str = field(repr=False)
    expires: datetime
    mediation: str | None = None


@dataclass(frozen=True, kw_only=True)
class PasskeySignIn:
    """A verified passkey assertion: who, with which passkey, and whether the user was verified."""

    user: User
    passkey: Passkey
    user_verified: bool

    @property
    def multi_factor(self) -> bool:
        """Whether this counts as two factors: a passkey (something you have) unlocked by
        the authenticator's user verification (PIN or biometrics)."""
        return self.user_verified


@dataclass(frozen=True)
class _State:
    binding: str
    subject: str | None


@dataclass(frozen=True, kw_only=True)
class _Response:
    """A response checked for shape, in the canonical form py_webauthn parses."""

    json: dict[str, Any]
    raw_id: bytes
    challenge: bytes
    user_handle: bytes | None = None
    transports: tuple[str, ...] = ()


class PasskeyServiceCore(Twin[StoreT]):
    """Passkey ceremonies and management for the users of an ``Adapter``.

    ``rp_id`` is the domain passkeys are bound to (``example.com``; a passkey
    made for it also works on its subdomains); ``origins`` the exact origins
    the browser pages run on (``https://example.com``,
    ``https://app.example.com:8443``; ``http://`` only on localhost), each on
    ``rp_id`` or a subdomain of it. Behind a proxy give the public origin:
    nothing is taken from request headers. ``signer`` signs the challenge
    state and re-authentication proofs. ``provider`` is the Auth.js provider
    id written on passkeys' accounts. ``limiter`` (default: a fresh
    ``AttemptLimiter`` on the adapter) throttles failures.

    ``user_verification`` is what options ask for (``preferred``);
    ``require_user_verification=True`` refuses responses without it (then
    ask for ``required``). ``resident_key`` (``preferred``) asks for a
    discoverable credential; ``attestation`` (``none``) for an attestation
    statement; ``algorithms`` (COSE ids; default EdDSA, ES256, RS256)
    limits the key types accepted.
    """

    def __init__(
        self,
        adapter: StoreT,
        *,
        signer: Signer,
        rp_id: str,
        origins: str | Sequence[str],
        rp_name: str | None = None,
        provider: str = DEFAULT_PROVIDER,
        limiter: AttemptLimiterCore[StoreT] | None = None,
        challenge_max_age: timedelta = DEFAULT_CHALLENGE_MAX_AGE,
        user_verification: str = "preferred",
        require_user_verification: bool = False,
        resident_key: str = "preferred",
        attestation: str = "none",
        algorithms: Sequence[int] | None = None,
        proofs: ReauthProofs | None = None,
    ) -> None:
        super().__init__(adapter)
        self.signer = signer
        self.rp_id = _check_rp_id(rp_id)
        self.origins = _check_origins(origins, self.rp_id)
        self.rp_name = rp_name or self.rp_id
        self.store: PasskeyStoreCore[StoreT] = self._twin(PasskeyStoreCore)(
            adapter, provider=provider
        )
        self.limiter: AttemptLimiterCore[StoreT] = limiter or self._twin(AttemptLimiterCore)(
            adapter
        )
        if not isinstance(challenge_max_age, timedelta) or not (
            timedelta(seconds=10) <= challenge_max_age <= timedelta(hours=1)
        ):
            raise ConfigurationError("challenge_max_age must be from 10 seconds to 1 hour")
        self.challenge_max_age = challenge_max_age
        self.user_verification = _choice(UserVerificationRequirement, user_verification)
        if require_user_verification and self.user_verification is not (
            UserVerificationRequirement.REQUIRED
        ):
            raise ConfigurationError(
                "require_user_verification=True needs user_verification='required'"
            )
        self.require_user_verification = require_user_verification
        self.resident_key = _choice(ResidentKeyRequirement, resident_key)
        self.attestation = _choice(AttestationConveyancePreference, attestation)
        try:
            self.algorithms = [COSEAlgorithmIdentifier(a) for a in algorithms or DEFAULT_ALGORITHMS]
        except ValueError:
            raise ConfigurationError(
                "algorithms must be COSE algorithm ids (-7, -8, -257)"
            ) from None
        self.proofs = proofs or ReauthProofs(signer)

    def __repr__(self) -> str:
        backend = getattr(self.adapter, "backend", "?")
        return f"{type(self).__name__}({backend}, rp_id={self.rp_id!r})"

    # -- registration ----------------------------------------------------------

    @twin
    def registration_options(
        self, user: User, *, authenticator_attachment: str | None = None
    ) -> Steps[PasskeyChallenge]:
        """Options to register a new passkey for the signed-in ``user``.

        ``authenticator_attachment`` (``platform``, ``cross-platform``) narrows
        which authenticators the browser offers.
        """
        user_id = user.id
        if is_disabled(user):
            raise PasskeyVerificationError(Messages.REGISTRATION_FAILED)
        attachment = (
            None
            if authenticator_attachment is None
            else _choice(AuthenticatorAttachment, authenticator_attachment, error=ValidationError)
        )
        handle = yield from self.store.ensure_user_handle.steps(user_id)
        existing = yield from self._store(Adapter.list_authenticators_by_user_id, user_id)
        challenge = secrets.token_bytes(_CHALLENGE_BYTES)
        options = generate_registration_options(
            rp_id=self.rp_id,
            rp_name=self.rp_name,
            user_name=user.email,
            user_id=handle,
            user_display_name=user.name or user.email,
            challenge=challenge,
            timeout=self._timeout_ms,
            attestation=self.attestation,
            authenticator_selection=AuthenticatorSelectionCriteria(
                authenticator_attachment=attachment,
                resident_key=self.resident_key,
                user_verification=self.user_verification,
            ),
            exclude_credentials=self._descriptors(existing),
            supported_pub_key_algs=self.algorithms,
        )
        return (yield from self._challenge(Ceremony.REGISTER, challenge, options, subject=user_id))

    @twin
    def register(
        self,
        user: User,
        response: str | bytes | Mapping[str, Any],
        *,
        state: str | None,
        name: str | None = None,
    ) -> Steps[Passkey]:
        """Verify a registration response for ``user`` and store the new passkey.

        ``state`` is ``PasskeyChallenge.state`` from ``registration_options``
        for the same user. Raises ``PasskeyResponseError`` (malformed),
        ``PasskeyChallengeError`` (expired, spent, another browser's),
        ``PasskeyVerificationError`` (did not verify) or
        ``PasskeyExistsError`` (registered already).
        """
        user_id = user.id
        label = None if name is None else check_name(name)
        parsed = _parse_registration(response)
        bound = yield from self._spend(Ceremony.REGISTER, state, parsed.challenge)
        if bound.subject is None or not self._subject_is(Ceremony.REGISTER, bound, user_id):
            raise PasskeyChallengeError(Messages.CHALLENGE_FAILED)
        if is_disabled(user):
            raise PasskeyVerificationError(Messages.REGISTRATION_FAILED)
        try:
            verified = verify_registration_response(
                credential=parsed.json,
                expected_challenge=parsed.challenge,
                expected_rp_id=self.rp_id,
                expected_origin=list(self.origins),
                require_user_verification=self.require_user_verification,
                supported_pub_key_algs=self.algorithms,
            )
        except Exception as exc:  # py_webauthn raises many kinds; none may escape
            _refused("registration", exc)
            raise PasskeyVerificationError(Messages.REGISTRATION_FAILED) from None
        if not hmac.compare_digest(verified.credential_id, parsed.raw_id):
            raise PasskeyVerificationError(Messages.REGISTRATION_FAILED)
        user_handle = yield from self.store.user_handle.steps(user_id)
        try:
            return (
                yield from self.store.add.steps(
                    user_id,
                    credential_id=verified.credential_id,
                    public_key=verified.credential_public_key,
                    counter=verified.sign_count,
                    device_type=(
                        "multiDevice"
                        if verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE
                        else "singleDevice"
                    ),
                    backed_up=verified.credential_backed_up,
                    transports=parsed.transports,
                    name=label,
                    aaguid=verified.aaguid,
                    user_handle=user_handle,
                )
            )
        except ConflictError:
            raise PasskeyExistsError(Messages.ALREADY_REGISTERED) from None

    # -- sign-in ---------------------------------------------------------------

    @twin
    def sign_in_options(
        self, email: str | None = None, *, conditional: bool = False
    ) -> Steps[PasskeyChallenge]:
        """Options to sign in with a passkey.

        Without ``email`` the browser offers every passkey it holds for this
        site (discoverable credentials); ``conditional=True`` flags the same
        options for the autofill of the e-mail field (``mediation`` is
        ``"conditional"``). With ``email`` the options list that user's
        passkeys; for an address without an account (or without passkeys) a
        made-up list that stays the same for that address, so the answer is
        alike either way. A malformed address is a ``ValidationError``.
        """
        subject: str | None = None
        allow: list[PublicKeyCredentialDescriptor] = []
        if email is not None:
            if conditional:
                raise ValidationError("conditional sign-in takes no e-mail: the browser offers it")
            subject, allow = yield from self._allowed_for(normalize_email(email))
        challenge = secrets.token_bytes(_CHALLENGE_BYTES)
        options = generate_authentication_options(
            rp_id=self.rp_id,
            challenge=challenge,
            timeout=self._timeout_ms,
            allow_credentials=allow,
            user_verification=self.user_verification,
        )
        return (
            yield from self._challenge(
                Ceremony.SIGN_IN,
                challenge,
                options,
                subject=subject,
                mediation="conditional" if conditional else None,
            )
        )

    @twin
    def sign_in(
        self, response: str | bytes | Mapping[str, Any], *, state: str | None
    ) -> Steps[PasskeySignIn]:
        """Verify a sign-in response; return who signed in.

        ``state`` is ``PasskeyChallenge.state`` from ``sign_in_options``.
        Raises ``PasskeyResponseError`` (malformed), ``PasskeyChallengeError``
        (expired, spent, another browser's) or ``PasskeyVerificationError``
        (everything else, alike; ``PasskeyCounterError`` when the counter
        went backwards). A throttled user fails like any other failure.
        Whether this is the whole sign-in (``multi_factor``) or the first
        step of two is the caller's decision.
        """
        parsed = _parse_assertion(response)
        bound = yield from self._spend(Ceremony.SIGN_IN, state, parsed.challenge)
        return (yield from self._verify_assertion(Ceremony.SIGN_IN, parsed, bound, expected=None))

    # -- second factor and re-authentication -------------------------------------

    @twin
    def second_factor_options(self, user: User) -> Steps[PasskeyChallenge]:
        """Options for the second step of a sign-in by ``user`` (first factor passed).

        ``NotFoundError`` if the user has no passkey (don't offer the method then).
        """
        return (yield from self._user_options(Ceremony.SECOND_FACTOR, user))

    @twin
    def verify_second_factor(
        self, user: User, response: str | bytes | Mapping[str, Any], *, state: str | None
    ) -> Steps[PasskeySignIn]:
        """Verify that ``user`` (and nobody else) answered with one of their passkeys.

        As ``sign_in``, except that the user is known: a throttled user gets
        ``TooManyAttemptsError`` (with ``retry_after``), and every failure
        counts towards their limit.
        """
        parsed = _parse_assertion(response)
        bound = yield from self._spend(Ceremony.SECOND_FACTOR, state, parsed.challenge)
        return (
            yield from self._verify_assertion(Ceremony.SECOND_FACTOR, parsed, bound, expected=user)
        )

    @twin
    def reauthentication_options(self, user: User) -> Steps[PasskeyChallenge]:
        """Options for the signed-in ``user`` to confirm it's them before a security change."""
        return (yield from self._user_options(Ceremony.REAUTHENTICATE, user))

    @twin
    def reauthenticate(
        self,
        user: User,
        response: str | bytes | Mapping[str, Any],
        *,
        state: str | None,
        session_id: str | None = None,
    ) -> Steps[str]:
        """Verify ``user``'s passkey assertion and return a re-authentication proof.

        Fails as ``verify_second_factor`` does. Pass the proof to ``delete``
        (or any change that checks ``self.proofs``); with ``session_id`` it is
        good only in that session.
        """
        parsed = _parse_assertion(response)
        bound = yield from self._spend(Ceremony.REAUTHENTICATE, state, parsed.challenge)
        yield from self._verify_assertion(Ceremony.REAUTHENTICATE, parsed, bound, expected=user)
        return self.proofs.issue(user, "passkey", session_id=session_id)

    # -- management ------------------------------------------------------------

    @twin
    def rename(self, user: User, credential_id: str, name: str) -> Steps[Passkey]:
        """Rename one of ``user``'s passkeys (``NotFoundError`` if it is not theirs)."""
        return (yield from self.store.rename.steps(user.id, credential_id, name))

    @twin
    def delete(
        self,
        user: User,
        credential_id: str,
        *,
        proof: str | None,
        session_id: str | None = None,
    ) -> Steps[Passkey]:
        """Remove one of ``user``'s passkeys; needs a fresh re-authentication ``proof``.

        The proof comes from ``reauthenticate`` (another passkey) or
        ``self.proofs.with_password``. Raises
        ``ReauthenticationRequiredError`` without a valid proof (checked
        first) and ``NotFoundError`` if the passkey is not the user's.
        """
        self.proofs.check(user, proof, session_id=session_id)
        deleted = yield from self.store.delete.steps(user.id, credential_id)
        if deleted is None:
            raise NotFoundError("no such passkey")
        return deleted

    # -- internals -------------------------------------------------------------

    @property
    def _timeout_ms(self) -> int:
        return int(self.challenge_max_age.total_seconds() * 1000)

    def _challenge(
        self,
        ceremony: Ceremony,
        challenge: bytes,
        options: Any,
        *,
        subject: str | None,
        mediation: str | None = None,
    ) -> Steps[PasskeyChallenge]:
        """Store the challenge under a new binding; sign the binding as the state."""
        binding = secrets.token_urlsafe(32)
        expires = clock.now() + self.challenge_max_age
        yield from self._store(
            Adapter.create_verification_token,
            VerificationToken(
                identifier=_identifier(ceremony, binding),
                token=_digest(challenge),
                expires=expires,
            ),
        )
        mac = None if subject is None else self._subject_mac(ceremony, binding, subject)
        state = self.signer.dumps(
            {"b": binding, "k": ceremony.value, "s": mac}, purpose=_STATE_PURPOSE
        )
        return PasskeyChallenge(
            options=options_to_json_dict(options),
            state=state,
            expires=expires,
            mediation=mediation,
        )

    def _spend(self, ceremony: Ceremony, state: str | None, challenge: bytes) -> Steps[_State]:
        """Check the state and spend its challenge (``PasskeyChallengeError`` if not possible)."""
        if not isinstance(state, str) or not state or len(state) > _MAX_STATE_CHARS:
            raise PasskeyChallengeError(Messages.CHALLENGE_FAILED)
        try:
            data = self.signer.loads(state, purpose=_STATE_PURPOSE, max_age=self.challenge_max_age)
        except InvalidSignatureError:
            raise PasskeyChallengeError(Messages.CHALLENGE_FAILED) from None
        binding = data.get("b") if isinstance(data, dict) else None
        subject = data.get("s") if isinstance(data, dict) else None
        if (
            not isinstance(binding, str)
            or data.get("k") != ceremony.value
            or not (subject is None or isinstance(subject, str))
        ):
            raise PasskeyChallengeError(Messages.CHALLENGE_FAILED)
        used = yield from self._store(
            Adapter.use_verification_token, _identifier(ceremony, binding), _digest(challenge)
        )
        if used is None or used.expires <= clock.now():
            raise PasskeyChallengeError(Messages.CHALLENGE_FAILED)
        return _State(binding, subject)

    def _subject_mac(self, ceremony: Ceremony, binding: str, user_id: str) -> str:
        """A MAC tying a challenge to a user without saying which (the state is readable)."""
        signed = self.signer.sign(_subject(ceremony, binding, user_id), purpose=_SUBJECT_PURPOSE)
        return signed.rsplit(".", 1)[1]

    def _subject_is(self, ceremony: Ceremony, bound: _State, user_id: str) -> bool:
        if bound.subject is None:
            return False
        value = f"{_subject(ceremony, bound.binding, user_id)}.{bound.subject}"
        try:
            self.signer.unsign(value, purpose=_SUBJECT_PURPOSE)
        except InvalidSignatureError:
            return False
        return True

    def _allowed_for(self, email: str) -> Steps[tuple[str, list[PublicKeyCredentialDescriptor]]]:
        """The subject and allowCredentials for an e-mail: real ones, or a stable decoy."""
        user = yield from self._store(Adapter.get_user_by_email, email)
        user_id = None if user is None else user.id
        allow = self._descriptors(
            (yield from self._store(Adapter.list_authenticators_by_user_id, user_id or _NO_USER))
        )
        if user_id is None or not allow:
            decoy = hmac.new(
                self.signer.secret_keys[-1].encode(),
                b"auth-store passkey decoy\x00" + email.encode(),
                hashlib.sha256,
            ).digest()[:_DECOY_BYTES]
            hybrid = [AuthenticatorTransport.HYBRID, AuthenticatorTransport.INTERNAL]
            return new_id(), [PublicKeyCredentialDescriptor(id=decoy, transports=hybrid)]
        return user_id, allow

    def _user_options(self, ceremony: Ceremony, user: User) -> Steps[PasskeyChallenge]:
        user_id = user.id
        allow = self._descriptors(
            (yield from self._store(Adapter.list_authenticators_by_user_id, user_id))
        )
        if not allow:
            raise NotFoundError("this user has no passkey")
        challenge = secrets.token_bytes(_CHALLENGE_BYTES)
        options = generate_authentication_options(
            rp_id=self.rp_id,
            challenge=challenge,
            timeout=self._timeout_ms,
            allow_credentials=allow,
            user_verification=self.user_verification,
        )
        return (yield from self._challenge(ceremony, challenge, options, subject=user_id))

    @staticmethod
    def _descriptors(
        authenticators: Sequence[Authenticator],
    ) -> list[PublicKeyCredentialDescriptor]:
        """Authenticators as credential descriptors (rows that don't decode are skipped)."""
        found = []
        for a in authenticators:
            try:
                raw = base64.b64decode(a.credential_id, validate=True)
            except (binascii.Error, ValueError):
                continue
            transports = [
                AuthenticatorTransport(t)
                for t in (a.transports or "").split(",")
                if t in _TRANSPORTS
            ]
            found.append(PublicKeyCredentialDescriptor(id=raw, transports=transports or None))
        return found

    def _verify_assertion(
        self, ceremony: Ceremony, parsed: _Response, bound: _State, *, expected: User | None
    ) -> Steps[PasskeySignIn]:
        """The shared second half of sign-in, second factor and re-authentication."""
        authenticator = yield from self._store(
            Adapter.get_authenticator, stored_credential_id(parsed.raw_id)
        )
        owner = yield from self._store(
            Adapter.get_user, _NO_USER if authenticator is None else authenticator.user_id
        )
        counted = expected if expected is not None else owner
        try:
            if counted is None:
                yield from self._count_for_nobody()
            else:
                # Counted as failed before the check, cleared on success (see AttemptLimiter).
                yield from self.limiter.begin.steps(counted.id, KIND)
        except TooManyAttemptsError:
            if expected is not None:
                raise  # the person is identified already: say "retry in N s"
            raise PasskeyVerificationError(Messages.SIGN_IN_FAILED) from None
        if authenticator is None or owner is None:
            raise PasskeyVerificationError(Messages.SIGN_IN_FAILED)
        if expected is not None and owner.id != expected.id:
            raise PasskeyVerificationError(Messages.SIGN_IN_FAILED)
        if bound.subject is not None and not self._subject_is(ceremony, bound, owner.id):
            raise PasskeyVerificationError(Messages.SIGN_IN_FAILED)
        if is_disabled(owner):
            raise PasskeyVerificationError(Messages.SIGN_IN_FAILED)
        discoverable = ceremony is Ceremony.SIGN_IN and bound.subject is None
        if not (
            yield from self._user_handle_matches(authenticator, parsed.user_handle, discoverable)
        ):
            raise PasskeyVerificationError(Messages.SIGN_IN_FAILED)
        try:
            verified = verify_authentication_response(
                credential=parsed.json,
                expected_challenge=parsed.challenge,
                expected_rp_id=self.rp_id,
                expected_origin=list(self.origins),
                credential_public_key=base64.b64decode(authenticator.credential_public_key),
                # 0 turns py_webauthn's own counter check off: ours below is atomic and
                # tells a regression (a cloned key) apart from a bad signature.
                credential_current_sign_count=0,
                require_user_verification=self.require_user_verification,
            )
        except Exception as exc:  # py_webauthn raises many kinds; none may escape
            _refused(ceremony.value, exc)
            raise PasskeyVerificationError(Messages.SIGN_IN_FAILED) from None
        try:
            passkey = yield from self.store.record_use.steps(
                authenticator,
                counter=verified.new_sign_count,
                backed_up=verified.credential_backed_up,
            )
        except NotFoundError:  # deleted meanwhile
            raise PasskeyVerificationError(Messages.SIGN_IN_FAILED) from None
        if passkey is None:
            listed = yield from self.store.passkey.steps(authenticator)
            log.warning(
                "passkey signature counter went backwards (a cloned authenticator?): "
                "user=%s passkey=%s stored=%d received=%d; sign-in refused",
                owner.id,
                listed.id,
                authenticator.counter,
                verified.new_sign_count,
                extra={
                    "event": "passkey_counter_regression",
                    "user_id": owner.id,
                    "passkey_id": listed.id,
                },
            )
            raise PasskeyCounterError(Messages.SIGN_IN_FAILED, passkey_id=listed.id)
        yield from self.limiter.record_success.steps(owner.id, KIND)
        return PasskeySignIn(user=owner, passkey=passkey, user_verified=verified.user_verified)

    def _count_for_nobody(self) -> Steps[None]:
        """The store work a known passkey's failure costs, for a passkey nobody has.

        ``begin``'s read and write (here a compare-and-set that matches
        nothing) and the metadata read of the user-handle check: a known
        passkey and an unknown one cost the same round trips.
        """
        missing = slot_id(ATTEMPTS_TYPE, _NO_USER, KIND)
        yield from self._store(Adapter.get_credential, missing)
        yield from self._store(Adapter.update_credential, missing, {}, expected_version=1)
        yield from self._store(Adapter.get_credential, slot_id(METADATA_TYPE, _NO_USER))

    def _user_handle_matches(
        self, authenticator: Authenticator, received: bytes | None, discoverable: bool
    ) -> Steps[bool]:
        """WebAuthn's user-handle check, for passkeys registered here.

        A passkey registered by an Auth.js app carries a random handle Auth.js
        never stores; the credential's owner is who the row says.
        """
        recorded = (yield from self.store.metadata.steps(authenticator)).get("user_handle")
        if not isinstance(recorded, str):
            return True
        if received is None:
            return not discoverable
        try:
            expected = _b64url_decode(recorded)
        except ValueError:
            return False
        return hmac.compare_digest(expected, received)

    # Last in the class: below it, ``list`` would name this method, not the type.
    @twin
    def list(self, user: User) -> Steps[list[Passkey]]:
        """``user``'s passkeys: name, created, last used, device type, backed up."""
        return (yield from self.store.list.steps(user.id))


class PasskeyService(PasskeyServiceCore[Adapter]):
    """Passkeys on a sync store (``auth_store.aio.PasskeyService`` is the async twin)."""


# -- the browser's JSON ----------------------------------------------------------


def _load(response: object) -> dict[str, Any]:
    if isinstance(response, bytes | bytearray):
        if len(response) > _MAX_RESPONSE_CHARS:
            raise PasskeyResponseError("malformed passkey response: too large")
        try:
            response = bytes(response).decode("utf-8")
        except UnicodeDecodeError:
            raise PasskeyResponseError("malformed passkey response: not UTF-8") from None
    if isinstance(response, str):
        if len(response) > _MAX_RESPONSE_CHARS:
            raise PasskeyResponseError("malformed passkey response: too large")
        try:
            response = json.loads(response)
        except (ValueError, RecursionError):
            raise PasskeyResponseError("malformed passkey response: not JSON") from None
    if isinstance(response, Mapping):
        return dict(response)
    raise PasskeyResponseError("malformed passkey response: not a JSON object")


def _b64url_decode(text: str) -> bytes:
    if not _B64URL.fullmatch(text):
        raise ValueError("not base64url")
    bare = text.rstrip("=")
    if len(bare) % 4 == 1:
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(bare + "=" * (-len(bare) % 4))


def _b64url_encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _field(container: Mapping[str, Any], key: str, where: str) -> bytes:
    value = container.get(key)
    if not isinstance(value, str) or not value:
        raise PasskeyResponseError(f"malformed passkey response: {where}{key} is missing")
    try:
        return _b64url_decode(value)
    except (ValueError, binascii.Error):
        raise PasskeyResponseError(
            f"malformed passkey response: {where}{key} is not base64url"
        ) from None


def _common(data: dict[str, Any]) -> tuple[bytes, Mapping[str, Any], bytes, bytes]:
    """id/rawId/type/response and clientDataJSON's challenge: what both kinds share."""
    raw_id = _field(data, "rawId", "")
    if _field(data, "id", "") != raw_id:
        raise PasskeyResponseError("malformed passkey response: id and rawId differ")
    if not raw_id or len(raw_id) > 1023:
        raise PasskeyResponseError("malformed passkey response: rawId is 1 to 1023 bytes")
    if data.get("type") != "public-key":
        raise PasskeyResponseError("malformed passkey response: type is not 'public-key'")
    inner = data.get("response")
    if not isinstance(inner, Mapping):
        raise PasskeyResponseError("malformed passkey response: response is missing")
    client_data = _field(inner, "clientDataJSON", "response.")
    try:
        collected = json.loads(client_data)
    except (ValueError, RecursionError):
        raise PasskeyResponseError(
            "malformed passkey response: response.clientDataJSON is not JSON"
        ) from None
    challenge_text = collected.get("challenge") if isinstance(collected, dict) else None
    if not isinstance(challenge_text, str) or not challenge_text:
        raise PasskeyResponseError(
            "malformed passkey response: response.clientDataJSON has no challenge"
        )
    try:
        challenge = _b64url_decode(challenge_text)
    except (ValueError, binascii.Error):
        raise PasskeyResponseError(
            "malformed passkey response: the challenge is not base64url"
        ) from None
    if not isinstance(collected.get("type"), str) or not isinstance(collected.get("origin"), str):
        raise PasskeyResponseError(
            "malformed passkey response: response.clientDataJSON lacks type or origin"
        )
    attachment = data.get("authenticatorAttachment")
    if attachment is not None and not isinstance(attachment, str):
        raise PasskeyResponseError("malformed passkey response: authenticatorAttachment")
    return raw_id, inner, client_data, challenge


def _canonical(raw_id: bytes, response: dict[str, str], attachment: object) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": _b64url_encode(raw_id),
        "rawId": _b64url_encode(raw_id),
        "type": "public-key",
        "response": response,
    }
    if attachment in {a.value for a in AuthenticatorAttachment}:
        out["authenticatorAttachment"] = attachment
    return out


def _parse_assertion(response: object) -> _Response:
    """An AuthenticationResponseJSON, checked for shape (``PasskeyResponseError`` if not)."""
    data = _load(response)
    raw_id, inner, client_data, challenge = _common(data)
    authenticator_data = _field(inner, "authenticatorData", "response.")
    signature = _field(inner, "signature", "response.")
    handle_text = inner.get("userHandle")
    user_handle: bytes | None = None
    if handle_text is not None and handle_text != "":
        if not isinstance(handle_text, str):
            raise PasskeyResponseError("malformed passkey response: response.userHandle")
        user_handle = _field(inner, "userHandle", "response.")
    fields = {
        "clientDataJSON": _b64url_encode(client_data),
        "authenticatorData": _b64url_encode(authenticator_data),
        "signature": _b64url_encode(signature),
    }
    if user_handle is not None:
        fields["userHandle"] = _b64url_encode(user_handle)
    return _Response(
        json=_canonical(raw_id, fields, data.get("authenticatorAttachment")),
        raw_id=raw_id,
        challenge=challenge,
        user_handle=user_handle,
    )


def _parse_registration(response: object) -> _Response:
    """A RegistrationResponseJSON, checked for shape (``PasskeyResponseError`` if not)."""
    data = _load(response)
    raw_id, inner, client_data, challenge = _common(data)
    attestation = _field(inner, "attestationObject", "response.")
    listed = inner.get("transports", [])
    if not isinstance(listed, list) or not all(isinstance(t, str) for t in listed):
        raise PasskeyResponseError("malformed passkey response: response.transports")
    transports = tuple(sorted({t for t in listed if t in _TRANSPORTS}))
    fields = {
        "clientDataJSON": _b64url_encode(client_data),
        "attestationObject": _b64url_encode(attestation),
    }
    canonical = _canonical(raw_id, fields, data.get("authenticatorAttachment"))
    canonical["response"]["transports"] = list(transports)
    return _Response(json=canonical, raw_id=raw_id, challenge=challenge, transports=transports)


# -- small helpers -----------------------------------------------------------------


def _identifier(ceremony: Ceremony, binding: str) -> str:
    """The verification-token identifier of a challenge (the binding itself is not stored)."""
    return f"passkey-{ceremony.value}:{hashlib.sha256(binding.encode()).hexdigest()}"


def _digest(challenge: bytes) -> str:
    return hashlib.sha256(challenge).hexdigest()


def _subject(ceremony: Ceremony, binding: str, user_id: str) -> str:
    return f"{ceremony.value}:{binding}:{user_id}"


def _refused(ceremony: str, exc: Exception) -> None:
    # py_webauthn's messages name the failed check (origin, RP id hash, signature) and
    # hold no secret; %r keeps a hostile origin string on one line.
    log.info(
        "passkey %s refused: %r",
        ceremony,
        str(exc)[:200],
        extra={"event": "passkey_refused", "ceremony": ceremony},
    )


def _choice(enum: type[_E], value: str, *, error: type[AuthStoreError] = ConfigurationError) -> _E:
    try:
        return enum(value)
    except ValueError:
        known = ", ".join(repr(m.value) for m in enum)
        raise error(f"{value!r} is not one of {known}") from None


def _check_rp_id(rp_id: object) -> str:
    if not isinstance(rp_id, str) or not _HOST.fullmatch(rp_id) or rp_id[-1].isdigit():
        raise ConfigurationError(
            "rp_id must be the site's domain in lower case, without scheme or port "
            "(example.com, or localhost)"
        )
    return rp_id


def _check_origins(origins: object, rp_id: str) -> tuple[str, ...]:
    listed = [origins] if isinstance(origins, str) else origins
    if not isinstance(listed, Sequence) or not listed:
        raise ConfigurationError("origins must be one origin or a list of them")
    checked = []
    for origin in listed:
        parts = urlsplit(origin) if isinstance(origin, str) else None
        host = parts.hostname if parts is not None else None
        local = host == "localhost" or (host or "").endswith(".localhost")
        if (
            parts is None
            or host is None
            or parts.scheme not in ("https", "http")
            or (parts.scheme == "http" and not local)
            or parts.path not in ("", "/")
            or parts.query
            or parts.fragment
            or parts.username is not None
            or not (host == rp_id or host.endswith("." + rp_id))
        ):
            raise ConfigurationError(
                f"origin {origin!r:.80} must be https://HOST[:PORT] (http:// only on localhost) "
                f"with HOST {rp_id} or a subdomain of it"
            )
        checked.append(f"{parts.scheme}://{parts.netloc.lower()}")
    return tuple(dict.fromkeys(checked))
