"""The current disagreements, kept: what the disagreement detector last found the systems
disputing, per order and field, so that listing them (the console's system map) reads one table
instead of working out the truth of every order from every system.

Each check of an order (a full scan, or following the change feeds) replaces what is kept about
it: a field still disputed keeps its first sighting and moves its last, a new one is added, one
the systems agree on again is removed. A full scan that read a storefront to its end also
removes what is kept about orders that storefront no longer lists.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from omnigraph.core.provenance import Claim, Fact
from omnigraph.core.sources import SourceKind
from omnigraph.db.models import CurrentDisagreementRow

__all__ = ["canonical_field", "claim_from_json", "forget_unlisted", "keep_checked"]


def canonical_field(field: str) -> str:
    """``field`` without its line index: ``lines[SKU-1].unitPrice`` -> ``lines.unitPrice``
    (a SKU may hold dots and brackets: the name after the last dot is the line's field)."""
    if field.startswith("lines["):
        return "lines." + field.rsplit(".", 1)[1]
    return field


def _claim_json(claim: Claim) -> dict[str, Any]:
    return {
        "source": claim.source,
        "sourceKind": claim.source_kind.value,
        "recordRef": claim.record_ref,
        "asOf": claim.as_of.isoformat(),
        "value": claim.value,
    }


def claim_from_json(data: Mapping[str, Any]) -> Claim:
    """A claim as :func:`keep_checked` kept it."""
    return Claim(
        source=str(data["source"]),
        source_kind=SourceKind(data["sourceKind"]),
        record_ref=str(data["recordRef"]),
        as_of=datetime.fromisoformat(str(data["asOf"])),
        value=str(data["value"]),
    )


def _claims(fact: Fact) -> dict[str, Any]:
    return {
        "authoritative": _claim_json(fact.served),
        "others": [_claim_json(c) for c in fact.conflicting],
    }


async def keep_checked(
    sessions: async_sessionmaker[AsyncSession],
    source: str,
    checked: Mapping[str, Sequence[Fact]],
    now: datetime,
) -> None:
    """Replace what is kept about the orders of storefront ``source`` just checked: ``checked``
    maps each order ref to the facts its systems dispute now (empty: they agree)."""
    if not checked:
        return
    refs = list(checked)
    async with sessions() as session, session.begin():
        kept: dict[tuple[str, str], CurrentDisagreementRow] = {}
        for offset in range(0, len(refs), 500):
            rows = await session.scalars(
                select(CurrentDisagreementRow).where(
                    CurrentDisagreementRow.order_source == source,
                    CurrentDisagreementRow.order_ref.in_(refs[offset : offset + 500]),
                )
            )
            kept.update(((row.order_ref, row.field), row) for row in rows)
        for ref, facts in checked.items():
            for fact in facts:
                row = kept.pop((ref, fact.field), None)
                if row is None:
                    session.add(
                        CurrentDisagreementRow(
                            order_source=source,
                            order_ref=ref,
                            field=fact.field,
                            canonical_field=canonical_field(fact.field),
                            claims=_claims(fact),
                            first_seen_at=now,
                            last_seen_at=now,
                        )
                    )
                else:
                    row.claims, row.last_seen_at = _claims(fact), max(row.last_seen_at, now)
        for row in kept.values():  # the systems agree again
            await session.delete(row)


async def forget_unlisted(
    sessions: async_sessionmaker[AsyncSession], source: str, listed: set[str]
) -> None:
    """Remove what is kept about orders of storefront ``source`` outside ``listed`` (every
    order a scan read to the end of its listing found)."""
    async with sessions() as session, session.begin():
        refs = set(
            await session.scalars(
                select(CurrentDisagreementRow.order_ref)
                .where(CurrentDisagreementRow.order_source == source)
                .distinct()
            )
        )
        gone = sorted(refs - listed)
        for offset in range(0, len(gone), 500):
            await session.execute(
                delete(CurrentDisagreementRow).where(
                    CurrentDisagreementRow.order_source == source,
                    CurrentDisagreementRow.order_ref.in_(gone[offset : offset + 500]),
                )
            )
