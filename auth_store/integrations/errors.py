"""The one map from auth-store errors to HTTP, shared by the Flask and FastAPI integrations.

The core knows nothing of HTTP: its errors carry a stable ``code``
(``auth_store.ErrorCode``) and a message safe to show. This table says what
each code means on the web. ``FastAPIAuth.init_app`` and ``FlaskAuth.init_app``
install it as the app's error handler for ``AuthStoreError``, so an endpoint
just calls the flow and lets errors rise; a JSON client gets
``{"detail": message, "code": code}`` with the status below (and
``Retry-After`` when the error knows when to retry).

An error whose code is not in the table (a subclass with a code of its own)
takes the status of the nearest base class whose code is. Errors with no
status here (``StorageError``, ``DecryptionError``) are failures of the
server, not of the request: they are not handled, and the framework answers 500.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from ..errors import AuthStoreError, ErrorCode, TooManyAttemptsError, as_sentence
from ..flow import ThrottledError

__all__ = ["HTTP_STATUS", "HttpError", "http_error", "http_status"]

#: HTTP status per error code.
HTTP_STATUS: Mapping[str, int] = MappingProxyType(
    {
        ErrorCode.INVALID_INPUT: 400,
        ErrorCode.PASSWORD_REJECTED: 400,
        ErrorCode.INVALID_SIGNATURE: 400,
        ErrorCode.EXPIRED_SIGNATURE: 400,
        ErrorCode.BAD_REQUEST: 400,
        ErrorCode.INVALID_EMAIL: 400,
        ErrorCode.INVALID_LINK: 400,
        ErrorCode.OAUTH_FAILED: 400,
        ErrorCode.PASSKEY_FAILED: 400,
        ErrorCode.PASSKEY_INVALID_RESPONSE: 400,
        ErrorCode.INVALID_CREDENTIALS: 401,
        ErrorCode.INVALID_CODE: 401,
        ErrorCode.NOT_SIGNED_IN: 401,
        ErrorCode.REAUTHENTICATION_REQUIRED: 401,
        ErrorCode.PASSKEY_REFUSED: 401,
        ErrorCode.PASSKEY_CHALLENGE_INVALID: 401,
        ErrorCode.PASSKEY_COUNTER_REGRESSED: 401,
        ErrorCode.INVALID_TOKEN: 401,
        ErrorCode.EXPIRED_TOKEN: 401,
        ErrorCode.EMAIL_NOT_VERIFIED: 403,
        ErrorCode.NOT_FOUND: 404,
        ErrorCode.CONFLICT: 409,
        ErrorCode.TARGET_NOT_EMPTY: 409,
        ErrorCode.OAUTH_ACCOUNT_NOT_LINKED: 409,
        ErrorCode.PASSKEY_EXISTS: 409,
        ErrorCode.THROTTLED: 429,
        ErrorCode.TOO_MANY_ATTEMPTS: 429,
        ErrorCode.CONFIGURATION: 501,
    }
)


@dataclass(frozen=True)
class HttpError:
    """How an error is answered over HTTP (``message`` as a sentence: ``errors.as_sentence``)."""

    status: int
    code: str
    message: str
    headers: dict[str, str] = field(default_factory=dict)

    def body(self) -> dict[str, str]:
        """The JSON body: the message for people, the code for programs."""
        return {"detail": self.message, "code": self.code}


def http_error(error: AuthStoreError) -> HttpError | None:
    """The HTTP answer to ``error``, or ``None`` when it is the server's failure (a 500)."""
    status: int | None = None
    for cls in type(error).__mro__:
        status = HTTP_STATUS.get(str(vars(cls).get("code")))
        if status is not None:
            break
    if status is None:
        return None
    headers = {}
    if isinstance(error, ThrottledError | TooManyAttemptsError) and error.retry_after is not None:
        headers["Retry-After"] = str(error.retry_after)
    message = as_sentence(str(error))
    return HttpError(status=status, code=str(error.code), message=message, headers=headers)


def http_status(error: AuthStoreError) -> int:
    """The HTTP status for ``error`` (500 for the server's own failures): for error pages."""
    answer = http_error(error)
    return 500 if answer is None else answer.status
