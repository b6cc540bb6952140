"""The passkey routes (with ``flow.enable_passkeys``) and their JSON bodies.

Each endpoint reads its body, calls the flow or ``flow.passkeys`` and moves
a cookie; what bodies hold and which cookie keeps which challenge is
``auth_store.integrations.passkey_web``'s, shared with Flask. Every unsafe
request needs the CSRF token (``X-CSRF-Token``) on top of the router's
JSON-only rule: these endpoints serve the browser script in your pages.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, status
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from ...models import User
from ...passkeys import PasskeyChallenge
from ..passkey_web import (
    MAX_BODY_BYTES,
    SCRIPT,
    challenge_cookie,
    is_conditional,
    passkey_json,
    reauthenticated_json,
    reauthentication_request,
    registration_options_request,
    rename_request,
    sign_in_options_request,
)
from ._auth import RequestAuth
from ._dependencies import CurrentUser, csrf_protect
from ._routes import _signed_in
from ._schemas import SignInOut

__all__ = ["add_passkey_routes"]


async def _body(request: Request) -> bytes:
    """The raw body, read up to one byte past the limit (the parsers then refuse it)."""
    read = bytearray()
    async for chunk in request.stream():
        read += chunk
        if len(read) > MAX_BODY_BYTES:
            break
    return bytes(read)


Body = Annotated[bytes, Depends(_body)]
_CSRF = [Depends(csrf_protect)]


class PasskeyOut(BaseModel):
    """One of the user's passkeys (``id`` is the credential id in base64url)."""

    id: str
    name: str
    created_at: datetime | None
    last_used_at: datetime | None
    device_type: str
    backed_up: bool
    transports: list[str]


class CsrfOut(BaseModel):
    """The CSRF token to send as ``X-CSRF-Token`` (its cookie is set with it)."""

    csrf_token: str


class ReauthenticatedOut(BaseModel):
    """A fresh re-authentication proof is in its cookie until ``expires``."""

    method: str
    expires: datetime


class PasskeySignInOptionsIn(BaseModel):
    """Ask for a usernameless sign-in (no e-mail), the autofill one, or one for an e-mail."""

    email: str | None = Field(default=None, max_length=320)
    conditional: bool = False


class PasskeyRegistrationOptionsIn(BaseModel):
    """Optionally narrow registration to ``platform`` or ``cross-platform`` authenticators."""

    authenticator_attachment: str | None = None


class PasskeyRenameIn(BaseModel):
    """A passkey's new name (1 to 64 printable characters)."""

    name: str


class ReauthenticateIn(BaseModel):
    """The current password, or a TOTP or backup code (one of them)."""

    password: str | None = Field(default=None, max_length=4096)
    code: str | None = Field(default=None, max_length=64)


_OPTIONS: dict[str, Any] = {"type": "object", "additionalProperties": True}


def _documented(
    description: str, model: type[BaseModel] | None = None, *, required: bool = True
) -> dict[str, Any]:
    """``openapi_extra`` for an endpoint that reads its JSON body itself."""
    schema = model.model_json_schema() if model is not None else dict(_OPTIONS)
    return {
        "requestBody": {
            "description": description,
            "required": required,
            "content": {"application/json": {"schema": schema}},
        }
    }


_CREATION_OPTIONS = {
    "description": "PublicKeyCredentialCreationOptionsJSON (WebAuthn Level 3)",
    "content": {"application/json": {"schema": _OPTIONS}},
}
_REQUEST_OPTIONS = {
    "description": "PublicKeyCredentialRequestOptionsJSON (WebAuthn Level 3)",
    "content": {"application/json": {"schema": _OPTIONS}},
}
_REGISTRATION = "RegistrationResponseJSON (WebAuthn Level 3): the credential's toJSON()"
_ASSERTION = "AuthenticationResponseJSON (WebAuthn Level 3): the credential's toJSON()"


def add_passkey_routes(router: APIRouter, auth: RequestAuth) -> None:
    """The passkey endpoints, the re-authentication endpoints and the browser script."""
    flow = auth.flow
    cookies = auth.cookies

    def keep_state(request: Request, name: str, challenge: PasskeyChallenge) -> dict[str, Any]:
        seconds = int(flow.passkeys.challenge_max_age.total_seconds())
        auth.set_cookie(request, name, challenge.state, seconds)
        return challenge.options

    async def proved(request: Request, user: User, proof: str) -> ReauthenticatedOut:
        auth.set_cookie(request, cookies.reauth, proof, int(flow.proofs.max_age.total_seconds()))
        answer = reauthenticated_json(flow.proofs, user, proof, await auth.session_id(request))
        return ReauthenticatedOut.model_validate(answer)

    @router.get(
        "/passkeys.js",
        summary="The browser script for passkey pages",
        response_class=FileResponse,
    )
    async def passkeys_script() -> FileResponse:
        return FileResponse(SCRIPT, media_type="text/javascript")

    @router.get("/csrf", summary="A CSRF token for the passkey endpoints (X-CSRF-Token)")
    async def csrf(request: Request) -> CsrfOut:
        return CsrfOut(csrf_token=auth.csrf_token(request))

    @router.post(
        "/passkeys/register/options",
        dependencies=_CSRF,
        summary="Start registering a passkey for the signed-in user",
        responses={200: _CREATION_OPTIONS},
        openapi_extra=_documented("Optional", PasskeyRegistrationOptionsIn, required=False),
    )
    async def register_options(request: Request, user: CurrentUser, body: Body) -> dict[str, Any]:
        attachment = registration_options_request(body)
        challenge = await flow.passkeys.registration_options(
            user, authenticator_attachment=attachment
        )
        return keep_state(request, cookies.passkey, challenge)

    @router.post(
        "/passkeys/register",
        dependencies=_CSRF,
        status_code=status.HTTP_201_CREATED,
        summary="Verify and store the new passkey (?name= names it)",
        openapi_extra=_documented(_REGISTRATION),
    )
    async def register(
        request: Request, user: CurrentUser, body: Body, name: str | None = None
    ) -> PasskeyOut:
        state = request.cookies.get(cookies.passkey)
        passkey = await flow.passkeys.register(user, body, state=state, name=name)
        auth.delete_cookie(request, cookies.passkey)
        return PasskeyOut.model_validate(passkey_json(passkey))

    @router.post(
        "/passkeys/sign-in/options",
        dependencies=_CSRF,
        summary="Start a passkey sign-in (usernameless, autofill, or for an e-mail)",
        responses={200: _REQUEST_OPTIONS},
        openapi_extra=_documented(
            "Optional: no body is a usernameless sign-in", PasskeySignInOptionsIn, required=False
        ),
    )
    async def sign_in_options(request: Request, body: Body) -> dict[str, Any]:
        email, conditional = sign_in_options_request(body)
        challenge = await flow.passkeys.sign_in_options(email, conditional=conditional)
        return keep_state(request, challenge_cookie(cookies, conditional=conditional), challenge)

    @router.post(
        "/passkeys/sign-in",
        dependencies=_CSRF,
        summary="Sign in with a passkey (?mediation=conditional for the autofill one)",
        openapi_extra=_documented(_ASSERTION),
    )
    async def sign_in(request: Request, body: Body, mediation: str | None = None) -> SignInOut:
        name = challenge_cookie(cookies, conditional=is_conditional(mediation))
        result = await flow.sign_in_passkey(
            body,
            state=request.cookies.get(name),
            previous_token=await auth.session_token(request),
            client=auth.client(request),
        )
        auth.delete_cookie(request, name)
        return _signed_in(auth, request, result)

    @router.post(
        "/passkeys/second-factor/options",
        dependencies=_CSRF,
        summary="Start finishing a pending sign-in with a passkey",
        responses={200: _REQUEST_OPTIONS},
    )
    async def second_factor_options(request: Request) -> dict[str, Any]:
        challenge = await flow.second_factor_passkey_options(auth.pending(request))
        return keep_state(request, cookies.passkey, challenge)

    @router.post(
        "/passkeys/second-factor",
        dependencies=_CSRF,
        summary="Finish a pending sign-in with a passkey",
        openapi_extra=_documented(_ASSERTION),
    )
    async def second_factor(request: Request, body: Body) -> SignInOut:
        result = await flow.verify_second_factor_passkey(
            auth.pending(request),
            body,
            state=request.cookies.get(cookies.passkey),
            previous_token=await auth.session_token(request),
            client=auth.client(request),
        )
        auth.delete_cookie(request, cookies.passkey)
        return _signed_in(auth, request, result)

    @router.get("/passkeys", summary="The signed-in user's passkeys")
    async def list_passkeys(user: CurrentUser) -> list[PasskeyOut]:
        return [PasskeyOut.model_validate(passkey_json(p)) for p in await flow.passkeys.list(user)]

    @router.patch(
        "/passkeys/{credential_id}",
        dependencies=_CSRF,
        summary="Rename one of the signed-in user's passkeys",
        openapi_extra=_documented("The new name", PasskeyRenameIn),
    )
    async def rename_passkey(credential_id: str, user: CurrentUser, body: Body) -> PasskeyOut:
        passkey = await flow.passkeys.rename(user, credential_id, rename_request(body))
        return PasskeyOut.model_validate(passkey_json(passkey))

    @router.delete(
        "/passkeys/{credential_id}",
        dependencies=_CSRF,
        status_code=status.HTTP_204_NO_CONTENT,
        summary="Delete one of the user's passkeys (after re-authenticating)",
    )
    async def delete_passkey(request: Request, credential_id: str, user: CurrentUser) -> None:
        await flow.passkeys.delete(
            user,
            credential_id,
            proof=request.cookies.get(cookies.reauth),
            session_id=await auth.session_id(request),
        )

    @router.post(
        "/passkeys/reauthenticate/options",
        dependencies=_CSRF,
        summary="Start confirming it's you with one of your passkeys",
        responses={200: _REQUEST_OPTIONS},
    )
    async def reauthenticate_options(request: Request, user: CurrentUser) -> dict[str, Any]:
        challenge = await flow.passkeys.reauthentication_options(user)
        return keep_state(request, cookies.passkey, challenge)

    @router.post(
        "/passkeys/reauthenticate",
        dependencies=_CSRF,
        summary="Confirm it's you with a passkey (sets the re-authentication cookie)",
        openapi_extra=_documented(_ASSERTION),
    )
    async def reauthenticate_passkey(
        request: Request, user: CurrentUser, body: Body
    ) -> ReauthenticatedOut:
        proof = await flow.passkeys.reauthenticate(
            user,
            body,
            state=request.cookies.get(cookies.passkey),
            session_id=await auth.session_id(request),
        )
        auth.delete_cookie(request, cookies.passkey)
        return await proved(request, user, proof)

    @router.post(
        "/reauthenticate",
        dependencies=_CSRF,
        summary="Confirm it's you with your password or a code (sets the cookie)",
        openapi_extra=_documented("The password, or a code", ReauthenticateIn),
    )
    async def reauthenticate(request: Request, user: CurrentUser, body: Body) -> ReauthenticatedOut:
        password, code = reauthentication_request(body)
        proof = await flow.reauthenticate(
            user, password=password, code=code, session_id=await auth.session_id(request)
        )
        return await proved(request, user, proof)
