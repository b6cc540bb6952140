"""Validation shared by every backend, written once.

Each ``prepare_*`` function checks a model's fields, normalises what the
contract normalises (e-mails, datetimes to UTC) and returns a new instance
with a generated id where none was given. Backends store what these return
and never see unchecked input, which is what keeps ids from naming paths and
driver errors from escaping.
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from typing import Any

from . import clock
from .errors import ConfigurationError, ValidationError
from .models import (
    ACCOUNT_TOKEN_FIELDS,
    Account,
    Authenticator,
    Credential,
    Session,
    User,
    VerificationToken,
    new_id,
)

__all__ = [
    "ACCOUNT_CHANGEABLE",
    "ACCOUNT_TYPES",
    "JSON_MAX_BYTES_ENV",
    "JSON_MAX_DEPTH_ENV",
    "MAX_IP_ADDRESS",
    "MAX_USER_AGENT",
    "SESSION_CHANGEABLE",
    "JsonLimits",
    "check_aware",
    "check_imported",
    "check_int",
    "check_now",
    "check_text",
    "json_limits",
    "new_id",
    "normalize_email",
    "prepare_account",
    "prepare_account_changes",
    "prepare_authenticator",
    "prepare_credential",
    "prepare_credential_data",
    "prepare_session",
    "prepare_session_changes",
    "prepare_user",
    "prepare_user_changes",
    "prepare_verification_token",
    "set_json_limits",
    "validate_id",
]

ACCOUNT_TYPES = frozenset({"oauth", "oidc", "email", "webauthn"})
_ID_RE = re.compile(r"[A-Za-z0-9_.\-]{1,128}")
_SURROGATE_RE = re.compile("[\ud800-\udfff]")
_MAX_TEXT = 64 * 1024  # tokens (id_token JWTs) can be long; anything past this is abuse
#: Longest ``Session.ip_address`` (an IPv6 address with a zone id fits easily).
MAX_IP_ADDRESS = 64
#: Longest ``Session.user_agent`` (real ones stay well under 1 KiB; headers are client-made).
MAX_USER_AGENT = 1024


#: Environment variables that set the JSON limits of a process (see ``JsonLimits``).
JSON_MAX_DEPTH_ENV = "AUTH_STORE_JSON_MAX_DEPTH"
JSON_MAX_BYTES_ENV = "AUTH_STORE_JSON_MAX_BYTES"


@dataclass(frozen=True)
class JsonLimits:
    """How large stored JSON may be: ``User.extra``, ``Account.extra``, ``Credential.data``.

    ``max_depth`` counts nesting levels (the dict itself is level 1, each
    dict or list inside one more); ``max_bytes`` is the size of the value
    encoded as UTF-8 JSON. Past either, writes fail with ``ValidationError``
    on every backend, before anything is stored: deeply nested input would
    otherwise exhaust the interpreter's stack, and huge input the store.
    The defaults are far above what sign-in data needs. Change them for the
    process with ``set_json_limits`` or the ``AUTH_STORE_JSON_MAX_DEPTH`` /
    ``AUTH_STORE_JSON_MAX_BYTES`` environment variables.
    """

    max_depth: int = 32
    max_bytes: int = 64 * 1024

    def __post_init__(self) -> None:
        for name in ("max_depth", "max_bytes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigurationError(f"JSON limit {name} must be a positive int, got {value!r}")


_limits: list[JsonLimits] = []  # the limits in force, once read from the environment


def json_limits() -> JsonLimits:
    """The JSON limits in force (read from the environment on first use)."""
    if not _limits:
        values: dict[str, int] = {}
        variables = (("max_depth", JSON_MAX_DEPTH_ENV), ("max_bytes", JSON_MAX_BYTES_ENV))
        for name, variable in variables:
            raw = os.environ.get(variable, "").strip()
            if raw:
                try:
                    values[name] = int(raw)
                except ValueError:
                    raise ConfigurationError(f"{variable} must be an int, got {raw!r}") from None
        _limits.append(JsonLimits(**values))
    return _limits[0]


def set_json_limits(*, max_depth: int | None = None, max_bytes: int | None = None) -> JsonLimits:
    """Change the JSON limits of this process; return the ones they replace."""
    previous = json_limits()
    changed = replace(
        previous,
        **{k: v for k, v in (("max_depth", max_depth), ("max_bytes", max_bytes)) if v is not None},
    )
    _limits[0] = changed
    return previous


def validate_id(value: object, what: str = "id") -> str:
    """Return ``value`` if it is a valid id, else raise ``ValidationError``.

    An id is 1-128 characters of ``[A-Za-z0-9_.-]`` and not ``.`` or ``..``,
    so no id can name a path outside a store.
    """
    if not isinstance(value, str) or not _ID_RE.fullmatch(value) or value in {".", ".."}:
        shown = repr(value)[:40] if isinstance(value, str) else type(value).__name__
        raise ValidationError(
            f"{what} must be 1-128 characters of [A-Za-z0-9_.-] and not '.' or '..', got {shown}"
        )
    return value


def normalize_email(email: object) -> str:
    """NFKC-normalise, trim and lower-case an e-mail address."""
    if not isinstance(email, str):
        raise ValidationError(f"email must be a string, got {type(email).__name__}")
    if email.isascii():
        # The common case, on every lookup: NFKC leaves printable ASCII unchanged.
        normal = email.strip().lower()
        printable = normal.isprintable()
    else:
        normal = unicodedata.normalize("NFKC", email).strip().lower()
        printable = not any(unicodedata.category(ch).startswith("C") for ch in normal)
    if not normal or len(normal) > 320 or "@" not in normal:
        raise ValidationError("email must be a non-empty address containing '@'")
    if not printable:
        raise ValidationError("email must not contain control characters")
    return normal


def check_aware(value: object, what: str) -> datetime:
    """Return ``value`` converted to UTC; a naive datetime is a ``ValidationError``."""
    if not isinstance(value, datetime):
        raise ValidationError(f"{what} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise ValidationError(f"{what} must be timezone-aware (naive datetimes are ambiguous)")
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValidationError(f"{what} is out of range once converted to UTC") from None


def _optional_aware(value: object, what: str) -> datetime | None:
    return None if value is None else check_aware(value, what)


def _text(value: object, what: str, *, optional: bool = False) -> Any:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise ValidationError(f"{what} must be a string, got {type(value).__name__}")
    if "\x00" in value:
        raise ValidationError(f"{what} must not contain NUL bytes")
    if not value.isascii() and _SURROGATE_RE.search(value):
        raise ValidationError(f"{what} must be valid Unicode (no lone surrogates)")
    if len(value) > _MAX_TEXT:
        raise ValidationError(f"{what} is longer than {_MAX_TEXT} characters")
    return value


def _required_text(value: object, what: str) -> str:
    text: str = _text(value, what)
    if not text:
        raise ValidationError(f"{what} must not be empty")
    return text


def _int(value: object, what: str, *, optional: bool = False) -> Any:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"{what} must be an int, got {type(value).__name__}")
    if not -(2**63) <= value < 2**63:
        raise ValidationError(f"{what} is out of the 64-bit range")
    return value


def _json_dict(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValidationError(f"{what} must be a dict, got {type(value).__name__}")
    limits = json_limits()
    _check_nesting(value, what, limits)
    try:
        # Round-trip through JSON: what the caller keeps can't alias what is stored,
        # and anything JSON cannot carry is refused here rather than by a driver.
        text = json.dumps(value, allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{what} must be JSON-serialisable: {exc}") from None
    if "\\u0000" in text and _has_nul(value):
        # Postgres jsonb cannot store NUL; refuse it on every backend alike.
        raise ValidationError(f"{what} must not contain NUL characters")
    if not text.isascii() and _SURROGATE_RE.search(text):
        raise ValidationError(f"{what} must be valid Unicode (no lone surrogates)")
    size = len(text) if text.isascii() else len(text.encode("utf-8"))
    if size > limits.max_bytes:
        raise ValidationError(
            f"{what} is {size} bytes as JSON, over the limit of {limits.max_bytes}"
            " (auth_store.validation.JsonLimits)"
        )
    copied: dict[str, Any] = json.loads(text)
    if any(not isinstance(key, str) for key in value):
        raise ValidationError(f"{what} keys must be strings")
    return copied


def _check_nesting(value: dict[str, Any], what: str, limits: JsonLimits) -> None:
    """Refuse nesting past ``limits.max_depth`` without recursing (deep input can't blow the stack).

    Every item is at least a byte of JSON, so a walk that meets more items
    than ``max_bytes`` allows stops there: the value is too large anyway,
    and a structure that refers to itself can't keep the walk going.
    """
    stack: list[tuple[object, int]] = [(value, 1)]
    seen = 0
    while stack:
        item, depth = stack.pop()
        seen += 1
        if seen > limits.max_bytes:
            raise ValidationError(
                f"{what} has more than {limits.max_bytes} items, over the size limit"
                " (auth_store.validation.JsonLimits)"
            )
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        if depth > limits.max_depth:
            raise ValidationError(
                f"{what} is nested deeper than {limits.max_depth} levels"
                " (auth_store.validation.JsonLimits)"
            )
        stack.extend((child, depth + 1) for child in children)


def _has_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(item) for item in value)
    return False


def _id_or_new(value: object, what: str = "id") -> str:
    return new_id() if value is None else validate_id(value, what)


def _check_type(obj: object, cls: type) -> None:
    if type(obj) is not cls:
        raise ValidationError(f"expected a {cls.__name__}, got {type(obj).__name__}")


def prepare_user(user: User) -> User:
    """Check a user and return a normalised copy with an id."""
    _check_type(user, User)
    return User(
        id=_id_or_new(user.id),
        email=normalize_email(user.email),
        email_verified=_optional_aware(user.email_verified, "email_verified"),
        name=_text(user.name, "name", optional=True),
        image=_text(user.image, "image", optional=True),
        extra=_json_dict(user.extra, "extra"),
    )


_USER_CHANGEABLE = frozenset(f.name for f in fields(User)) - {"id"}


def prepare_user_changes(changes: dict[str, Any]) -> dict[str, Any]:
    """Check the keyword changes given to ``update_user``."""
    unknown = set(changes) - _USER_CHANGEABLE
    if unknown:
        raise ValidationError(f"cannot update user field(s): {', '.join(sorted(unknown))}")
    probe = prepare_user(replace(User(email="probe@invalid"), **changes))
    return {name: getattr(probe, name) for name in changes}


def prepare_account(account: Account) -> Account:
    """Check an account and return a copy with an id."""
    _check_type(account, Account)
    if account.type not in ACCOUNT_TYPES:
        raise ValidationError(f"account type must be one of {sorted(ACCOUNT_TYPES)}")
    return Account(
        id=_id_or_new(account.id),
        user_id=validate_id(account.user_id, "user_id"),
        type=account.type,
        provider=_required_text(account.provider, "provider"),
        provider_account_id=_required_text(account.provider_account_id, "provider_account_id"),
        refresh_token=_text(account.refresh_token, "refresh_token", optional=True),
        access_token=_text(account.access_token, "access_token", optional=True),
        expires_at=_int(account.expires_at, "expires_at", optional=True),
        token_type=_text(account.token_type, "token_type", optional=True),
        scope=_text(account.scope, "scope", optional=True),
        id_token=_text(account.id_token, "id_token", optional=True),
        session_state=_text(account.session_state, "session_state", optional=True),
        extra=_json_dict(account.extra, "extra"),
    )


#: The fields ``update_account`` may change: the provider's tokens and ``extra``.
#: The key (provider, provider_account_id), the id, the user and the type stay:
#: moving an account to another user is an unlink and a new link.
ACCOUNT_CHANGEABLE = frozenset({*ACCOUNT_TOKEN_FIELDS, "extra"})


def prepare_account_changes(changes: dict[str, Any]) -> dict[str, Any]:
    """Check the keyword changes given to ``update_account``."""
    unknown = set(changes) - ACCOUNT_CHANGEABLE
    if unknown:
        raise ValidationError(f"cannot update account field(s): {', '.join(sorted(unknown))}")
    probe = Account(user_id="probe", type="oauth", provider="probe", provider_account_id="probe")
    checked = prepare_account(replace(probe, **changes))
    return {name: getattr(checked, name) for name in changes}


def _limited_text(value: object, what: str, limit: int) -> str | None:
    text: str | None = _text(value, what, optional=True)
    if text is not None and len(text) > limit:
        raise ValidationError(f"{what} is longer than {limit} characters")
    return text


def prepare_session(session: Session) -> Session:
    """Check a session and return a copy with an id and UTC datetimes."""
    _check_type(session, Session)
    return Session(
        id=_id_or_new(session.id),
        session_token=_required_text(session.session_token, "session_token"),
        user_id=validate_id(session.user_id, "user_id"),
        expires=check_aware(session.expires, "expires"),
        created_at=_optional_aware(session.created_at, "created_at"),
        updated_at=_optional_aware(session.updated_at, "updated_at"),
        ip_address=_limited_text(session.ip_address, "ip_address", MAX_IP_ADDRESS),
        user_agent=_limited_text(session.user_agent, "user_agent", MAX_USER_AGENT),
    )


#: The fields ``update_session`` may change (not the id or the token).
SESSION_CHANGEABLE = frozenset(
    {"expires", "user_id", "created_at", "updated_at", "ip_address", "user_agent"}
)


def prepare_session_changes(changes: dict[str, Any]) -> dict[str, Any]:
    """Check the keyword changes given to ``update_session``."""
    unknown = set(changes) - SESSION_CHANGEABLE
    if unknown:
        raise ValidationError(f"cannot update session field(s): {', '.join(sorted(unknown))}")
    probe = Session(session_token="probe", user_id="probe", expires=clock.now())  # noqa: S106
    checked = prepare_session(replace(probe, **changes))
    return {name: getattr(checked, name) for name in changes}


def prepare_verification_token(vt: VerificationToken) -> VerificationToken:
    """Check a verification token and return a copy with a UTC expiry."""
    _check_type(vt, VerificationToken)
    return VerificationToken(
        identifier=_required_text(vt.identifier, "identifier"),
        token=_required_text(vt.token, "token"),
        expires=check_aware(vt.expires, "expires"),
    )


def prepare_authenticator(a: Authenticator) -> Authenticator:
    """Check a WebAuthn authenticator and return a copy."""
    _check_type(a, Authenticator)
    if not isinstance(a.credential_backed_up, bool):
        raise ValidationError("credential_backed_up must be a bool")
    return Authenticator(
        credential_id=_required_text(a.credential_id, "credential_id"),
        user_id=validate_id(a.user_id, "user_id"),
        provider_account_id=_required_text(a.provider_account_id, "provider_account_id"),
        credential_public_key=_required_text(a.credential_public_key, "credential_public_key"),
        counter=_int(a.counter, "counter"),
        credential_device_type=_required_text(a.credential_device_type, "credential_device_type"),
        credential_backed_up=a.credential_backed_up,
        transports=_text(a.transports, "transports", optional=True),
    )


def prepare_credential(c: Credential) -> Credential:
    """Check a credential; generate its id and timestamps (now) where absent."""
    _check_type(c, Credential)
    stamp = clock.now()
    version = _int(c.version, "version")
    if version < 1:
        raise ValidationError("version must be at least 1")
    created = _optional_aware(c.created_at, "created_at") or stamp
    return Credential(
        id=_id_or_new(c.id),
        user_id=validate_id(c.user_id, "user_id"),
        type=_required_text(c.type, "type"),
        data=_json_dict(c.data, "data"),
        version=version,
        created_at=created,
        updated_at=_optional_aware(c.updated_at, "updated_at") or created,
    )


def prepare_credential_data(data: object, expected_version: object) -> tuple[dict[str, Any], int]:
    """Check the arguments of ``update_credential``."""
    return _json_dict(data, "data"), _int(expected_version, "expected_version")


def check_imported(record: object) -> None:
    """What ``import_records`` asks beyond creation: a credential brings its own timestamps.

    (Creating a credential stamps it with the current time; an import must
    keep the original ``created_at`` and ``updated_at``.)
    """
    if isinstance(record, Credential) and (record.created_at is None or record.updated_at is None):
        raise ValidationError("an imported credential needs created_at and updated_at")


def check_text(value: object, what: str) -> str:
    """Check a lookup key (token, provider, identifier): a non-empty string without NUL."""
    # The per-request case (an ASCII token of sane length) in one expression.
    if (
        type(value) is str
        and value.isascii()
        and 0 < len(value) <= _MAX_TEXT
        and "\x00" not in value
    ):
        return value
    return _required_text(value, what)


def check_int(value: object, what: str) -> int:
    """Check an integer argument (not a bool)."""
    result: int = _int(value, what)
    return result


def check_now(now: object) -> datetime:
    """``purge_expired``'s ``now``: aware, or the current time when None."""
    return clock.now() if now is None else check_aware(now, "now")
