"""Stable ``extensions.code`` on every error, and degraded-source notices in ``errors``."""

from __future__ import annotations

from collections.abc import Iterator

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from omnigraph.core.errors import OmnigraphError

__all__ = ["ErrorCodes", "assign_code"]


class ErrorCodes(SchemaExtension):
    """Adds the request's degraded-source notices to ``errors`` after execution."""

    def on_execute(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        degraded: list[GraphQLError] = list(
            getattr(self.execution_context.context, "degraded", None) or []
        )
        if result is not None and degraded:
            result.errors = [*(result.errors or []), *degraded]


def assign_code(error: GraphQLError) -> None:
    """Give ``error`` a stable ``extensions.code``.

    Coded domain errors keep theirs; syntax errors get ``GRAPHQL_PARSE_FAILED`` and other errors
    raised before execution ``GRAPHQL_VALIDATION_FAILED``, the codes GraphQL clients know.
    """
    original = error.original_error
    extensions = dict(error.extensions or {})
    if isinstance(original, OmnigraphError):
        extensions.update(original.extensions)
    elif "code" not in extensions:
        if original is not None:
            extensions["code"] = "INTERNAL_SERVER_ERROR"
        elif error.message.startswith("Syntax Error"):
            extensions["code"] = "GRAPHQL_PARSE_FAILED"
        elif error.path is None:
            extensions["code"] = "GRAPHQL_VALIDATION_FAILED"
        else:
            extensions["code"] = "INTERNAL_SERVER_ERROR"
    error.extensions = extensions
