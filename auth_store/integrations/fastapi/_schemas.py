"""The JSON bodies of the router: what each endpoint takes and returns."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from ...api_keys import ApiKeyInfo
from ...models import User

__all__ = [
    "ApiKeyIn",
    "ApiKeyOut",
    "BackupCodesOut",
    "ChangePasswordIn",
    "CodeIn",
    "CountOut",
    "EmailIn",
    "LinkIn",
    "MessageOut",
    "ResetIn",
    "RevealOut",
    "SecondFactorIn",
    "SessionOut",
    "SignInIn",
    "SignInOut",
    "SignUpIn",
    "TotpEnrollOut",
    "TotpStatusOut",
    "UserOut",
]


class SignUpIn(BaseModel):
    """A new account: e-mail, password and an optional display name."""

    email: str = Field(max_length=320)
    password: str = Field(max_length=4096)
    name: str | None = Field(default=None, max_length=200)


class SignInIn(BaseModel):
    """E-mail and password for a password sign-in."""

    email: str = Field(max_length=320)
    password: str = Field(max_length=4096)


class EmailIn(BaseModel):
    """An e-mail address to mail a link to."""

    email: str = Field(max_length=320)


class LinkIn(BaseModel):
    """The ``email`` and ``token`` query parameters of a mailed link."""

    email: str = Field(max_length=320)
    token: str = Field(max_length=512)


class ResetIn(LinkIn):
    """A reset link's parameters and the new password."""

    new_password: str = Field(max_length=4096)


class ChangePasswordIn(BaseModel):
    """The current password (empty if none is set yet) and the new one."""

    current_password: str = Field(default="", max_length=4096)
    new_password: str = Field(max_length=4096)


class SecondFactorIn(BaseModel):
    """A TOTP or backup code; the pending token unless its cookie is sent."""

    code: str = Field(max_length=64)
    pending_token: str | None = Field(default=None, max_length=2048)


class CodeIn(BaseModel):
    """A TOTP or backup code."""

    code: str = Field(max_length=64)


class ApiKeyIn(BaseModel):
    """A third-party API key to store encrypted, with a label and its provider."""

    label: str = Field(max_length=200)
    provider: str = Field(max_length=200)
    key: str = Field(max_length=8192)


class MessageOut(BaseModel):
    """A message to show; the same whether or not an account exists."""

    message: str


class UserOut(BaseModel):
    """The signed-in user."""

    id: str
    email: str
    email_verified: datetime | None
    name: str | None
    image: str | None

    @classmethod
    def of(cls, user: User) -> UserOut:
        """The public fields of ``user``."""
        return cls(
            id=user.id,
            email=user.email,
            email_verified=user.email_verified,
            name=user.name,
            image=user.image,
        )


class SignInOut(BaseModel):
    """Signed in (the session cookie is set), or a second step is due."""

    status: Literal["signed_in", "second_factor_required"]
    user: UserOut | None = None
    expires: datetime | None = None
    pending_token: str | None = None
    methods: list[str] = []


class SessionOut(BaseModel):
    """One of the user's sessions; ``current`` is the one making the request.

    ``device`` is read from ``user_agent`` (``auth_store.devices``); ``last_seen``
    is exact to a few minutes. The client fields are ``None`` for sessions made
    without them.
    """

    id: str
    expires: datetime
    current: bool
    created_at: datetime | None = None
    last_seen: datetime | None = None
    ip_address: str | None = None
    user_agent: str | None = None
    device: str = "Unknown device"


class CountOut(BaseModel):
    """A count."""

    count: int


class TotpStatusOut(BaseModel):
    """Whether TOTP can be used, is on, or waits for its first code."""

    available: bool
    enabled: bool
    pending: bool


class TotpEnrollOut(BaseModel):
    """A new TOTP secret and its ``otpauth://`` URI (shown once)."""

    secret: str
    provisioning_uri: str


class BackupCodesOut(BaseModel):
    """A new set of single-use backup codes (shown once)."""

    backup_codes: list[str]


class ApiKeyOut(BaseModel):
    """A stored API key, masked to its last four characters."""

    id: str
    label: str
    provider: str
    masked: str
    created_at: datetime | None

    @classmethod
    def of(cls, info: ApiKeyInfo) -> ApiKeyOut:
        """The listable fields of a stored key (never the key itself)."""
        return cls(
            id=info.id,
            label=info.label,
            provider=info.provider,
            masked=info.masked,
            created_at=info.created_at,
        )


class RevealOut(BaseModel):
    """A stored API key, decrypted."""

    key: str
