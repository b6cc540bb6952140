"""The shared error map (``auth_store.integrations.errors``) as FastAPI's exception handlers.

Under the router's prefix every error is JSON. Elsewhere (your HTML pages),
when ``FastAPIAuth`` was given an ``error_page``, errors are pages: a flow
error with its status, a 404 or a refused CSRF token, a form that does not
validate (400), and a failure of the server (500, logged, never shown).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from ...errors import AuthStoreError
from ..errors import http_error

__all__ = ["ErrorPage", "install_error_handler"]

#: Renders an error page: ``async (request, status, message) -> Response`` (it may
#: read the store, on the loop, like every dependency of the integration).
ErrorPage = Callable[[Request, int, str], Awaitable[Response]]

INVALID_FORM = "The form was incomplete or malformed. Go back and try again."
SERVER_ERROR = "Something went wrong on our side. Please try again in a moment."


def install_error_handler(
    app: FastAPI, *, prefix: str, error_page: ErrorPage | None = None
) -> None:
    """Answer every ``AuthStoreError`` an endpoint or dependency raises with its HTTP status.

    Also answers invalid request bodies under ``prefix`` with a 422 that does
    not echo the submitted values (they may be passwords). With
    ``error_page``, requests outside ``prefix`` get pages instead of JSON.
    """

    def api(request: Request) -> bool:
        path = request.url.path
        return error_page is None or path == prefix or path.startswith(f"{prefix}/")

    async def flow_error(request: Request, exc: Exception) -> Response:
        answer = http_error(exc) if isinstance(exc, AuthStoreError) else None
        if answer is None:
            if error_page is None:
                raise exc  # the server's failure: FastAPI answers 500
            return await server_error(request, exc)
        headers = answer.headers or None
        if not api(request) and error_page is not None:
            page = await error_page(request, answer.status, answer.message)
            page.headers.update(answer.headers)
            return page
        return JSONResponse(answer.body(), status_code=answer.status, headers=headers)

    async def invalid_body(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        if error_page is not None and not api(request):
            return await error_page(request, 400, INVALID_FORM)
        if not request.url.path.startswith(f"{prefix}/"):
            return await request_validation_exception_handler(request, exc)
        detail = [
            {"type": e.get("type"), "loc": list(e.get("loc", ())), "msg": e.get("msg")}
            for e in exc.errors()
        ]
        return JSONResponse({"detail": detail}, status_code=422)

    async def http_problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if error_page is None or api(request):
            return await http_exception_handler(request, exc)
        page = await error_page(request, exc.status_code, str(exc.detail))
        page.headers.update(exc.headers or {})
        return page

    async def server_error(request: Request, exc: Exception) -> Response:
        # Starlette re-raises the exception after this answer, for the server's log.
        if api(request):
            return JSONResponse({"detail": "Internal server error", "code": "internal"}, 500)
        assert error_page is not None
        return await error_page(request, 500, SERVER_ERROR)

    app.add_exception_handler(AuthStoreError, flow_error)
    app.add_exception_handler(RequestValidationError, invalid_body)
    if error_page is not None:
        app.add_exception_handler(StarletteHTTPException, http_problem)
        app.add_exception_handler(Exception, server_error)
