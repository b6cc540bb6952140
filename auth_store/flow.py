"""The one sign-in flow: every decision the Flask and FastAPI integrations make.

``AuthFlow`` composes the services (passwords, TOTP, backup codes, attempt
limits, sessions, verification tokens, mail) into the steps a person takes:
sign up, sign in with a password, a second step with a TOTP or backup code,
magic links, e-mail verification, password reset and change, sign out. An
integration turns a request into one call here and the result into a
response, so both frameworks behave the same.

Rules kept here, once:

- Nothing a stranger can see says whether an account exists: sign-up,
  magic-link and reset requests answer the same for every address, and a
  password sign-in fails with one message, status and cost (see
  ``PasswordService``) for an unknown address, a wrong password, a throttled
  account and a disabled one. Only a step taken by someone the first factor
  already identified (the second step, a password change) says "retry in N s".
- Every sign-in makes a new session token and ends the one the browser
  brought (no session fixation).
- Failed password, TOTP and backup-code checks count towards the account's
  attempt limit. Anyone can fail a password check, so a completed password
  reset or magic-link sign-in (the mailbox proven) clears the password
  count: the owner always has a way in that strangers cannot block. The
  second-factor counts stay: only someone past the first factor can raise
  them, and a mailbox must not buy more guesses at a second factor.
- A disabled user (``auth_store.disabled.is_disabled``) gets in by no route: not
  by password, second step, link, provider or password reset, and a session
  they still hold does not authenticate (``SessionManager.get``).
- Until an address is verified its password does not sign in (the account
  could have been created by someone who does not own the address). When
  someone proves the address (a magic link, a password reset, a verification
  link, a provider that vouches for it), every way in set up before is
  removed, so an account set up by someone else never reaches the owner:
  passkeys, provider links, TOTP, backup codes, sessions, and the password
  unless the proof set it or confirms the sign-up that did (see
  ``_mark_verified``).
- A passkey is a first factor; unlocked with user verification (PIN,
  biometrics) it counts as both. After a password, a user with TOTP may
  finish with a passkey instead of a code; after a passkey without user
  verification, only with a code (a second passkey would be the same factor
  twice).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar

from . import clock
from ._slots import slot_id
from ._twins import Deliver, Steps, StoreT, Twin, twin
from .adapter import Adapter
from .api_keys import ApiKeyServiceCore
from .attempts import AttemptLimiterCore
from .backup_codes import CREDENTIAL_TYPE as BACKUP_CODES_KIND
from .backup_codes import BackupCodeServiceCore
from .crypto import FieldCipher, Keyring
from .disabled import is_disabled
from .errors import (
    AuthStoreError,
    ConfigurationError,
    ConflictError,
    ErrorCode,
    TooManyAttemptsError,
    ValidationError,
    as_sentence,
)
from .mail import BackgroundMailer, DeferringMailer, Mailer, Message
from .models import User
from .passkey_store import PasskeyStoreCore
from .passwords import KIND as PASSWORD_KIND
from .passwords import PasswordPolicyError, PasswordServiceCore
from .pending import PendingSecondStep, PendingSignInsCore
from .reauth import ReauthenticationRequiredError, ReauthProofs
from .sessions import ActiveSession, IssuedSession, SessionClient, SessionManagerCore
from .signing import Signer
from .tokens import TokenPurpose, TokenServiceCore
from .totp import CREDENTIAL_TYPE as TOTP_KIND
from .totp import TOTPEnrollment, TOTPServiceCore
from .validation import normalize_email

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from .passkeys import PasskeyChallenge, PasskeyServiceCore

__all__ = [
    "AuthFlow",
    "AuthFlowCore",
    "EmailNotVerifiedError",
    "FlowError",
    "FlowPaths",
    "InvalidCodeError",
    "InvalidCredentialsError",
    "InvalidEmailError",
    "InvalidLinkError",
    "Messages",
    "NotSignedInError",
    "PasswordRejectedError",
    "SecondFactorMethod",
    "SecondFactorRequired",
    "SignInResult",
    "SignedIn",
    "ThrottledError",
]

T = TypeVar("T")


class Messages:
    """What the flow tells people. The same text whether or not an account exists."""

    SIGN_UP_SENT = "Check your inbox: we sent a link to finish signing up."
    MAGIC_LINK_SENT = "Check your inbox: if this address can sign in, a sign-in link is on its way."
    RESET_SENT = "Check your inbox: if an account uses this address, a reset link is on its way."
    VERIFICATION_SENT = "Check your inbox: we sent a link to verify your address."
    INVALID_CREDENTIALS = "Wrong e-mail or password, or too many attempts. Try again later."
    WRONG_PASSWORD = "Your current password is wrong."  # noqa: S105
    INVALID_CODE = "That code is not valid. Try again."
    INVALID_LINK = "This link is invalid, already used or expired. Ask for a new one."
    SECOND_STEP_EXPIRED = "The sign-in took too long. Please sign in again."
    NOT_VERIFIED = "Verify your e-mail address first: we sent you a new link."
    THROTTLED = "Too many attempts. Try again later."
    THROTTLED_FOR = "Too many attempts. Try again in {seconds} s."
    NOT_SIGNED_IN = "Please sign in."
    PASSWORD_CHANGED = "Your password was changed. Other sessions were signed out."  # noqa: S105
    PASSWORD_RESET = "Your password was reset. Sign in with the new one."  # noqa: S105
    PASSKEY_NOT_OFFERED = (
        "You signed in with a passkey: finish with a code from your authenticator app "
        "or a backup code."
    )


class FlowError(AuthStoreError):
    """A step of the flow failed; ``str(error)`` is safe to show to the person.

    ``code`` says which failure it is; what that means on the web is the
    integrations' business (``auth_store.integrations.errors``), not the flow's.
    """

    code = ErrorCode.BAD_REQUEST


class InvalidEmailError(FlowError):
    """The address given to sign up is not an e-mail address."""

    code = ErrorCode.INVALID_EMAIL


class InvalidCredentialsError(FlowError):
    """Unknown e-mail, wrong password, throttled or disabled account (deliberately alike)."""

    code = ErrorCode.INVALID_CREDENTIALS


class InvalidCodeError(FlowError):
    """A TOTP or backup code was wrong or already used."""

    code = ErrorCode.INVALID_CODE


class InvalidLinkError(FlowError):
    """A verification token, or a pending second step, is unknown, spent or expired."""

    code = ErrorCode.INVALID_LINK


class EmailNotVerifiedError(FlowError):
    """The password was right but the address is not verified yet (a new link was sent)."""

    code = ErrorCode.EMAIL_NOT_VERIFIED


class NotSignedInError(FlowError):
    """The step needs a signed-in user."""

    code = ErrorCode.NOT_SIGNED_IN


class PasswordRejectedError(FlowError):
    """A new password does not meet the policy; the message says why."""

    code = ErrorCode.PASSWORD_REJECTED


class ThrottledError(FlowError):
    """Too many failed attempts; ``retry_after`` seconds (``None``: locked until reset).

    Raised only where the person is already identified (second step, password
    change, TOTP steps); a throttled password sign-in is an
    ``InvalidCredentialsError``, like any failed one.
    """

    code = ErrorCode.THROTTLED

    def __init__(self, message: str, *, retry_after: int | None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SecondFactorMethod(StrEnum):
    """Ways to pass the second step."""

    TOTP = "totp"
    BACKUP_CODE = "backup_code"
    PASSKEY = "passkey"


@dataclass(frozen=True, kw_only=True)
class SignedIn:
    """A finished sign-in: set ``session.token`` as the session cookie."""

    session: IssuedSession
    new_user: bool = False

    @property
    def user(self) -> User:
        """Who signed in."""
        return self.session.user

    @property
    def expires(self) -> datetime:
        """When the new session expires unless it is extended."""
        return self.session.expires


@dataclass(frozen=True, kw_only=True)
class SecondFactorRequired:
    """The first factor passed; send ``pending`` back with a code (or passkey) to finish.

    ``methods`` are the ways this user may finish: always a TOTP or backup
    code; a passkey too when they have one and the first factor was not one.
    """

    pending: str = field(repr=False)
    methods: tuple[SecondFactorMethod, ...]


SignInResult = SignedIn | SecondFactorRequired


@dataclass(frozen=True, kw_only=True)
class FlowPaths:
    """Where the links in e-mails point, relative to ``base_url``.

    Each page must show a button that posts the token back (the confirm
    step), never consume it on GET.
    """

    magic_link: str = "/auth/magic-link"
    verify_email: str = "/auth/verify-email"
    reset_password: str = "/auth/reset-password"  # noqa: S105 - a path


class AuthFlowCore(Twin[StoreT]):
    """The sign-in flow over one store; see the module docstring for its rules.

    ``signer`` signs cookies and short-lived tokens; its keys also hash
    verification tokens unless ``token_secret`` is given (use Auth.js's
    ``AUTH_SECRET`` there to share magic links with an Auth.js app).
    ``keyring`` encrypts TOTP secrets, API keys and OAuth tokens; without
    one, TOTP and API keys are unavailable.
    """

    second_step_max_age = timedelta(minutes=10)

    def __init__(
        self,
        adapter: StoreT,
        *,
        signer: Signer,
        mailer: Mailer,
        base_url: str,
        keyring: Keyring | None = None,
        app_name: str = "auth-store",
        paths: FlowPaths | None = None,
        token_secret: str | list[str] | None = None,
        session_max_age: timedelta | None = None,
        session_update_age: timedelta | None = None,
        authjs_compat: bool = False,
        require_verified_email: bool = True,
        magic_link_sign_up: bool = True,
        passwords: PasswordServiceCore[StoreT] | None = None,
        limiter: AttemptLimiterCore[StoreT] | None = None,
    ) -> None:
        super().__init__(adapter)
        self.signer = signer
        # Mail never waits in a request: a plain mailer gets a worker and a queue.
        self.mailer: Mailer = (
            mailer if isinstance(mailer, DeferringMailer) else BackgroundMailer(mailer)
        )
        self.base_url = base_url.rstrip("/")
        self.app_name = app_name
        self.paths = paths or FlowPaths()
        self.require_verified_email = require_verified_email
        self.magic_link_sign_up = magic_link_sign_up
        timing: dict[str, Any] = {}
        if session_max_age is not None:
            timing["max_age"] = session_max_age
        if session_update_age is not None:
            timing["update_age"] = session_update_age
        # Each service is the twin of this flow's kind (sync or async) on the same store.
        self.sessions: SessionManagerCore[StoreT] = self._twin(SessionManagerCore)(
            adapter, authjs_compat=authjs_compat, **timing
        )
        self.tokens: TokenServiceCore[StoreT] = self._twin(TokenServiceCore)(
            adapter, token_secret or list(signer.secret_keys)
        )
        self.limiter: AttemptLimiterCore[StoreT] = limiter or self._twin(AttemptLimiterCore)(
            adapter
        )
        self.passwords: PasswordServiceCore[StoreT] = passwords or self._twin(PasswordServiceCore)(
            adapter, limiter=self.limiter
        )
        self.keyring = keyring
        self.cipher = FieldCipher(keyring) if keyring is not None else None
        self._totp: TOTPServiceCore[StoreT] | None = None
        self._backup_codes: BackupCodeServiceCore[StoreT] | None = None
        self._api_keys: ApiKeyServiceCore[StoreT] | None = None
        self._passkeys: PasskeyServiceCore[StoreT] | None = None
        #: Re-authentication proofs ("this user just proved a factor again") for security changes.
        self.proofs = ReauthProofs(signer)
        #: Pending second steps: signed, good for ``second_step_max_age`` and one sign-in.
        self.pending_sign_ins: PendingSignInsCore[StoreT] = self._twin(PendingSignInsCore)(
            adapter, signer, max_age=self.second_step_max_age
        )
        if keyring is not None and self.cipher is not None:
            self._totp = self._twin(TOTPServiceCore)(adapter, self.cipher, limiter=self.limiter)
            self._backup_codes = self._twin(BackupCodeServiceCore)(
                adapter, keyring, limiter=self.limiter
            )
            self._api_keys = self._twin(ApiKeyServiceCore)(adapter, self.cipher)

    def __repr__(self) -> str:
        backend = getattr(self.adapter, "backend", "?")
        return f"{type(self).__name__}({backend}, base_url={self.base_url!r})"

    @property
    def totp(self) -> TOTPServiceCore[StoreT]:
        """The TOTP service (``ConfigurationError`` without a keyring)."""
        if self._totp is None:
            raise ConfigurationError("TOTP needs a keyring to encrypt its secrets")
        return self._totp

    @property
    def backup_codes(self) -> BackupCodeServiceCore[StoreT]:
        """The backup-code service (``ConfigurationError`` without a keyring)."""
        if self._backup_codes is None:
            raise ConfigurationError("backup codes need a keyring to key their hashes")
        return self._backup_codes

    @property
    def api_keys(self) -> ApiKeyServiceCore[StoreT]:
        """The API-key service (``ConfigurationError`` without a keyring)."""
        if self._api_keys is None:
            raise ConfigurationError("API keys need a keyring to encrypt them")
        return self._api_keys

    @property
    def totp_available(self) -> bool:
        """Whether TOTP can be offered (a keyring is configured)."""
        return self._totp is not None

    @property
    def passkeys(self) -> PasskeyServiceCore[StoreT]:
        """The passkey service (``ConfigurationError`` until ``enable_passkeys``)."""
        if self._passkeys is None:
            raise ConfigurationError(
                "passkeys are off: call flow.enable_passkeys(rp_id=..., origins=[...])"
            )
        return self._passkeys

    @property
    def passkeys_available(self) -> bool:
        """Whether passkeys can be offered (``enable_passkeys`` was called)."""
        return self._passkeys is not None

    def enable_passkeys(
        self, *, rp_id: str, origins: str | Sequence[str], **options: Any
    ) -> PasskeyServiceCore[StoreT]:
        """Offer passkeys: as a way in, at the second step, and to re-authenticate.

        Builds the ``PasskeyService`` on this flow's store, signer, attempt
        limiter and re-authentication proofs; ``options`` are its other
        keyword arguments (``rp_name``, ``challenge_max_age``,
        ``require_user_verification``...). Needs the ``passkeys`` extra (the
        ``ImportError`` names it). Call it before building a web integration's
        routes.
        """
        from .passkeys import PasskeyServiceCore  # the webauthn package: the passkeys extra

        options.setdefault("rp_name", self.app_name)
        self._passkeys = self._twin(PasskeyServiceCore)(
            self.adapter,
            signer=self.signer,
            rp_id=rp_id,
            origins=origins,
            limiter=self.limiter,
            proofs=self.proofs,
            **options,
        )
        return self._passkeys

    # -- reading the session -------------------------------------------------

    @twin
    def current(self, token: str | None) -> Steps[ActiveSession | None]:
        """The live session a client token names (sliding its expiry), or ``None``."""
        return (yield from self.sessions.get.steps(token))

    # -- sign up and e-mail verification ---------------------------------------

    @twin
    def sign_up(self, email: str, password: str, *, name: str | None = None) -> Steps[str]:
        """Create an account and mail a link to verify it; return the message to show.

        For an address that already has an account nothing is created; the
        owner is mailed a link to reset their password instead, and the
        caller sees the same message. The request itself checks the input
        and hashes the password, nothing more: looking the address up and
        creating the account are the mailer's to do (``_deliver``), so both
        cases cost the request the same.
        """
        email = self._email(email)
        self._check_policy(password)
        password_hash = yield from self.passwords.hash.steps(password)
        yield from self._deliver(lambda: self._sign_up_message(email, password_hash, name or None))
        return Messages.SIGN_UP_SENT

    def _sign_up_message(
        self, email: str, password_hash: str, name: str | None
    ) -> Steps[Message | None]:
        """Create the account and its verification mail, or the owner's reset mail."""
        if (yield from self._store(Adapter.get_user_by_email, email)) is None:
            try:
                user = yield from self._store(Adapter.create_user, User(email=email, name=name))
            except ConflictError:
                pass  # lost a race to another sign-up: the address is taken now
            else:
                yield from self.passwords.import_hash.steps(user.id, password_hash)
                return (yield from self._verification_message(email))
        return (
            yield from self._link_message(
                email,
                TokenPurpose.RESET_PASSWORD,
                self.paths.reset_password,
                subject=f"{self.app_name}: someone tried to sign up with your address",
                opening="Someone (perhaps you) tried to create an account with this address, but"
                " you already have one. Sign in, or choose a new password with this link:",
                closing="If it wasn't you, ignore this message: nothing changes.",
            )
        )

    @twin
    def request_email_verification(self, user: User) -> Steps[str]:
        """Mail ``user`` a new verification link; return the message to show."""
        email = user.email
        yield from self._deliver(lambda: self._verification_message(email))
        return Messages.VERIFICATION_SENT

    @twin
    def verify_email(
        self,
        email: str,
        token: str,
        *,
        previous_token: str | None = None,
        client: SessionClient | None = None,
    ) -> Steps[SignInResult]:
        """Spend a verification link: mark the address verified and sign in."""
        _, user = yield from self._spend_link(email, token, TokenPurpose.VERIFY_EMAIL)
        if user is None:
            raise InvalidLinkError(Messages.INVALID_LINK)
        user = yield from self._mark_verified(user, keep_password=True)
        return (
            yield from self._first_factor_passed(user, previous_token=previous_token, client=client)
        )

    # -- password sign-in and the second step ------------------------------------

    @twin
    def sign_in_password(
        self,
        email: str,
        password: str,
        *,
        previous_token: str | None = None,
        client: SessionClient | None = None,
    ) -> Steps[SignInResult]:
        """First factor by password.

        An unknown address, a wrong password, a throttled account and a
        disabled one all fail alike: ``InvalidCredentialsError``, one message,
        one password hash's worth of time. The attempt limit still counts and
        blocks; it just does not say so to someone who may not own the account.
        """
        try:
            email = normalize_email(email)
        except ValidationError:
            yield from self.passwords.dummy_verify.steps(password)
            raise InvalidCredentialsError(Messages.INVALID_CREDENTIALS) from None
        user = yield from self._store(Adapter.get_user_by_email, email)
        if user is None:
            yield from self.passwords.dummy_verify.steps(password)
            raise InvalidCredentialsError(Messages.INVALID_CREDENTIALS)
        try:
            ok = yield from self.passwords.verify_password.steps(user.id, password)
        except TooManyAttemptsError:
            # A 429 only for addresses that exist would tell a stranger which do.
            yield from self.passwords.dummy_verify.steps(password)
            ok = False
        if not ok or is_disabled(user):
            raise InvalidCredentialsError(Messages.INVALID_CREDENTIALS)
        if self.require_verified_email and user.email_verified is None:
            email = user.email
            yield from self._deliver(lambda: self._verification_message(email))
            raise EmailNotVerifiedError(Messages.NOT_VERIFIED)
        return (
            yield from self._first_factor_passed(user, previous_token=previous_token, client=client)
        )

    @twin
    def pending_user(self, pending: str | None) -> Steps[User]:
        """The user a pending second step belongs to (``InvalidLinkError`` if stale)."""
        return (yield from self._pending(pending))[0]

    @twin
    def pending_methods(self, pending: str | None) -> Steps[tuple[SecondFactorMethod, ...]]:
        """The ways a pending second step may be finished (``InvalidLinkError`` if stale)."""
        return (yield from self._pending(pending))[1]

    def _pending(self, pending: str | None) -> Steps[tuple[User, tuple[SecondFactorMethod, ...]]]:
        user, methods, _ = yield from self._read_pending(pending)
        return user, methods

    def _read_pending(
        self, pending: str | None
    ) -> Steps[tuple[User, tuple[SecondFactorMethod, ...], PendingSecondStep]]:
        step = self.pending_sign_ins.read(pending)
        user = (
            (yield from self._store(Adapter.get_user, step.user_id)) if step is not None else None
        )
        if step is None or user is None:
            raise InvalidLinkError(Messages.SECOND_STEP_EXPIRED)
        known = {m.value for m in SecondFactorMethod}
        methods = tuple(SecondFactorMethod(m) for m in step.methods if m in known)
        return user, methods, step

    def _spend_pending(self, step: PendingSecondStep) -> Steps[None]:
        """Use up a pending second step that just passed (it finishes one sign-in only)."""
        if not (yield from self.pending_sign_ins.spend.steps(step)):
            raise InvalidLinkError(Messages.SECOND_STEP_EXPIRED)

    @twin
    def verify_second_factor(
        self,
        pending: str | None,
        code: str,
        *,
        previous_token: str | None = None,
        client: SessionClient | None = None,
    ) -> Steps[SignedIn]:
        """Finish a sign-in with a TOTP code or a backup code.

        A user disabled since the first step fails like a wrong code (and
        spends no code). ``pending`` finishes one sign-in: used again, even
        with another valid code, it fails like an expired one.
        """
        user, _, step = yield from self._read_pending(pending)
        if is_disabled(user) or not (yield from self.check_second_factor.steps(user, code)):
            raise InvalidCodeError(Messages.INVALID_CODE)
        yield from self._spend_pending(step)
        return (yield from self._start_session(user, previous_token=previous_token, client=client))

    @twin
    def check_second_factor(self, user: User, code: str) -> Steps[bool]:
        """Whether ``code`` is a valid TOTP code or an unused backup code (spending it)."""
        user_id = user.id
        if not isinstance(code, str) or len(code) > 64:
            return False
        compact = "".join(code.split())
        if not compact or self._totp is None or self._backup_codes is None:
            return False
        totp, backup_codes = self._totp, self._backup_codes
        if _code_kind(compact) is SecondFactorMethod.TOTP:
            return (yield from self._guard(totp.verify.steps(user_id, compact)))
        return (yield from self._guard(backup_codes.consume.steps(user_id, compact)))

    # -- passkeys --------------------------------------------------------------

    @twin
    def sign_in_passkey(
        self,
        response: str | bytes | Mapping[str, Any],
        *,
        state: str | None,
        previous_token: str | None = None,
        client: SessionClient | None = None,
    ) -> Steps[SignInResult]:
        """First factor by passkey; both factors when the authenticator verified the user.

        ``state`` is the challenge state from ``passkeys.sign_in_options``.
        Refusals are ``PasskeyService.sign_in``'s (one
        ``PasskeyVerificationError`` for an unknown passkey, a bad signature, a
        throttled or disabled user...). A passkey unlocked with user
        verification (PIN, biometrics) signs in at once; without it, a user
        with TOTP is asked for a code, as after a password.
        """
        result = yield from self.passkeys.sign_in.steps(response, state=state)
        if result.multi_factor:
            return (
                yield from self._start_session(
                    result.user, previous_token=previous_token, client=client
                )
            )
        return (
            yield from self._first_factor_passed(
                result.user, previous_token=previous_token, client=client, passkey_first=True
            )
        )

    @twin
    def second_factor_passkey_options(self, pending: str | None) -> Steps[PasskeyChallenge]:
        """Options to finish a pending sign-in with one of that user's passkeys.

        ``InvalidLinkError`` for a stale pending step, ``FlowError`` when a
        passkey is not among its ``methods`` (the first factor was a passkey),
        ``NotFoundError`` when the user has no passkey (any more).
        """
        user, _ = yield from self._pending_for_passkey(pending)
        return (yield from self.passkeys.second_factor_options.steps(user))

    @twin
    def verify_second_factor_passkey(
        self,
        pending: str | None,
        response: str | bytes | Mapping[str, Any],
        *,
        state: str | None,
        previous_token: str | None = None,
        client: SessionClient | None = None,
    ) -> Steps[SignedIn]:
        """Finish a pending sign-in with a passkey instead of a code.

        Only the pending user's own passkeys pass; a throttled user gets
        ``ThrottledError``; every other refusal is the passkey service's.
        """
        user, step = yield from self._pending_for_passkey(pending)
        yield from self._guard(
            self.passkeys.verify_second_factor.steps(user, response, state=state)
        )
        yield from self._spend_pending(step)
        return (yield from self._start_session(user, previous_token=previous_token, client=client))

    def _pending_for_passkey(self, pending: str | None) -> Steps[tuple[User, PendingSecondStep]]:
        user, methods, step = yield from self._read_pending(pending)
        if SecondFactorMethod.PASSKEY not in methods:
            raise FlowError(Messages.PASSKEY_NOT_OFFERED)
        return user, step

    def _has_passkey(self, user: User) -> Steps[bool]:
        if self._passkeys is None:
            return False
        return bool((yield from self._store(Adapter.list_authenticators_by_user_id, user.id)))

    # -- re-authentication -------------------------------------------------------

    @twin
    def reauthenticate(
        self,
        user: User,
        *,
        password: str | None = None,
        code: str | None = None,
        session_id: str | None = None,
    ) -> Steps[str]:
        """A re-authentication proof (``self.proofs``) after ``user``'s password or a code.

        Give exactly one: the current ``password``, or a TOTP or backup
        ``code`` (a backup code is spent). A wrong one raises
        ``ReauthenticationRequiredError``; a throttled user ``ThrottledError``.
        With ``session_id`` the proof is good only in that session. With a
        passkey, use ``self.passkeys.reauthenticate``.
        """
        if (password is None) == (code is None):
            raise ValidationError("give either a password or a code")
        if is_disabled(user):
            raise ReauthenticationRequiredError()
        if password is not None:
            proof = self.proofs.password_steps(
                self.passwords, user, password, session_id=session_id
            )
            return (yield from self._guard(proof))
        assert code is not None
        if not (yield from self.check_second_factor.steps(user, code)):
            raise ReauthenticationRequiredError(Messages.INVALID_CODE)
        method = _code_kind("".join(code.split()))
        return self.proofs.issue(user, method.value, session_id=session_id)

    # -- magic links ---------------------------------------------------------

    @twin
    def request_magic_link(self, email: str) -> Steps[str]:
        """Mail a sign-in link; return the message to show (the same for every address)."""
        try:
            email = normalize_email(email)
        except ValidationError:
            return Messages.MAGIC_LINK_SENT
        yield from self._deliver(lambda: self._magic_link_message(email))
        return Messages.MAGIC_LINK_SENT

    def _magic_link_message(self, email: str) -> Steps[Message | None]:
        may_sign_in = (
            self.magic_link_sign_up
            or (yield from self._store(Adapter.get_user_by_email, email)) is not None
        )
        # The same work either way (a token no one gets is harmless); only the mail differs.
        message = yield from self._link_message(
            email,
            TokenPurpose.SIGN_IN,
            self.paths.magic_link,
            subject=f"Sign in to {self.app_name}",
            opening="Open this link to sign in:",
            closing="If you didn't ask for it, ignore this message.",
        )
        return message if may_sign_in else None

    @twin
    def sign_in_magic_link(
        self,
        email: str,
        token: str,
        *,
        previous_token: str | None = None,
        client: SessionClient | None = None,
    ) -> Steps[SignInResult]:
        """Spend a magic link: sign in (creating the user if sign-up by link is on)."""
        address, user = yield from self._spend_link(email, token, TokenPurpose.SIGN_IN)
        new_user = user is None
        if user is None:
            if not self.magic_link_sign_up:
                raise InvalidLinkError(Messages.INVALID_LINK)
            user = yield from self._store(
                Adapter.create_user, User(email=address, email_verified=clock.now())
            )
        else:
            user = yield from self._mark_verified(user, keep_password=False)
            # The owner's way back in, which failed guesses by others can't block.
            yield from self.limiter.reset.steps(user.id, PASSWORD_KIND)
        return (
            yield from self._first_factor_passed(
                user, previous_token=previous_token, client=client, new_user=new_user
            )
        )

    # -- password reset and change ---------------------------------------------

    @twin
    def request_password_reset(self, email: str) -> Steps[str]:
        """Mail a reset link if an account uses ``email``; the same message either way."""
        try:
            email = normalize_email(email)
        except ValidationError:
            return Messages.RESET_SENT
        yield from self._deliver(lambda: self._reset_message(email))
        return Messages.RESET_SENT

    def _reset_message(self, email: str) -> Steps[Message | None]:
        known = (yield from self._store(Adapter.get_user_by_email, email)) is not None
        # The same work either way (a token no one gets is harmless); only the mail differs.
        message = yield from self._link_message(
            email,
            TokenPurpose.RESET_PASSWORD,
            self.paths.reset_password,
            subject=f"Reset your {self.app_name} password",
            opening="Open this link to choose a new password:",
            closing="If you didn't ask for it, ignore this message: your password stays as it is.",
        )
        return message if known else None

    @twin
    def reset_password(self, email: str, token: str, new_password: str) -> Steps[str]:
        """Spend a reset link: set the new password and end every session.

        It never signs in. For a disabled user the link fails like a spent one
        and nothing changes: a disabled account stays as it was until enabled.
        """
        self._check_policy(new_password)
        consumed = yield from self.tokens.consume.steps(email, token, TokenPurpose.RESET_PASSWORD)
        if consumed is None:
            raise InvalidLinkError(Messages.INVALID_LINK)
        user = yield from self._store(Adapter.get_user_by_email, consumed.email)
        if user is None or is_disabled(user):
            raise InvalidLinkError(Messages.INVALID_LINK)
        yield from self.passwords.set_password.steps(user.id, new_password)
        yield from self._mark_verified(user, keep_password=True)
        yield from self.limiter.reset.steps(user.id, PASSWORD_KIND)
        yield from self.sessions.revoke_all.steps(user.id)
        return Messages.PASSWORD_RESET

    @twin
    def change_password(
        self, user: User, current_password: str, new_password: str, *, keep_token: str | None
    ) -> Steps[str]:
        """Change a signed-in user's password; end their other sessions."""
        user_id = user.id
        self._check_policy(new_password)
        # A user who signed up by link or OAuth has no password yet and may set one.
        if (yield from self.passwords.has_password.steps(user_id)) and not (
            yield from self._guard(self.passwords.verify_password.steps(user_id, current_password))
        ):
            raise InvalidCredentialsError(Messages.WRONG_PASSWORD)
        yield from self.passwords.set_password.steps(user_id, new_password)
        yield from self.sessions.revoke_all.steps(user_id, except_token=keep_token)
        return Messages.PASSWORD_CHANGED

    # -- sign out --------------------------------------------------------------

    @twin
    def sign_out(self, token: str | None) -> Steps[None]:
        """End the session a client token names (no error if there is none)."""
        yield from self.sessions.revoke.steps(token)

    # -- TOTP and backup codes (signed-in user) -----------------------------------

    @twin
    def start_totp(self, user: User, *, restart: bool = False) -> Steps[TOTPEnrollment]:
        """Begin TOTP enrolment: the pending secret and its provisioning URI.

        An enrolment already pending (and not expired) is kept and returned,
        so a person who scanned its QR code is not handed a new one; with
        ``restart=True`` a new secret replaces it.
        """
        if not restart:
            pending = yield from self.totp_enrollment.steps(user)
            if pending is not None:
                return pending
        return (
            yield from self.totp.enroll.steps(
                user.id, issuer=self.app_name, account_name=user.email
            )
        )

    @twin
    def totp_enrollment(self, user: User) -> Steps[TOTPEnrollment | None]:
        """The enrolment waiting for its first code, or ``None`` (changes nothing)."""
        return (
            yield from self.totp.pending_enrollment.steps(
                user.id, issuer=self.app_name, account_name=user.email
            )
        )

    @twin
    def confirm_totp(self, user: User, code: str) -> Steps[list[str]]:
        """Turn TOTP on with a first valid code; return a fresh set of backup codes."""
        user_id = user.id
        totp = self.totp
        if not isinstance(code, str) or not (
            yield from self._guard(totp.confirm.steps(user_id, code))
        ):
            raise InvalidCodeError(Messages.INVALID_CODE)
        return (yield from self.backup_codes.generate.steps(user_id))

    @twin
    def disable_totp(self, user: User, code: str) -> Steps[None]:
        """Turn TOTP off after a valid TOTP or backup code; void the backup codes."""
        if not (yield from self.check_second_factor.steps(user, code)):
            raise InvalidCodeError(Messages.INVALID_CODE)
        yield from self.totp.disable.steps(user.id)
        yield from self.backup_codes.clear.steps(user.id)

    @twin
    def totp_enabled(self, user: User) -> Steps[bool]:
        """Whether the user passes a second step at sign-in."""
        return self._totp is not None and (yield from self._totp.is_enabled.steps(user.id))

    @twin
    def regenerate_backup_codes(self, user: User) -> Steps[list[str]]:
        """A new set of backup codes (the old set stops working)."""
        return (yield from self.backup_codes.generate.steps(user.id))

    # -- internals -----------------------------------------------------------

    def _email(self, email: str) -> str:
        try:
            return normalize_email(email)
        except ValidationError:
            raise InvalidEmailError("Enter a valid e-mail address.") from None

    def _check_policy(self, password: str) -> None:
        try:
            self.passwords.check_policy(password)
        except PasswordPolicyError as exc:
            raise PasswordRejectedError(as_sentence(str(exc))) from None

    @staticmethod
    def _guard(check: Steps[T]) -> Steps[T]:
        """Run a secret check (which counts against the attempt limits itself).

        Only for checks by someone already identified: the throttle is told.
        """
        try:
            return (yield from check)
        except TooManyAttemptsError as exc:
            if exc.retry_after is None:
                message = Messages.THROTTLED
            else:
                message = Messages.THROTTLED_FOR.format(seconds=exc.retry_after)
            raise ThrottledError(message, retry_after=exc.retry_after) from None

    def _spend_link(
        self, email: str, token: str, purpose: TokenPurpose
    ) -> Steps[tuple[str, User | None]]:
        """Spend a mailed link: the address it was sent to, and that address's user.

        ``None`` for the user when the address has no account yet. A spent,
        unknown or expired link, and a disabled user's link, fail alike
        (``InvalidLinkError``).
        """
        consumed = yield from self.tokens.consume.steps(email, token, purpose)
        if consumed is None:
            raise InvalidLinkError(Messages.INVALID_LINK)
        user = yield from self._store(Adapter.get_user_by_email, consumed.email)
        if user is not None:
            self._refuse_disabled(user, InvalidLinkError(Messages.INVALID_LINK))
        return consumed.email, user

    @staticmethod
    def _refuse_disabled(user: User, error: FlowError) -> None:
        """Raise ``error`` (what a failed attempt of this kind raises) for a disabled user."""
        if is_disabled(user):
            raise error

    def _deliver(self, compose: Callable[[], Steps[Message | None]]) -> Steps[None]:
        """Hand a message to the mailer, with the work of composing it (``mail.deliver``).

        With a ``BackgroundMailer`` that work (looking an address up, issuing
        a token) runs on its worker, not in the request: what a request does
        is then the same whether or not an account exists.
        """
        yield Deliver(self.mailer, compose)

    def _send(self, to: str, subject: str, text: str) -> Steps[None]:
        message = Message(to=to, subject=subject, text=text)
        yield from self._deliver(lambda: _ready(message))

    def _verification_message(self, email: str) -> Steps[Message | None]:
        return (
            yield from self._link_message(
                email,
                TokenPurpose.VERIFY_EMAIL,
                self.paths.verify_email,
                subject=f"Verify your {self.app_name} address",
                opening="Open this link to verify your address and sign in:",
                closing="If you didn't sign up, ignore this message.",
            )
        )

    def _link_message(
        self,
        email: str,
        purpose: TokenPurpose,
        path: str,
        *,
        subject: str,
        opening: str,
        closing: str,
    ) -> Steps[Message]:
        """Issue a single-use token for ``purpose``: the message that mails its link."""
        issued = yield from self.tokens.issue.steps(email, purpose)
        return Message(
            to=email,
            subject=subject,
            text=f"{opening}\n\n{issued.link(self.base_url + path)}\n\n"
            f"It works once and expires at {issued.expires:%Y-%m-%d %H:%M} UTC. {closing}",
        )

    @twin
    def mark_email_verified(self, user: User) -> Steps[User]:
        """Mark an address verified that someone just proved to own (a link, a provider).

        Every way in set up before that is removed (see ``_mark_verified``),
        the password included: it may belong to someone who signed up with
        another person's address. A disabled user is refused
        (``InvalidCredentialsError``) and left as is.
        """
        self._refuse_disabled(user, InvalidCredentialsError(Messages.INVALID_CREDENTIALS))
        return (yield from self._mark_verified(user, keep_password=False))

    def _mark_verified(self, user: User, *, keep_password: bool) -> Steps[User]:
        """Mark the address proven; first remove every way in set up before it was.

        Until now anybody could have set this account up (pre-account
        takeover): signed in with a provider that does not vouch for the
        address, registered a passkey, enrolled TOTP, kept a session.
        Passkeys, provider links, TOTP, backup codes and sessions go, and the
        password too unless ``keep_password``
        (the proof set it, or confirms the sign-up that did). The owner is
        told what went. The removal runs again after the address is marked,
        for anything linked in between.
        """
        if user.email_verified is not None:
            return user
        removed = yield from self._remove_unproven(user.id, keep_password=keep_password)
        verified = yield from self._update(Adapter.update_user, user.id, email_verified=clock.now())
        removed += yield from self._remove_unproven(user.id, keep_password=True)
        if removed:
            yield from self._send(
                user.email,
                f"{self.app_name}: your address is confirmed",
                "Your address was just confirmed. Before that, this account had:\n\n"
                + "".join(f"- {item}\n" for item in removed)
                + "\nNobody had proven that they own this address then, so they were removed"
                " and every session was signed out. If you set them up yourself, set them up"
                " again from your account page.",
            )
        return verified

    def _remove_unproven(self, user_id: str, *, keep_password: bool) -> Steps[list[str]]:
        """Remove the user's ways in (see ``_mark_verified``); describe what was removed."""
        removed: list[str] = []
        passkeys = self._twin(PasskeyStoreCore)(self.adapter)
        for authenticator in (
            yield from self._store(Adapter.list_authenticators_by_user_id, user_id)
        ):
            passkey = yield from passkeys.delete.steps(user_id, authenticator.credential_id)
            if passkey is not None:
                removed.append(f"a passkey ({passkey.name})")
        for account in (yield from self._store(Adapter.list_accounts, user_id)):
            if (
                yield from self._store(
                    Adapter.unlink_account, account.provider, account.provider_account_id
                )
            ):
                removed.append(f"sign-in with {account.provider}")
        if not keep_password and (yield from self.passwords.remove_password.steps(user_id)):
            removed.append("a password")
        # By id, not through the services: they may be unavailable (no keyring here).
        for kind, what in (
            (TOTP_KIND, "two-step sign-in (an authenticator app)"),
            (BACKUP_CODES_KIND, "backup codes"),
        ):
            gone = yield from self._store(Adapter.delete_credential, slot_id(kind, user_id))
            if gone is not None:
                removed.append(what)
        yield from self.sessions.revoke_all.steps(user_id)
        return removed

    def _first_factor_passed(
        self,
        user: User,
        *,
        previous_token: str | None,
        client: SessionClient | None = None,
        new_user: bool = False,
        passkey_first: bool = False,
    ) -> Steps[SignInResult]:
        if (yield from self.totp_enabled.steps(user)):
            methods = [SecondFactorMethod.TOTP, SecondFactorMethod.BACKUP_CODE]
            if not passkey_first and (yield from self._has_passkey(user)):
                methods.append(SecondFactorMethod.PASSKEY)
            pending = yield from self.pending_sign_ins.issue.steps(
                user.id, [m.value for m in methods]
            )
            return SecondFactorRequired(pending=pending, methods=tuple(methods))
        return (
            yield from self._start_session(
                user, previous_token=previous_token, client=client, new_user=new_user
            )
        )

    def _start_session(
        self,
        user: User,
        *,
        previous_token: str | None,
        client: SessionClient | None = None,
        new_user: bool = False,
    ) -> Steps[SignedIn]:
        # Every route checks first with its own failure; this is the last line.
        self._refuse_disabled(user, InvalidCredentialsError(Messages.INVALID_CREDENTIALS))
        # A new token on every sign-in; the one the browser brought is ended.
        if previous_token:
            yield from self.sessions.revoke.steps(previous_token)
        described = client or SessionClient()
        session = yield from self.sessions.create.steps(
            user, ip_address=described.ip_address, user_agent=described.user_agent
        )
        return SignedIn(session=session, new_user=new_user)

    @twin
    def sign_in_user(
        self,
        user: User,
        *,
        previous_token: str | None = None,
        client: SessionClient | None = None,
    ) -> Steps[SignInResult]:
        """Sign in a user whose first factor was checked elsewhere (OAuth).

        A disabled user is refused with ``InvalidCredentialsError``.
        """
        self._refuse_disabled(user, InvalidCredentialsError(Messages.INVALID_CREDENTIALS))
        return (
            yield from self._first_factor_passed(user, previous_token=previous_token, client=client)
        )


class AuthFlow(AuthFlowCore[Adapter]):
    """The sign-in flow on a sync store (``auth_store.aio.AuthFlow`` is the async twin)."""


def _ready(message: Message) -> Steps[Message | None]:
    """A message that needs no composing, as steps."""
    return message
    yield  # a generator: never reached


def _code_kind(compact: str) -> SecondFactorMethod:
    """Which kind of code a (whitespace-free) second-step code is: TOTP digits or a backup code."""
    if compact.isdigit() and len(compact) <= 10:
        return SecondFactorMethod.TOTP
    return SecondFactorMethod.BACKUP_CODE
