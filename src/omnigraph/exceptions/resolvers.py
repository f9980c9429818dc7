"""Exception queries over omnigraph's own store, with keyset pagination."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, and_, or_, select

from omnigraph.core.errors import InvalidCursor
from omnigraph.core.ids import decode_global_id
from omnigraph.core.sources import SourceKind
from omnigraph.db.models import (
    ExceptionEventRow,
    ExceptionRow,
    OutboxCommandRow,
)
from omnigraph.graph.context import RequestContext
from omnigraph.graph.loaders import DatabaseLoader, SourceKey
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


class ExceptionsByIdLoader(DatabaseLoader[str, ExceptionRow | None]):
    async def batch_load_fn(self, ids: Sequence[str]) -> list[ExceptionRow | None]:
        async with self.sessions() as session:
            rows = await session.scalars(select(ExceptionRow).where(ExceptionRow.id.in_(ids)))
            found = {row.id: row for row in rows}
        return [found.get(i) for i in ids]


class ExceptionsByOrderLoader(DatabaseLoader[SourceKey, list[ExceptionRow]]):
    """``(storefront source, order ref)`` -> exceptions about that order, newest first."""

    async def batch_load_fn(self, keys: Sequence[SourceKey]) -> list[list[ExceptionRow]]:
        refs = sorted({ref for _, ref in keys})
        async with self.sessions() as session:
            rows = await session.scalars(
                select(ExceptionRow)
                .where(ExceptionRow.order_ref.in_(refs))
                .order_by(ExceptionRow.detected_at.desc(), ExceptionRow.id)
            )
            grouped: dict[SourceKey, list[ExceptionRow]] = defaultdict(list)
            for row in rows:
                grouped[(row.order_source or "", row.order_ref or "")].append(row)
        return [grouped.get(key, []) for key in keys]


class ExceptionHistoryLoader(DatabaseLoader[str, list[ExceptionEventRow]]):
    async def batch_load_fn(self, ids: Sequence[str]) -> list[list[ExceptionEventRow]]:
        async with self.sessions() as session:
            rows = await session.scalars(
                select(ExceptionEventRow)
                .where(ExceptionEventRow.exception_id.in_(ids))
                .order_by(ExceptionEventRow.id)
            )
            grouped: dict[str, list[ExceptionEventRow]] = defaultdict(list)
            for row in rows:
                grouped[row.exception_id].append(row)
        return [grouped.get(i, []) for i in ids]


class CommandsByExceptionLoader(DatabaseLoader[str, list[OutboxCommandRow]]):
    async def batch_load_fn(self, ids: Sequence[str]) -> list[list[OutboxCommandRow]]:
        async with self.sessions() as session:
            rows = await session.scalars(
                select(OutboxCommandRow)
                .where(OutboxCommandRow.exception_id.in_(ids))
                .order_by(OutboxCommandRow.created_at)
            )
            grouped: dict[str, list[OutboxCommandRow]] = defaultdict(list)
            for row in rows:
                grouped[row.exception_id].append(row)
        return [grouped.get(i, []) for i in ids]


class ExceptionLoaders:
    """One request's loaders of exceptions, their history and their commands."""

    def __init__(self, services: Services) -> None:
        sessions = services.sessions
        self.by_id = ExceptionsByIdLoader(sessions)
        self.by_order = ExceptionsByOrderLoader(sessions)
        self.history = ExceptionHistoryLoader(sessions)
        self.commands = CommandsByExceptionLoader(sessions)


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
