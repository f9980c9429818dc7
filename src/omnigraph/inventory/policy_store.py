"""Allocation policy versions in the database: the newest is in force, every one is kept."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from omnigraph.db.models import AllocationPolicyRow
from omnigraph.inventory.policy import AllocationPolicy, load_default_policy

__all__ = ["current_policy", "policy_history", "store_policy"]


async def current_policy(
    sessions: async_sessionmaker[AsyncSession],
) -> tuple[int, AllocationPolicy]:
    """The policy in force and its version (0: the built-in default)."""
    async with sessions() as session:
        row = await session.scalar(
            select(AllocationPolicyRow).order_by(AllocationPolicyRow.version.desc()).limit(1)
        )
    if row is None:
        return 0, load_default_policy()
    return row.version, AllocationPolicy.model_validate(row.document)


async def store_policy(
    sessions: async_sessionmaker[AsyncSession],
    policy: AllocationPolicy,
    *,
    actor: str,
    note: str | None,
    now: datetime,
    expected_version: int | None = None,
) -> int | None:
    """Store ``policy`` as the next version; ``None`` when ``expected_version`` is stale."""
    document: dict[str, Any] = policy.model_dump(mode="json")
    try:
        async with sessions() as session, session.begin():
            latest = int(
                await session.scalar(
                    select(func.coalesce(func.max(AllocationPolicyRow.version), 0))
                )
                or 0
            )
            if expected_version is not None and expected_version != latest:
                return None
            session.add(
                AllocationPolicyRow(
                    version=latest + 1, document=document, actor=actor, note=note, created_at=now
                )
            )
            return latest + 1
    except IntegrityError:  # two stores raced for the same version: the other won
        return None


async def policy_history(
    sessions: async_sessionmaker[AsyncSession], limit: int = 50
) -> list[AllocationPolicyRow]:
    async with sessions() as session:
        return list(
            await session.scalars(
                select(AllocationPolicyRow)
                .order_by(AllocationPolicyRow.version.desc())
                .limit(limit)
            )
        )
