"""FastAPI dependencies: the app's auth, the signed-in user, CSRF and JSON-only checks."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from ...flow import Messages, NotSignedInError
from ...models import User
from ._auth import RequestAuth

__all__ = [
    "CurrentUser",
    "csrf_protect",
    "current_user",
    "get_auth",
    "optional_user",
    "require_json",
]


def get_auth(request: Request) -> RequestAuth:
    """The app's ``FastAPIAuth`` (set by ``init_app``)."""
    auth = getattr(request.app.state, "auth_store", None)
    if not isinstance(auth, RequestAuth):
        raise RuntimeError("call FastAPIAuth(...).init_app(app) first")
    return auth


async def optional_user(request: Request) -> User | None:
    """Dependency: the signed-in user, or ``None`` (awaited on the loop, no thread)."""
    return await get_auth(request).load(request)


async def current_user(user: Annotated[User | None, Depends(optional_user)]) -> User:
    """Dependency: the signed-in user; 401 (``not_signed_in``) when nobody is signed in."""
    if user is None:
        raise NotSignedInError(Messages.NOT_SIGNED_IN)
    return user


#: ``Annotated`` alias for endpoints: the signed-in user (401 otherwise).
CurrentUser = Annotated[User, Depends(current_user)]


async def csrf_protect(request: Request) -> None:
    """Dependency for HTML form posts: 400 without a valid CSRF token."""
    await get_auth(request).check_csrf(request)


async def require_json(request: Request) -> None:
    """415 for a POST that is not ``application/json`` (see the package docstring);
    400 for a JSON body holding half a surrogate pair."""
    # POST is the one unsafe method a cross-site form can send; PUT, PATCH and
    # DELETE from another origin need a CORS preflight anyway.
    if request.method == "POST":
        media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media != "application/json":
            raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "Send application/json.")
        if _has_lone_surrogate(await request.body()):
            raise HTTPException(
                status.HTTP_400_BAD_REQUEST, "The request body is not valid Unicode JSON."
            )


def _has_lone_surrogate(body: bytes) -> bool:
    """Whether a JSON body holds half a UTF-16 surrogate pair (``"\\ud800"``).

    JSON parsers accept such escapes (and such code units in UTF-16 bodies),
    but the text they make can't be encoded: hashing a password, writing a
    row, rendering an error that echoes the input would all fail, so the
    request is refused before any of that.
    """
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        # Not JSON, or nested too deep to parse: the router answers 422 / 400.
        return False
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
