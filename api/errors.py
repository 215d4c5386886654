"""One error shape everywhere: `{"error": {"code", "message", "details": [...]}}`.

Compile errors put one entry per error in `details` (line, column, message, snippet);
bad events one entry per event (index, message). Validation errors of FastAPI, unknown
routes and unexpected exceptions are turned into the same shape by the handlers here.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.responses import Json
from cep.errors import CepError
from cep.store.base import StoreError

__all__ = ["ApiError", "error_body", "install"]

log_ = logging.getLogger("cep.api")

_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
          405: "method_not_allowed", 406: "not_acceptable", 409: "conflict",
          413: "too_large", 415: "unsupported_media_type", 422: "invalid", 429: "throttled",
          500: "internal", 503: "unavailable"}


class ApiError(Exception):
    """An error the API returns on purpose."""

    def __init__(self, status: int, message: str, code: str | None = None,
                 details: list[dict[str, Any]] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.code = code or _CODES.get(status, "error")
        self.message = message
        self.details = details or []
        self.headers = headers
        super().__init__(message)


def error_body(code: str, message: str, details: list[dict[str, Any]] | None = None) -> dict:
    """The JSON body of an error."""
    return {"error": {"code": code, "message": message, "details": details or []}}


def _json_safe(v: Any) -> Any:
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    if isinstance(v, dict):
        return {str(k): _json_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_json_safe(x) for x in v]
    return str(v)


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into the one shape."""

    @app.exception_handler(ApiError)
    async def api_error(_: Request, e: ApiError) -> Json:
        return Json(error_body(e.code, e.message, e.details), e.status,
                              headers=e.headers)

    @app.exception_handler(RequestValidationError)
    async def validation(_: Request, e: RequestValidationError) -> Json:
        details = [{"loc": [str(x) for x in err.get("loc", ())], "message": err.get("msg", ""),
                    "type": err.get("type", "")} for err in e.errors()]
        return Json(error_body("invalid", "the request is not valid", details), 422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, e: StarletteHTTPException) -> Json:
        return Json(
            error_body(_CODES.get(e.status_code, "error"), str(e.detail)), e.status_code,
            headers=getattr(e, "headers", None))

    @app.exception_handler(StoreError)
    async def store_error(_: Request, e: StoreError) -> Json:
        return Json(error_body("invalid", str(e)), 422)

    @app.exception_handler(CepError)
    async def cep_error(_: Request, e: CepError) -> Json:
        return Json(error_body("invalid", str(e)), 422)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, e: Exception) -> Json:
        log_.exception("unhandled error: %s", e)
        return Json(error_body("internal", f"internal error: {type(e).__name__}"),
                              500)
