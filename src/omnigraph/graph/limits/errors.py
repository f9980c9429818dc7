"""Limit refusals that graphql-core words as plain messages, given their own code or trimmed.

graphql-core stops the lexer at the token limit with a syntax error, so the limit is recognised
by its wording; and its "Did you mean ...?" hints name fields a production schema keeps to
itself (introspection is off there), so production strips them from every message.
"""

from __future__ import annotations

import re

from graphql import GraphQLError

__all__ = ["code_token_limit", "strip_suggestions"]

_TOKENS = re.compile(r"Document contains more than (\d+) tokens")
_SUGGESTION = re.compile(r"\s*Did you mean .*$", re.DOTALL)


def code_token_limit(error: GraphQLError) -> None:
    """``TOO_MANY_TOKENS`` (with ``maxTokens``) for a document the lexer gave up on."""
    match = _TOKENS.search(error.message)
    if match is not None and error.original_error is None:
        error.extensions = {
            **(error.extensions or {}),
            "code": "TOO_MANY_TOKENS",
            "maxTokens": int(match.group(1)),
        }


def strip_suggestions(error: GraphQLError) -> None:
    """Drop graphql-core's "Did you mean ...?" hint, which names fields and types."""
    error.message = _SUGGESTION.sub("", error.message)
