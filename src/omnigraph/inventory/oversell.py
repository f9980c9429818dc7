"""Oversell risk: a channel was told it may sell more than the ledger now allows.

Channels record what they publish by asking ``availability(..., publish: true)``; each check
compares those figures with what the ledger allows now and raises OVERSELL_RISK (owned by the
WMS per the catalogue) for every SKU, location and channel where the published figure is higher.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from omnigraph.db.models import PublishedAvailabilityRow
from omnigraph.exceptions.catalogue import ExceptionCatalogue, ExceptionKind
from omnigraph.exceptions.intake import ExceptionReport, take_in
from omnigraph.inventory.availability import Availability

__all__ = ["oversell_risks", "record_published"]


async def record_published(
    sessions: async_sessionmaker[AsyncSession], answers: Sequence[Availability], now: datetime
) -> None:
    """Remember what was published to each channel (the latest figure per position wins)."""
    if not answers:
        return
    rows = [
        {
            "sku": a.sku,
            "location_id": a.location_id,
            "channel": a.channel,
            "quantity": a.available,
            "published_at": now,
        }
        for a in answers
    ]
    async with sessions() as session, session.begin():
        dialect = session.get_bind().dialect.name
        insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
        statement = insert(PublishedAvailabilityRow).values(rows)
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=["sku", "location_id", "channel"],
                set_={
                    "quantity": statement.excluded.quantity,
                    "published_at": statement.excluded.published_at,
                },
            )
        )


async def oversell_risks(
    sessions: async_sessionmaker[AsyncSession],
    catalogue: ExceptionCatalogue,
    current: Sequence[Availability],
    *,
    owner_source: str,
    now: datetime,
) -> int:
    """Raise OVERSELL_RISK where a published figure exceeds ``current``; return how many new."""
    allowed = {(a.sku, a.location_id, a.channel): a.available for a in current}
    if not allowed:
        return 0
    async with sessions() as session:
        published = list(
            await session.scalars(
                select(PublishedAvailabilityRow).where(
                    PublishedAvailabilityRow.sku.in_({key[0] for key in allowed})
                )
            )
        )
    raised = 0
    for row in published:
        now_allowed = allowed.get((row.sku, row.location_id, row.channel))
        if now_allowed is None or row.quantity <= now_allowed:
            continue
        report = ExceptionReport(
            kind=ExceptionKind.OVERSELL_RISK,
            dedupe_key=(
                f"oversell:{row.channel}:{row.sku}@{row.location_id}:{row.published_at.isoformat()}"
            ),
            subject=f"{row.sku}@{row.location_id}",
            subject_type="sku@location",
            summary=(
                f"{row.channel} was told {row.quantity} x {row.sku} at {row.location_id}"
                f" ({row.published_at:%Y-%m-%d %H:%M}); the ledger now allows {now_allowed}"
            ),
            detected_at=now,
            reported_by="omnigraph:oversell-monitor",
            owner_source=owner_source,
            details={
                "sku": row.sku,
                "locationId": row.location_id,
                "channel": row.channel,
                "published": row.quantity,
                "allowed": now_allowed,
            },
        )
        _, created = await take_in(sessions, catalogue, report)
        raised += int(created)
    return raised
