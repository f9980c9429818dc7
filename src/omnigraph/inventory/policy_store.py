"""Allocation policy versions in the database: the newest is in force, every one is kept.

Every availability read asks which policy is in force, so the parsed policies are remembered:
the built-in default once per process, a stored version once per database engine. Each read
still asks the database for the newest version (one indexed read of two columns:
:data:`NEWEST_POLICY`, or those two columns in the caller's own statement, handed to
:func:`policy_of_version`), so a policy stored by any replica is in force on every replica from
its next request.
"""

from __future__ import annotations

import functools
import weakref
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from omnigraph.db.models import AllocationPolicyRow
from omnigraph.inventory.policy import AllocationPolicy, load_default_policy

__all__ = [
    "NEWEST_POLICY",
    "current_policy",
    "policy_history",
    "policy_in_force",
    "policy_of_version",
    "store_policy",
]


async def current_policy(
    sessions: async_sessionmaker[AsyncSession],
) -> tuple[int, AllocationPolicy]:
    """The policy in force and its version (0: the built-in default)."""
    async with sessions() as session:
        return await policy_in_force(session)


# the newest stored version and when it was stored: one indexed read of two columns
NEWEST_POLICY = (
    select(AllocationPolicyRow.version, AllocationPolicyRow.created_at)
    .order_by(AllocationPolicyRow.version.desc())
    .limit(1)
)


async def policy_in_force(session: AsyncSession) -> tuple[int, AllocationPolicy]:
    """:func:`current_policy` read in ``session``, for a caller that reads more with it."""
    newest = (await session.execute(NEWEST_POLICY)).first()
    if newest is None:
        return 0, _default_policy()
    return await policy_of_version(session, newest.version, newest.created_at)


async def policy_of_version(
    session: AsyncSession, version: int | None, created_at: datetime | None
) -> tuple[int, AllocationPolicy]:
    """The policy stored as ``version`` at ``created_at`` (the newest, read by the caller with
    :data:`NEWEST_POLICY`'s columns; ``None``: nothing stored, the built-in default), parsed
    once per database while it stays the newest."""
    if version is None or created_at is None:
        return 0, _default_policy()
    # versions are never rewritten; created_at tells a database rebuilt from scratch apart
    key = (version, created_at)
    database = session.bind
    remembered = _stored.get(database) if database is not None else None
    if remembered is not None and remembered[0] == key:
        return version, remembered[1]
    document = await session.scalar(
        select(AllocationPolicyRow.document).where(AllocationPolicyRow.version == version)
    )
    policy = AllocationPolicy.model_validate(document)
    if database is not None:
        _stored[database] = (key, policy)
    return version, policy


@functools.cache
def _default_policy() -> AllocationPolicy:
    # the file ships with the package, so it is read and validated once; policies are
    # frozen models, so one parsed copy serves every request
    return load_default_policy()


# per database (its engine): the newest stored version seen and its parsed policy
_stored: weakref.WeakKeyDictionary[
    AsyncEngine | AsyncConnection, tuple[tuple[int, datetime], AllocationPolicy]
] = weakref.WeakKeyDictionary()


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
