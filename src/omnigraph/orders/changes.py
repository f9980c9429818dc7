"""What each system's change feed said about an order, kept for the order's timeline.

The disagreement detector reads the storefronts', ERPs' and WMSs' feeds already (to check the
orders a change touched); each event it reads that is about an order is kept here, once however
often an at-least-once feed re-sends it. An event without an instant with an offset is not kept:
the timeline places every entry in time.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from omnigraph.db.models import OrderChangeRow
from omnigraph.db.upsert import insert_for

__all__ = ["keep_order_changes", "order_change"]


def order_change(source: str, event: dict[str, Any], order_ref: str) -> dict[str, Any] | None:
    """The row of one feed ``event`` about ``order_ref``, or None when it cannot be placed."""
    event_id, occurred = event.get("id"), event.get("occurredAt")
    if not isinstance(event_id, str) or not isinstance(occurred, str):
        return None
    try:
        at = datetime.fromisoformat(occurred.replace("Z", "+00:00"))
    except ValueError:
        return None
    if at.tzinfo is None:
        return None
    return {
        "source": source,
        "event_id": event_id[:128],
        "order_ref": order_ref[:128],
        "event_type": str(event.get("type") or "")[:64],
        "record_type": str(event.get("recordType") or "")[:64],
        "record_id": str(event.get("recordId") or "")[:128],
        "occurred_at": at,
    }


async def keep_order_changes(
    sessions: async_sessionmaker[AsyncSession], rows: Iterable[dict[str, Any]]
) -> None:
    """Keep ``rows`` (:func:`order_change`), each event once."""
    values = list(rows)
    if not values:
        return
    async with sessions() as session, session.begin():
        insert = insert_for(session)
        for offset in range(0, len(values), 500):
            await session.execute(
                insert(OrderChangeRow)
                .values(values[offset : offset + 500])
                .on_conflict_do_nothing(index_elements=["source", "event_id"])
            )
