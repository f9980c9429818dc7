"""Oversell risk: a channel was told it may sell more than the ledger now allows.

Channels record what they publish by asking ``availability(..., publish: true)``; each check
compares what each channel may still sell of its published figure (the figure less the units
that channel reserved there since publishing it: its own sales are not a risk) with what the
ledger allows now, and raises OVERSELL_RISK (owned by the WMS per the catalogue) for every SKU,
location and channel where the channel may still sell more.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from omnigraph.db.models import PublishedAvailabilityRow, ReservationRow
from omnigraph.db.upsert import insert_for
from omnigraph.exceptions.catalogue import ExceptionCatalogue, ExceptionKind
from omnigraph.exceptions.intake import ExceptionReport, take_in
from omnigraph.inventory.availability import Availability
from omnigraph.inventory.reservations import ReservationStatus

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
            "channel": a.terms.channel,
            "quantity": a.available,
            "published_at": now,
        }
        for a in answers
    ]
    async with sessions() as session, session.begin():
        insert = insert_for(session)
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
    allowed = {(a.sku, a.location_id, a.terms.channel): a.available for a in current}
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
        sold = await _reserved_since(session, published, now)
    raised = 0
    for row in published:
        now_allowed = allowed.get((row.sku, row.location_id, row.channel))
        if now_allowed is None:
            continue
        still = row.quantity - sold.get((row.sku, row.location_id, row.channel), 0)
        if still <= now_allowed:
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
                f" ({row.published_at:%Y-%m-%d %H:%M}) and may still sell {still} of them;"
                f" the ledger now allows {now_allowed}"
            ),
            detected_at=now,
            reported_by="omnigraph:oversell-monitor",
            owner_source=owner_source,
            details={
                "sku": row.sku,
                "locationId": row.location_id,
                "channel": row.channel,
                "published": row.quantity,
                "stillSellable": still,
                "allowed": now_allowed,
                "unavailable": {
                    "fulfilmentOrderId": "a risk comes before any order: no line is oversold yet",
                    "quantity": "a risk comes before any order: no line is oversold yet",
                },
            },
        )
        _, created = await take_in(sessions, catalogue, report)
        raised += int(created)
    return raised


async def _reserved_since(
    session: AsyncSession, published: Sequence[PublishedAvailabilityRow], now: datetime
) -> dict[tuple[str, str, str], int]:
    """Units each channel reserved at each position since it published there: committed ones
    (sold), and live ones (held for a cart); released or lapsed holds are back on sale."""
    if not published:
        return {}
    since = {(row.sku, row.location_id, row.channel): row.published_at for row in published}
    columns = ReservationRow
    rows = await session.execute(
        select(columns.sku, columns.location_id, columns.channel, columns.created_at)
        .add_columns(columns.quantity)
        .where(
            columns.sku.in_({key[0] for key in since}),
            columns.created_at >= min(since.values()),
            or_(
                columns.status == ReservationStatus.COMMITTED,
                (columns.status == ReservationStatus.ACTIVE) & (columns.expires_at > now),
            ),
        )
    )
    sold: dict[tuple[str, str, str], int] = {}
    for sku, location_id, channel, created_at, quantity in rows:
        key = (sku, location_id, channel)
        published_at = since.get(key)
        if published_at is not None and created_at >= published_at:
            sold[key] = sold.get(key, 0) + quantity
    return sold
