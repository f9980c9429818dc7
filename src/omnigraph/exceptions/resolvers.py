"""Exception queries over omnigraph's own store, with keyset pagination."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, and_, or_, select

from omnigraph.core.errors import InvalidCursor
from omnigraph.core.sources import SourceKind
from omnigraph.db.models import ExceptionRow
from omnigraph.graph.context import RequestContext
from omnigraph.graph.pagination import check_first, decode_cursor, encode_cursor

__all__ = ["EXCEPTION_CURSOR", "ExceptionQueryFilter", "list_exceptions"]

EXCEPTION_CURSOR = "exceptions"


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
    check_first(first, ctx.services.settings.max_page_size)
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
