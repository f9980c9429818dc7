"""Errors a client can act on, each with a stable ``extensions.code``.

Raised anywhere below the schema; the schema's error-code extension copies ``code`` and
``extensions`` onto the GraphQL error so clients can branch on them without parsing messages.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

__all__ = [
    "ConfigurationError",
    "InvalidCursor",
    "InvalidId",
    "InvalidInput",
    "OmnigraphError",
    "PageSizeOutOfRange",
    "SourceContractViolation",
    "SourceFailure",
    "UpstreamUnavailable",
]


class OmnigraphError(Exception):
    """Base for errors that carry a stable machine-readable code."""

    code = "INTERNAL"

    def __init__(self, message: str, **extensions: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extensions: dict[str, Any] = {"code": self.code, **extensions}


class InvalidInput(OmnigraphError):
    code = "BAD_USER_INPUT"


class UnknownSource(InvalidInput):
    """A source name no configured system has; the message lists the known ones."""

    code = "UNKNOWN_SOURCE"


class InvalidId(InvalidInput):
    code = "INVALID_ID"


class InvalidCursor(InvalidInput):
    code = "INVALID_CURSOR"


class PageSizeOutOfRange(InvalidInput):
    code = "PAGE_SIZE_OUT_OF_RANGE"


class SourceFailure(OmnigraphError):
    """A source system gave no answer omnigraph can use; ``source`` names it."""

    # what became of the source, as the message says it
    failure = "failed"

    def __init__(self, source: str, detail: str) -> None:
        super().__init__(f"source {source!r} {self.failure}: {detail}", source=source)
        self.source = source


class UpstreamUnavailable(SourceFailure):
    """A source system could not answer (down, timing out, or answering 5xx)."""

    code = "UPSTREAM_UNAVAILABLE"
    failure = "is unavailable"


class SourceContractViolation(SourceFailure):
    """A source answered, but not in the shape the source contract promises."""

    code = "UPSTREAM_CONTRACT_VIOLATION"
    failure = "broke the source contract"


class ConfigurationError(Exception):
    """Configuration that cannot be used; raised at start-up with a message a person can act on."""

    @classmethod
    def from_validation(cls, what: str, error: ValidationError) -> ConfigurationError:
        """One message naming every bad entry of a data file, by its path in the file."""
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(file)'}: {e['msg']}" for e in error.errors()
        )
        return cls(f"{what}: {problems}")
