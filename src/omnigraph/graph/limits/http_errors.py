"""Refusals at the HTTP layer, in the shape GraphQL clients already read errors from."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cross_web import HTTPException
from starlette.responses import JSONResponse

from omnigraph.core.http_errors import error_json

__all__ = ["CodedHTTPError", "error_response"]

_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "REQUEST_TOO_LARGE",
    429: "RATE_LIMITED",
}


class CodedHTTPError(HTTPException):
    """An HTTP refusal with a stable ``extensions.code`` (and headers such as Retry-After)."""

    def __init__(
        self,
        status_code: int,
        code: str,
        message: str,
        *,
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(status_code, message)
        self.code = code
        self.headers = dict(headers or {})
        self.extensions = extensions


def error_response(error: HTTPException) -> JSONResponse:
    """``{"errors": [{"message", "extensions": {"code", ...}}]}`` with the error's status."""
    if isinstance(error, CodedHTTPError):
        code, headers, extensions = error.code, error.headers, error.extensions
    else:
        code, headers, extensions = _CODES.get(error.status_code, "BAD_REQUEST"), {}, {}
    return error_json(error.status_code, code, error.reason, headers=headers, **extensions)
