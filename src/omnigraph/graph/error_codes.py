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
    raised before execution ``GRAPHQL_VALIDATION_FAILED``, the codes GraphQL clients know. A
    value the client sent that its type refused is the client's mistake, never an internal
    error: a variable's (coerced before execution, the type's refusal its original error) is
    ``BAD_USER_INPUT`` unless the type gave a code, a literal's a validation failure. What is
    left (a resolver's error, a step before execution that broke) is
    ``INTERNAL_SERVER_ERROR``, masked in production.
    """
    original = error.original_error
    extensions = dict(error.extensions or {})
    if isinstance(original, OmnigraphError):
        extensions.update(original.extensions)
    elif "code" not in extensions:
        extensions["code"] = _code_of(error)
    error.extensions = extensions


def _code_of(error: GraphQLError) -> str:
    original = error.original_error
    if error.path is not None:  # raised while resolving a field
        return "INTERNAL_SERVER_ERROR"
    if original is None:
        if error.message.startswith("Syntax Error"):
            return "GRAPHQL_PARSE_FAILED"
        return "GRAPHQL_VALIDATION_FAILED"
    if isinstance(original, GraphQLError):  # a variable's value its type refused
        code = (original.extensions or {}).get("code")
        return code if isinstance(code, str) else "BAD_USER_INPUT"
    if error.nodes:  # a literal of the document its scalar refused, reported by validation
        return "GRAPHQL_VALIDATION_FAILED"
    return "INTERNAL_SERVER_ERROR"  # a step before execution raised
