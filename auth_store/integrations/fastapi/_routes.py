"""The JSON router, by concern: sign-in, sessions, two-step sign-in, API keys (OAuth, passkeys).

Endpoints call the flow and let its errors rise: the exception handler that
``init_app`` installs answers them (``auth_store.integrations.errors``).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, status

from ...devices import describe_device
from ...errors import NotFoundError
from ...flow import InvalidCodeError, Messages, SecondFactorRequired, SignInResult
from ._auth import RequestAuth
from ._dependencies import CurrentUser, require_json
from ._schemas import (
    ApiKeyIn,
    ApiKeyOut,
    BackupCodesOut,
    ChangePasswordIn,
    CodeIn,
    CountOut,
    EmailIn,
    LinkIn,
    MessageOut,
    ResetIn,
    RevealOut,
    SecondFactorIn,
    SessionOut,
    SignInIn,
    SignInOut,
    SignUpIn,
    TotpEnrollOut,
    TotpStatusOut,
    UserOut,
)

__all__ = ["build_router"]


def build_router(auth: RequestAuth) -> APIRouter:
    """Every endpoint of ``FastAPIAuth.router()``, under ``auth.prefix``."""
    router = APIRouter(prefix=auth.prefix, tags=["auth"], dependencies=[Depends(require_json)])
    _sign_in_routes(router, auth)
    _account_routes(router, auth)
    _two_step_routes(router, auth)
    _api_key_routes(router, auth)
    if auth.oauth is not None:
        from ._oauth import add_oauth_routes  # needs authlib, only with a provider

        add_oauth_routes(router, auth, auth.oauth)
    if auth.flow.passkeys_available:
        from ._passkeys import add_passkey_routes  # needs webauthn, only with passkeys on

        add_passkey_routes(router, auth)
    return router


def _signed_in(auth: RequestAuth, request: Request, result: SignInResult) -> SignInOut:
    """Act on a sign-in result (cookies) and describe it."""
    if isinstance(result, SecondFactorRequired):
        auth.apply(request, result)
        return SignInOut(
            status="second_factor_required",
            pending_token=result.pending,
            methods=[m.value for m in result.methods],
        )
    auth.login(request, result)
    return SignInOut(status="signed_in", user=UserOut.of(result.user), expires=result.expires)


def _sign_in_routes(router: APIRouter, auth: RequestAuth) -> None:
    """Sign up, sign in (password, second step, link), verify, reset, sign out."""
    flow = auth.flow

    @router.post("/sign-up", summary="Create an account (a verification link is mailed)")
    async def sign_up(body: SignUpIn) -> MessageOut:
        return MessageOut(message=await flow.sign_up(body.email, body.password, name=body.name))

    @router.post("/sign-in", summary="Sign in with e-mail and password")
    async def sign_in(request: Request, body: SignInIn) -> SignInOut:
        previous = await auth.session_token(request)
        result = await flow.sign_in_password(
            body.email, body.password, previous_token=previous, client=auth.client(request)
        )
        return _signed_in(auth, request, result)

    @router.post("/second-factor", summary="Finish signing in with a TOTP or backup code")
    async def second_factor(request: Request, body: SecondFactorIn) -> SignInOut:
        pending = body.pending_token or auth.pending(request)
        previous = await auth.session_token(request)
        result = await flow.verify_second_factor(
            pending, body.code, previous_token=previous, client=auth.client(request)
        )
        return _signed_in(auth, request, result)

    @router.post("/magic-link", summary="Mail a sign-in link")
    async def magic_link(body: EmailIn) -> MessageOut:
        return MessageOut(message=await flow.request_magic_link(body.email))

    @router.post("/magic-link/consume", summary="Sign in with a magic link's token")
    async def magic_link_consume(request: Request, body: LinkIn) -> SignInOut:
        previous = await auth.session_token(request)
        result = await flow.sign_in_magic_link(
            body.email, body.token, previous_token=previous, client=auth.client(request)
        )
        return _signed_in(auth, request, result)

    @router.post("/verify-email", summary="Verify an address with its link's token (signs in)")
    async def verify_email(request: Request, body: LinkIn) -> SignInOut:
        previous = await auth.session_token(request)
        result = await flow.verify_email(
            body.email, body.token, previous_token=previous, client=auth.client(request)
        )
        return _signed_in(auth, request, result)

    @router.post("/verify-email/resend", summary="Mail the signed-in user a new verification link")
    async def verify_email_resend(user: CurrentUser) -> MessageOut:
        return MessageOut(message=await flow.request_email_verification(user))

    @router.post("/password-reset", summary="Mail a password-reset link")
    async def password_reset(body: EmailIn) -> MessageOut:
        return MessageOut(message=await flow.request_password_reset(body.email))

    @router.post("/password-reset/confirm", summary="Set a new password with a reset token")
    async def password_reset_confirm(body: ResetIn) -> MessageOut:
        return MessageOut(
            message=await flow.reset_password(body.email, body.token, body.new_password)
        )

    @router.post("/sign-out", summary="End the current session")
    async def sign_out(request: Request) -> MessageOut:
        await auth.logout(request)
        return MessageOut(message="Signed out.")


def _account_routes(router: APIRouter, auth: RequestAuth) -> None:
    """The signed-in user: who they are, their password, their sessions."""
    flow = auth.flow

    @router.get("/me", summary="The signed-in user")
    async def me(user: CurrentUser) -> UserOut:
        return UserOut.of(user)

    @router.post("/password", summary="Change the signed-in user's password")
    async def change_password(
        request: Request, user: CurrentUser, body: ChangePasswordIn
    ) -> MessageOut:
        keep = await auth.session_token(request)
        message = await flow.change_password(
            user, body.current_password, body.new_password, keep_token=keep
        )
        return MessageOut(message=message)

    @router.get("/sessions", summary="The signed-in user's sessions")
    async def list_sessions(request: Request, user: CurrentUser) -> list[SessionOut]:
        token = await auth.session_token(request)
        return [
            SessionOut(
                id=s.id,
                expires=s.expires,
                current=flow.sessions.is_current(s, token),
                created_at=s.created_at,
                last_seen=s.updated_at,
                ip_address=s.ip_address,
                user_agent=s.user_agent,
                device=describe_device(s.user_agent),
            )
            for s in await flow.sessions.list(user.id)
        ]

    @router.delete(
        "/sessions/{session_id}",
        status_code=status.HTTP_204_NO_CONTENT,
        summary="End one of the signed-in user's sessions",
    )
    async def revoke_session(session_id: str, user: CurrentUser) -> None:
        if not await flow.sessions.revoke_by_id(user.id, session_id):
            raise NotFoundError("No such session.")

    @router.delete("/sessions", summary="End every other session of the signed-in user")
    async def revoke_other_sessions(request: Request, user: CurrentUser) -> CountOut:
        keep = await auth.session_token(request)
        return CountOut(count=await flow.sessions.revoke_all(user.id, except_token=keep))


def _two_step_routes(router: APIRouter, auth: RequestAuth) -> None:
    """TOTP and backup codes of the signed-in user."""
    flow = auth.flow

    @router.get("/totp", summary="Whether TOTP is available, enabled or pending")
    async def totp_status(user: CurrentUser) -> TotpStatusOut:
        if not flow.totp_available:
            return TotpStatusOut(available=False, enabled=False, pending=False)
        return TotpStatusOut(
            available=True,
            enabled=await flow.totp.is_enabled(user.id),
            pending=await flow.totp.is_pending(user.id),
        )

    @router.post("/totp/enroll", summary="Start TOTP enrolment (secret and otpauth:// URI)")
    async def totp_enroll(user: CurrentUser) -> TotpEnrollOut:
        enrollment = await flow.start_totp(user)
        return TotpEnrollOut(secret=enrollment.secret, provisioning_uri=enrollment.provisioning_uri)

    @router.post("/totp/confirm", summary="Turn TOTP on with a first code; returns backup codes")
    async def totp_confirm(user: CurrentUser, body: CodeIn) -> BackupCodesOut:
        return BackupCodesOut(backup_codes=await flow.confirm_totp(user, body.code))

    @router.post("/totp/disable", summary="Turn TOTP off (needs a TOTP or backup code)")
    async def totp_disable(user: CurrentUser, body: CodeIn) -> MessageOut:
        await flow.disable_totp(user, body.code)
        return MessageOut(message="Two-step sign-in is off.")

    @router.get("/backup-codes", summary="How many unused backup codes remain")
    async def backup_codes_remaining(user: CurrentUser) -> CountOut:
        return CountOut(count=await flow.backup_codes.remaining(user.id))

    @router.post("/backup-codes", summary="A new set of backup codes (voids the old set)")
    async def backup_codes_regenerate(user: CurrentUser, body: CodeIn) -> BackupCodesOut:
        if not await flow.check_second_factor(user, body.code):
            raise InvalidCodeError(Messages.INVALID_CODE)
        return BackupCodesOut(backup_codes=await flow.regenerate_backup_codes(user))


def _api_key_routes(router: APIRouter, auth: RequestAuth) -> None:
    """The signed-in user's stored third-party API keys."""
    flow = auth.flow

    @router.get("/api-keys", summary="The signed-in user's API keys, masked")
    async def list_api_keys(user: CurrentUser) -> list[ApiKeyOut]:
        return [ApiKeyOut.of(info) for info in await flow.api_keys.list(user.id)]

    @router.post("/api-keys", status_code=status.HTTP_201_CREATED, summary="Store an API key")
    async def add_api_key(user: CurrentUser, body: ApiKeyIn) -> ApiKeyOut:
        info = await flow.api_keys.add(
            user.id, label=body.label, provider=body.provider, key=body.key
        )
        return ApiKeyOut.of(info)

    @router.post("/api-keys/{key_id}/reveal", summary="Decrypt one of the user's API keys")
    async def reveal_api_key(key_id: str, user: CurrentUser) -> RevealOut:
        return RevealOut(key=await flow.api_keys.reveal(user.id, key_id))

    @router.delete(
        "/api-keys/{key_id}",
        status_code=status.HTTP_204_NO_CONTENT,
        summary="Delete one of the user's API keys",
    )
    async def delete_api_key(key_id: str, user: CurrentUser) -> None:
        if not await flow.api_keys.delete(user.id, key_id):
            raise NotFoundError("No such API key.")
