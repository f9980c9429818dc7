"""Scalars read the same way wherever the schema takes one.

``DateTime`` replaces strawberry's, which takes a date and time without a UTC offset: such a
moment is ambiguous, and compared with the aware moments everything else holds it raised an
internal error in each resolver that took one. Here it is the client's mistake, refused while
the request is read (before any resolver runs) with ``BAD_USER_INPUT``, for every argument and
input field of type ``DateTime`` at once. Answers are written as before (``isoformat``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NewType

import strawberry
from graphql import GraphQLError

__all__ = ["DATETIME", "SCALAR_OVERRIDES", "UNSIGNED_INT64", "UnsignedInt64", "parse_datetime"]

DATETIME_DESCRIPTION = (
    "A moment in ISO 8601 with its UTC offset: 2026-11-20T10:00:00Z or"
    " 2026-11-20T11:00:00+01:00 (without an offset it is refused: BAD_USER_INPUT)."
)
_SHOWN = 40  # characters of a refused value repeated in the message


def _refuse(message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": "BAD_USER_INPUT"})


def parse_datetime(value: object) -> datetime:
    """An aware ``datetime`` from ISO 8601 text with a UTC offset.

    >>> parse_datetime("2026-11-20T10:00:00Z").isoformat()
    '2026-11-20T10:00:00+00:00'
    >>> parse_datetime("2026-11-20T10:00:00")
    Traceback (most recent call last):
    ...
    graphql.error.graphql_error.GraphQLError: DateTime '2026-11-20T10:00:00' has no UTC offset: \
add one, as in 2026-11-20T10:00:00Z or 2026-11-20T11:00:00+01:00
    """
    if not isinstance(value, str):
        raise _refuse(f"DateTime is ISO 8601 text, not {type(value).__name__}")
    shown = value if len(value) <= _SHOWN else value[:_SHOWN] + "..."
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise _refuse(f"DateTime {shown!r} is not an ISO 8601 date and time") from None
    if moment.utcoffset() is None:
        raise _refuse(
            f"DateTime {shown!r} has no UTC offset: add one, as in 2026-11-20T10:00:00Z or"
            " 2026-11-20T11:00:00+01:00"
        )
    return moment


def _serialize(value: Any) -> str:
    return str(value.isoformat())


DATETIME = strawberry.scalar(
    name="DateTime",
    description=DATETIME_DESCRIPTION,
    serialize=_serialize,
    parse_value=parse_datetime,
)
# A count or size past GraphQL's 32-bit Int (a bulk export's rows and bytes), as Shopify
# writes one: a string of decimal digits, which no JSON parser rounds.
UnsignedInt64 = NewType("UnsignedInt64", int)
UNSIGNED_INT64 = strawberry.scalar(
    name="UnsignedInt64",
    description="A count or a size in bytes up to 2^64 - 1, written as a string of decimal"
    " digits (a JSON number loses precision past 2^53).",
    serialize=str,
    parse_value=int,
)
# for the schema's ``scalar_overrides``: every ``datetime`` annotation is this scalar, and every
# ``UnsignedInt64`` that one
SCALAR_OVERRIDES: dict[object, Any] = {datetime: DATETIME, UnsignedInt64: UNSIGNED_INT64}
