"""The shared error map (``auth_store.integrations.errors``) as FastAPI's exception handler."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from ...errors import AuthStoreError
from ..errors import http_error

__all__ = ["install_error_handler"]


async def _answer(request: Request, exc: Exception) -> Response:
    answer = http_error(exc) if isinstance(exc, AuthStoreError) else None
    if answer is None:
        raise exc  # the server's failure: FastAPI answers 500
    return JSONResponse(answer.body(), status_code=answer.status, headers=answer.headers or None)


def install_error_handler(app: FastAPI) -> None:
    """Answer every ``AuthStoreError`` an endpoint or dependency raises with its HTTP status."""
    app.add_exception_handler(AuthStoreError, _answer)
