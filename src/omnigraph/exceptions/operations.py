"""The operations view: what is open (by kind, owner and age) and how fast things get resolved.

These are the numbers that show whether manual drag is shrinking; counting happens in the
database, percentiles over the period's resolution times in Python.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from omnigraph.db.models import ExceptionRow
from omnigraph.exceptions.lifecycle import OPEN_STATUSES, ExceptionStatus

__all__ = ["AGE_BUCKETS", "OpenGroup", "OperationsView", "ResolutionTimes", "operations_view"]

# (label, lower bound of age); an exception falls in the last bucket whose bound it reached.
AGE_BUCKETS: tuple[tuple[str, timedelta], ...] = (
    ("UNDER_1H", timedelta(0)),
    ("1H_TO_4H", timedelta(hours=1)),
    ("4H_TO_24H", timedelta(hours=4)),
    ("1D_TO_3D", timedelta(days=1)),
    ("OVER_3D", timedelta(days=3)),
)


@dataclass(frozen=True, slots=True)
class OpenGroup:
    kind: str
    owner_kind: str
    owner_source: str
    status: str
    age_bucket: str
    count: int


@dataclass(frozen=True, slots=True)
class ResolutionTimes:
    count: int
    p50_seconds: float | None
    p90_seconds: float | None
    p99_seconds: float | None
    mean_seconds: float | None


@dataclass(frozen=True, slots=True)
class OperationsView:
    as_of: datetime
    open: list[OpenGroup]
    resolved: int
    failed: int
    resolution_times: ResolutionTimes


def percentile(sorted_values: Sequence[float], fraction: float) -> float | None:
    """Nearest-rank percentile: a value that really occurred, never an interpolation."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


async def operations_view(
    sessions: async_sessionmaker[AsyncSession],
    *,
    now: datetime,
    resolved_from: datetime,
    resolved_to: datetime,
) -> OperationsView:
    bucket = case(
        *(
            (ExceptionRow.detected_at <= now - lower, label)
            for label, lower in reversed(AGE_BUCKETS[1:])
        ),
        else_=AGE_BUCKETS[0][0],
    )
    open_query = (
        select(
            ExceptionRow.kind,
            ExceptionRow.owner_kind,
            ExceptionRow.owner_source,
            ExceptionRow.status,
            bucket.label("age_bucket"),
            func.count().label("count"),
        )
        .where(ExceptionRow.status.in_([s.value for s in OPEN_STATUSES]))
        .group_by(
            ExceptionRow.kind,
            ExceptionRow.owner_kind,
            ExceptionRow.owner_source,
            ExceptionRow.status,
            bucket,
        )
        .order_by(ExceptionRow.kind, ExceptionRow.owner_source, ExceptionRow.status)
    )
    in_period = (ExceptionRow.updated_at >= resolved_from) & (ExceptionRow.updated_at < resolved_to)
    async with sessions() as session:
        groups = [
            OpenGroup(kind, owner_kind, owner_source, status, age, int(count))
            for kind, owner_kind, owner_source, status, age, count in await session.execute(
                open_query
            )
        ]
        resolved_rows = list(
            await session.execute(
                select(ExceptionRow.detected_at, ExceptionRow.resolved_at).where(
                    ExceptionRow.status == ExceptionStatus.RESOLVED.value,
                    ExceptionRow.resolved_at >= resolved_from,
                    ExceptionRow.resolved_at < resolved_to,
                )
            )
        )
        failed = await session.scalar(
            select(func.count()).where(
                ExceptionRow.status == ExceptionStatus.RESOLUTION_FAILED.value, in_period
            )
        )
    durations = sorted(
        (resolved - detected).total_seconds()
        for detected, resolved in resolved_rows
        if resolved is not None
    )
    return OperationsView(
        as_of=now,
        open=groups,
        resolved=len(durations),
        failed=int(failed or 0),
        resolution_times=ResolutionTimes(
            count=len(durations),
            p50_seconds=percentile(durations, 0.5),
            p90_seconds=percentile(durations, 0.9),
            p99_seconds=percentile(durations, 0.99),
            mean_seconds=sum(durations) / len(durations) if durations else None,
        ),
    )
