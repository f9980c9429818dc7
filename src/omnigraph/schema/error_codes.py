"""Give every error a stable ``extensions.code``, and add degraded-source notices to ``errors``."""

from __future__ import annotations

from collections.abc import Iterator

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from omnigraph.errors import OmnigraphError

__all__ = ["ErrorCodes"]


class ErrorCodes(SchemaExtension):
    """Copies :class:`OmnigraphError` codes onto GraphQL errors; adds the request's degradations.

    Validation failures get ``GRAPHQL_VALIDATION_FAILED`` and parse failures
    ``GRAPHQL_PARSE_FAILED``, the codes GraphQL clients already know.
    """

    def on_execute(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        context = self.execution_context.context
        degraded: list[GraphQLError] = list(getattr(context, "degraded", []) or [])
        if result is None:
            return
        if degraded:
            result.errors = [*(result.errors or []), *degraded]
        for error in result.errors or []:
            _code(error)

    def on_validate(self) -> Iterator[None]:
        yield
        for error in self.execution_context.pre_execution_errors or []:
            _code(error, default="GRAPHQL_VALIDATION_FAILED")

    def on_parse(self) -> Iterator[None]:
        yield
        for error in self.execution_context.pre_execution_errors or []:
            _code(error, default="GRAPHQL_PARSE_FAILED")


def _code(error: GraphQLError, default: str | None = None) -> None:
    original = error.original_error
    extensions = dict(error.extensions or {})
    if isinstance(original, OmnigraphError):
        extensions.update(original.extensions)
    elif "code" not in extensions:
        extensions["code"] = default or "INTERNAL_SERVER_ERROR"
    error.extensions = extensions
