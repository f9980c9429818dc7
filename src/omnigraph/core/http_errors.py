"""Refusals of omnigraph's own HTTP endpoints, in the shape GraphQL clients read errors from.

``{"errors": [{"message": "...", "extensions": {"code": "STABLE_CODE", ...}}]}`` for
``/graphql``'s refusals before GraphQL runs, ``/reports``, the webhooks and ``/examples``
alike, so a client (or an operator with ``curl``) reads one shape everywhere. The demo systems
answer in their own contract's shape (``docs/sources/README.md``), not this one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.responses import JSONResponse

__all__ = ["error_body", "error_json"]


def error_body(code: str, message: str, **extensions: Any) -> dict[str, Any]:
    """``{"errors": [{"message", "extensions": {"code", ...}}]}``."""
    return {"errors": [{"message": message, "extensions": {"code": code, **extensions}}]}


def error_json(
    status: int,
    code: str,
    message: str,
    *,
    headers: Mapping[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    """:func:`error_body` with the HTTP ``status`` (and headers such as ``Retry-After``)."""
    return JSONResponse(
        error_body(code, message, **extensions), status_code=status, headers=headers
    )
