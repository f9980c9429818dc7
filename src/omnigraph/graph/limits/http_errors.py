"""Refusals at the HTTP layer, in the shape GraphQL clients already read errors from."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cross_web import HTTPException
from starlette.responses import JSONResponse

from omnigraph.core.http_errors import STATUS_CODES, error_json

__all__ = ["CodedHTTPError", "error_response"]


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


def error_response(error: HTTPException, *, media_type: str | None = None) -> JSONResponse:
    """``{"errors": [{"message", "extensions": {"code", ...}}]}`` with the error's status, as
    ``media_type`` (``application/json`` unless told)."""
    if isinstance(error, CodedHTTPError):
        code, headers, extensions = error.code, error.headers, error.extensions
    else:
        code, headers, extensions = STATUS_CODES.get(error.status_code, "BAD_REQUEST"), {}, {}
    return error_json(
        error.status_code, code, error.reason, headers=headers, media_type=media_type, **extensions
    )
