"""Refusals of omnigraph's own HTTP endpoints, in the shape GraphQL clients read errors from.

``{"errors": [{"message": "...", "extensions": {"code": "STABLE_CODE", ...}}]}`` for
``/graphql``'s refusals before GraphQL runs, ``/reports``, the webhooks and ``/examples``
alike, so a client (or an operator with ``curl``) reads one shape everywhere. The demo systems
answer in their own contract's shape (``docs/sources/README.md``), not this one.

Starlette's own refusals (no such route, a method a route does not take) and an unhandled
error are answered in the same shape by :func:`http_exception_json` and
:func:`internal_error_json`, the application's exception handlers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

__all__ = [
    "STATUS_CODES",
    "error_body",
    "error_json",
    "http_exception_json",
    "internal_error_json",
]

# the code of a refusal that has no more precise one, by its HTTP status
STATUS_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    413: "REQUEST_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "RATE_LIMITED",
}


def error_body(code: str, message: str, **extensions: Any) -> dict[str, Any]:
    """``{"errors": [{"message", "extensions": {"code", ...}}]}``."""
    return {"errors": [{"message": message, "extensions": {"code": code, **extensions}}]}


def error_json(
    status: int,
    code: str,
    message: str,
    *,
    headers: Mapping[str, str] | None = None,
    media_type: str | None = None,
    **extensions: Any,
) -> JSONResponse:
    """:func:`error_body` with the HTTP ``status`` (and headers such as ``Retry-After``), as
    ``media_type`` (``application/json`` unless told)."""
    return JSONResponse(
        error_body(code, message, **extensions),
        status_code=status,
        headers=headers,
        media_type=media_type,
    )


async def http_exception_json(_request: Request, error: Exception) -> Response:
    """Starlette's refusal (404 for no route, 405 with ``Allow`` for a method a route does not
    take) as coded JSON."""
    assert isinstance(error, HTTPException)
    code = STATUS_CODES.get(error.status_code, "BAD_REQUEST" if error.status_code < 500 else "")
    return error_json(
        error.status_code, code or "INTERNAL_SERVER_ERROR", error.detail, headers=error.headers
    )


async def internal_error_json(_request: Request, _error: Exception) -> Response:
    """An error nothing handled: HTTP 500 as coded JSON, with no word of what it was (the
    server logs it, with its traceback)."""
    return error_json(500, "INTERNAL_SERVER_ERROR", "Internal server error.")
