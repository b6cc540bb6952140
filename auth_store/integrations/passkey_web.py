"""What the passkey endpoints of the Flask and FastAPI integrations share.

The endpoints are thin: each reads its body, calls ``AuthFlow`` (or its
``PasskeyService``) and moves a cookie. What a body may hold, which cookie
keeps which challenge, and what the JSON answers look like are decided here,
once, without a web framework, so both integrations (and the ones to come)
behave the same.

Bodies are read as bytes, at most ``MAX_BODY_BYTES``; anything that is not
a JSON object of the expected shape is a ``ValidationError`` (HTTP 400 in
the shared error map). The WebAuthn responses themselves go to the
``PasskeyService`` as bytes, which checks them field by field (also 400).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from .. import clock
from ..errors import ValidationError
from ..flow import SecondFactorRequired, SignInResult
from ..models import User
from ..passkey_store import Passkey
from ..reauth import ReauthProofs
from .common import CookieSettings

__all__ = [
    "MAX_BODY_BYTES",
    "SCRIPT",
    "challenge_cookie",
    "is_conditional",
    "json_object",
    "passkey_json",
    "reauthenticated_json",
    "reauthentication_request",
    "registration_options_request",
    "rename_request",
    "sign_in_json",
    "sign_in_options_request",
    "user_json",
]

#: The largest body a passkey endpoint reads (an attestation with certificates fits easily).
MAX_BODY_BYTES = 64 * 1024
#: The browser script both integrations serve at ``<prefix>/passkeys.js``.
SCRIPT = Path(__file__).resolve().parent / "static" / "passkeys.js"
_MAX_EMAIL = 320
_MAX_SECRET = 4096


def json_object(raw: bytes | None) -> dict[str, Any]:
    """A request body as a JSON object; an empty body is ``{}``.

    ``ValidationError`` for a body that is too large, not UTF-8, not JSON,
    or not an object.
    """
    if not raw or not raw.strip():
        return {}
    if len(raw) > MAX_BODY_BYTES:
        raise ValidationError(f"the request body is larger than {MAX_BODY_BYTES} bytes")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ValidationError("the request body is not JSON") from None
    if not isinstance(data, dict):
        raise ValidationError("the request body must be a JSON object")
    return data


def _text(data: dict[str, Any], key: str, limit: int) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise ValidationError(f"{key} must be text of at most {limit} characters")
    return value


def _flag(data: dict[str, Any], key: str) -> bool:
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise ValidationError(f"{key} must be true or false")
    return value


def sign_in_options_request(raw: bytes | None) -> tuple[str | None, bool]:
    """``(email, conditional)`` from ``{"email"?: str, "conditional"?: bool}``.

    No e-mail (or an empty one) asks for a usernameless sign-in;
    ``conditional`` for the autofill flow, which takes no e-mail.
    """
    data = json_object(raw)
    email = _text(data, "email", _MAX_EMAIL) or None
    return email, _flag(data, "conditional")


def registration_options_request(raw: bytes | None) -> str | None:
    """``authenticator_attachment`` (``"platform"``, ``"cross-platform"``) or ``None``."""
    return _text(json_object(raw), "authenticator_attachment", 32)


def rename_request(raw: bytes | None) -> str:
    """The new name from ``{"name": str}``."""
    name = _text(json_object(raw), "name", 256)
    if name is None:
        raise ValidationError("name is missing")
    return name


def reauthentication_request(raw: bytes | None) -> tuple[str | None, str | None]:
    """``(password, code)`` from ``{"password": str}`` or ``{"code": str}`` (one of them)."""
    data = json_object(raw)
    password = _text(data, "password", _MAX_SECRET)
    code = _text(data, "code", 64)
    if (password is None) == (code is None):
        raise ValidationError("send either password or code")
    return password, code


def is_conditional(mediation: str | None) -> bool:
    """Whether a ``?mediation=`` query parameter names the autofill flow."""
    if mediation in (None, "", "modal"):
        return False
    if mediation == "conditional":
        return True
    raise ValidationError("mediation must be 'conditional' or 'modal'")


def challenge_cookie(cookies: CookieSettings, *, conditional: bool = False) -> str:
    """The cookie that keeps a challenge's state.

    The autofill sign-in keeps its own, so a page that runs it and a
    button-started ceremony at once does not lose either challenge.
    """
    return cookies.passkey_autofill if conditional else cookies.passkey


def _when(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def passkey_json(passkey: Passkey) -> dict[str, Any]:
    """A passkey as the endpoints list it (nothing secret; ``id`` is safe in a URL)."""
    return {
        "id": passkey.id,
        "name": passkey.name,
        "created_at": _when(passkey.created_at),
        "last_used_at": _when(passkey.last_used_at),
        "device_type": passkey.device_type,
        "backed_up": passkey.backed_up,
        "transports": list(passkey.transports),
    }


def user_json(user: User) -> dict[str, Any]:
    """The public fields of a user."""
    return {
        "id": user.id,
        "email": user.email,
        "email_verified": _when(user.email_verified),
        "name": user.name,
        "image": user.image,
    }


def sign_in_json(result: SignInResult) -> dict[str, Any]:
    """A sign-in result as the JSON endpoints answer it (the cookies are the caller's job)."""
    if isinstance(result, SecondFactorRequired):
        return {
            "status": "second_factor_required",
            "user": None,
            "expires": None,
            "pending_token": result.pending,
            "methods": [m.value for m in result.methods],
        }
    return {
        "status": "signed_in",
        "user": user_json(result.user),
        "expires": _when(result.expires),
        "pending_token": None,
        "methods": [],
    }


def reauthenticated_json(
    proofs: ReauthProofs, user: User, proof: str, session_id: str | None
) -> dict[str, Any]:
    """What a re-authentication endpoint answers (the proof itself goes in a cookie)."""
    method = proofs.check(user, proof, session_id=session_id)
    return {"method": method, "expires": _when(clock.now() + proofs.max_age)}
