"""Every error the service returns is JSON ``{"error": ..., "detail": what to do}``, never a traceback.

Engine errors keep their messages (they already name the parameter and the fix); unexpected ones are logged
here with their trace and an id the caller can quote, and answered with a short message.
"""
from __future__ import annotations

import logging
import uuid
from typing import Any, Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

LOG = logging.getLogger("explain.service")
_TITLES = {404: "not found", 405: "method not allowed", 413: "request too large"}


class ServiceError(Exception):
    """An answer other than success: HTTP status, a short error, and what the caller should do."""

    def __init__(self, status: int, error: str, detail: str, *, headers: Mapping[str, str] | None = None,
                 extra: Mapping[str, Any] | None = None) -> None:
        super().__init__(f"{status} {error}: {detail}")
        self.status, self.error, self.detail = status, error, detail
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})

    def response(self) -> JSONResponse:
        return error_response(self.status, self.error, self.detail, headers=self.headers, **self.extra)


def error_response(status: int, error: str, detail: str, *, headers: Mapping[str, str] | None = None,
                   **extra: Any) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail, **extra}, status_code=status, headers=dict(headers or {}))


def from_engine(exc: BaseException) -> ServiceError:
    """The engine's own errors, by kind: bad requests (422), unusable files (400), missing things (404)."""
    from ..loading import UnsafeModelFile
    from ..store import StoreError

    message = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    if isinstance(exc, UnsafeModelFile):
        return ServiceError(400, "unusable model file", message)
    if isinstance(exc, StoreError):
        return ServiceError(503, "explanation store unavailable", message)
    if isinstance(exc, (ValueError, TypeError)):
        return ServiceError(422, "invalid request", message)
    if isinstance(exc, (KeyError, FileNotFoundError)):
        return ServiceError(404, "not found", message)
    raise exc


def _validation_detail(exc: RequestValidationError) -> str:
    parts = []
    for item in exc.errors()[:5]:
        where = ".".join(str(p) for p in item.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {item.get('msg', 'invalid')}")
    return "; ".join(parts) + ". See /docs for the request schema."


def install(app: FastAPI) -> None:
    """Register the handlers that turn every failure into the JSON error shape."""

    @app.exception_handler(ServiceError)
    async def _service(_: Request, exc: ServiceError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, "invalid request", _validation_detail(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        error = _TITLES.get(exc.status_code, str(exc.detail))
        detail = "See /docs for the endpoints and their methods." if exc.status_code in (404, 405) else str(exc.detail)
        return error_response(exc.status_code, error, detail, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return unexpected(exc, f"{request.method} {request.url.path}")


def unexpected(exc: BaseException, where: str) -> JSONResponse:
    """Log the trace server-side; the caller gets an id to quote, not the trace."""
    error_id = uuid.uuid4().hex[:12]
    LOG.error("error %s in %s", error_id, where, exc_info=(type(exc), exc, exc.__traceback__))
    return error_response(500, "internal error", f"The server failed unexpectedly; quote error id {error_id} "
                          "to its operator (the trace is in the server log).", error_id=error_id)
