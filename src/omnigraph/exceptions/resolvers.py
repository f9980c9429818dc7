"""Exception queries over omnigraph's own store, with keyset pagination."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import InstrumentedAttribute

from omnigraph.core.errors import InvalidCursor
from omnigraph.core.ids import decode_global_id
from omnigraph.core.sources import SourceKind
from omnigraph.db.models import (
    ExceptionEventRow,
    ExceptionRow,
    OutboxCommandRow,
)
from omnigraph.graph.context import RequestContext
from omnigraph.graph.loaders import RowLoader, RowsLoader, SourceKey
from omnigraph.graph.pagination import check_first, decode_cursor, encode_cursor
from omnigraph.runtime.services import Services

__all__ = [
    "EXCEPTION_CURSOR",
    "ExceptionLoaders",
    "ExceptionQueryFilter",
    "exception_by_id",
    "exception_key",
    "list_exceptions",
]

EXCEPTION_CURSOR = "exceptions"


class ExceptionLoaders:
    """One request's loaders of exceptions, their history and their commands."""

    def __init__(self, services: Services) -> None:
        sessions = services.sessions
        self.by_id = RowLoader(
            sessions, lambda ids: select(ExceptionRow).where(ExceptionRow.id.in_(ids)), _id
        )
        # ``(storefront source, order ref)`` -> exceptions about that order, newest first
        self.by_order = RowsLoader(sessions, _about_orders, _order_key)
        self.history = RowsLoader(
            sessions, _trail(ExceptionEventRow, ExceptionEventRow.id), _exception_id
        )
        self.commands = RowsLoader(
            sessions, _trail(OutboxCommandRow, OutboxCommandRow.created_at), _exception_id
        )


def _about_orders(keys: Sequence[SourceKey]) -> Select[ExceptionRow]:
    return (
        select(ExceptionRow)
        .where(ExceptionRow.order_ref.in_(sorted({ref for _, ref in keys})))
        .order_by(ExceptionRow.detected_at.desc(), ExceptionRow.id)
    )


_Trail = TypeVar("_Trail", ExceptionEventRow, OutboxCommandRow)


def _trail(
    row: type[_Trail], order: InstrumentedAttribute[Any]
) -> Callable[[Sequence[str]], Select[_Trail]]:
    """What the exceptions ``ids`` left behind of ``row`` (events, commands), in ``order``."""
    return lambda ids: select(row).where(row.exception_id.in_(ids)).order_by(order)


def _id(row: ExceptionRow) -> str:
    return row.id


def _order_key(row: ExceptionRow) -> SourceKey:
    return (row.order_source or "", row.order_ref or "")


def _exception_id(row: ExceptionEventRow | OutboxCommandRow) -> str:
    return row.exception_id


@dataclass(frozen=True, slots=True)
class ExceptionQueryFilter:
    kinds: list[str] | None = None
    statuses: list[str] | None = None
    owner_kind: SourceKind | None = None
    owner_source: str | None = None
    opened_before: datetime | None = None

    def apply(self, query: Select[ExceptionRow]) -> Select[ExceptionRow]:
        if self.kinds:
            query = query.where(ExceptionRow.kind.in_(self.kinds))
        if self.statuses:
            query = query.where(ExceptionRow.status.in_(self.statuses))
        if self.owner_kind is not None:
            query = query.where(ExceptionRow.owner_kind == self.owner_kind.value)
        if self.owner_source:
            query = query.where(ExceptionRow.owner_source == self.owner_source)
        if self.opened_before is not None:
            query = query.where(ExceptionRow.detected_at < self.opened_before)
        return query


async def list_exceptions(
    ctx: RequestContext, *, first: int, after: str | None, filter: ExceptionQueryFilter
) -> tuple[list[tuple[ExceptionRow, str]], bool]:
    """Newest first; the cursor is the (detectedAt, id) of the last row seen."""
    check_first(first, ctx.services.settings.limits.max_page_size)
    query = filter.apply(select(ExceptionRow))
    if after:
        payload = decode_cursor(after, EXCEPTION_CURSOR)
        try:
            at = datetime.fromisoformat(payload["at"])
            row_id = str(payload["id"])
        except (KeyError, TypeError, ValueError):
            raise InvalidCursor(f"{after!r} is not a valid cursor", cursor=after) from None
        query = query.where(
            or_(
                ExceptionRow.detected_at < at,
                and_(ExceptionRow.detected_at == at, ExceptionRow.id > row_id),
            )
        )
    query = query.order_by(ExceptionRow.detected_at.desc(), ExceptionRow.id).limit(first + 1)
    async with ctx.services.sessions() as session:
        rows = list(await session.scalars(query))
    page = [
        (row, encode_cursor(EXCEPTION_CURSOR, {"at": row.detected_at.isoformat(), "id": row.id}))
        for row in rows[:first]
    ]
    return page, len(rows) > first


def exception_key(global_id: str) -> str:
    """The exception's row id from an ``Exception`` global id."""
    _, parts = decode_global_id(global_id, expected_type="Exception")
    return parts[0]


async def exception_by_id(ctx: RequestContext, global_id: str) -> ExceptionRow | None:
    return await ctx.loaders(ExceptionLoaders).by_id.load(exception_key(global_id))
