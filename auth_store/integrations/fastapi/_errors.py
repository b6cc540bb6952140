"""The shared error map (``auth_store.integrations.errors``) as FastAPI's exception handler."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from ...errors import AuthStoreError
from ..errors import http_error

__all__ = ["install_error_handler"]


async def _answer(request: Request, exc: Exception) -> Response:
    answer = http_error(exc) if isinstance(exc, AuthStoreError) else None
    if answer is None:
        raise exc  # the server's failure: FastAPI answers 500
    return JSONResponse(answer.body(), status_code=answer.status, headers=answer.headers or None)


def install_error_handler(app: FastAPI, *, prefix: str) -> None:
    """Answer every ``AuthStoreError`` an endpoint or dependency raises with its HTTP status.

    Also answers invalid request bodies under ``prefix`` with a 422 that does
    not echo the submitted values (they may be passwords).
    """
    app.add_exception_handler(AuthStoreError, _answer)

    async def invalid_body(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        if not request.url.path.startswith(f"{prefix}/"):
            return await request_validation_exception_handler(request, exc)
        detail = [
            {"type": e.get("type"), "loc": list(e.get("loc", ())), "msg": e.get("msg")}
            for e in exc.errors()
        ]
        return JSONResponse({"detail": detail}, status_code=422)

    app.add_exception_handler(RequestValidationError, invalid_body)
