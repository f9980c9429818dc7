"""Validation verdicts remembered per document text, so a repeated operation is validated once.

strawberry's ``ValidationCache`` keys its cache by the parsed document, and graphql-core's AST
nodes are frozen dataclasses whose hash walks the whole tree on every lookup: the cache costs
about what validating does. Here the key is the query text (hashed by ``str`` in C) and the
validation rules in force, which ``QueryLimits`` builds once per process so they are the same
objects on every request.
"""

from __future__ import annotations

from collections.abc import Iterator

from cachetools import LRUCache
from graphql import ASTValidationRule, GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document

__all__ = ["CachedValidation", "ValidationVerdicts"]

_Key = tuple[str, tuple[type[ASTValidationRule], ...]]


class ValidationVerdicts:
    """The errors each recently seen document text validated to (an empty list: valid).

    >>> verdicts = ValidationVerdicts(maxsize=2)
    >>> len(verdicts)
    0
    """

    def __init__(self, maxsize: int = 512) -> None:
        # Bounded: unique texts from a hostile client push out old entries, never grow memory.
        self._errors: LRUCache[_Key, list[GraphQLError]] = LRUCache(maxsize=maxsize)

    def __len__(self) -> int:
        return len(self._errors)

    def extension(self) -> CachedValidation:
        """A fresh extension for one operation, sharing these verdicts."""
        return CachedValidation(self)

    def lookup(self, key: _Key) -> list[GraphQLError] | None:
        return self._errors.get(key)

    def remember(self, key: _Key, errors: list[GraphQLError]) -> None:
        self._errors[key] = errors


class CachedValidation(SchemaExtension):
    """Validates an operation's document once per text and rule set, then reuses the verdict."""

    def __init__(self, verdicts: ValidationVerdicts) -> None:
        self.verdicts = verdicts

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if context.query is not None and document is not None and context.validation_rules:
            key = (context.query, context.validation_rules)
            errors = self.verdicts.lookup(key)
            if errors is None:
                errors = validate_document(context.schema._schema, document, key[1])
                self.verdicts.remember(key, errors)
            context.pre_execution_errors = errors
        yield
